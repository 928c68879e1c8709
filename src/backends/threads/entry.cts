// The file Piscina loads. Piscina tries require() before import(); on Node
// 20.19+ require() of an ES module is allowed, and doing so for this module
// graph can abort the whole process ("v8::Module::IsGraphAsync must be used
// on an instantiated module"). A CommonJS entry that import()s the real
// worker keeps Piscina on the well-trodden path.
import type { WorkerMessage } from './protocol.js';

type Run = (message: WorkerMessage) => unknown;
let run: Run | undefined;
// Loaded as soon as the thread starts, not on its first batch: the load
// overlaps the pool's start-up handshake and whatever the caller does
// before that batch arrives.
const loading = import('./worker.js').then((worker: { default: Run }) => {
  run = worker.default;
  return run;
});
// A failed load is reported by the batches that wait for it, not as an unhandled rejection.
loading.catch(() => {});

function handle(batch: WorkerMessage): unknown {
  if (run !== undefined) return run(batch);
  return loading.then((ready) => ready(batch));
}

export = handle;
