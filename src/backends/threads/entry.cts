// The file Piscina loads. Piscina tries require() before import(); on Node
// 20.19+ require() of an ES module is allowed, and doing so for this module
// graph can abort the whole process ("v8::Module::IsGraphAsync must be used
// on an instantiated module"). A CommonJS entry that import()s the real
// worker keeps Piscina on the well-trodden path.
import type { WorkerMessage } from './protocol.js';

type Run = (message: WorkerMessage) => unknown;
let run: Run | undefined;

function handle(batch: WorkerMessage): unknown {
  if (run !== undefined) return run(batch);
  return import('./worker.js').then((worker: { default: Run }) => {
    run = worker.default;
    return run(batch);
  });
}

export = handle;
