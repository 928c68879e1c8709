// workerpool's worker for the dispatch benchmark.
const workerpool = require('workerpool');

workerpool.worker({
  square(x) {
    return x * x;
  },
});
