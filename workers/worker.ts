// A pool worker: receive a batch, run it, hand back plain data. It knows
// nothing of the executor; everything it shares with the caller is in
// src/protocol (message shapes) and src/ship (compile and run).
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import type { BatchWire, BatchResultWire, WorkerSetupWire } from '../src/protocol/messages.js';
import { runBatch } from '../src/ship/run-batch.js';
import { prepareResults } from '../src/ship/results.js';
import { reviveReferences } from '../src/store/travel.js';
import { pruneRebuiltCaches } from '../src/store/registry.js';

const setup = workerData as WorkerSetupWire;
const options = { clock: setup.clock, revive: reviveReferences };
const { resultBytes } = setup;

function reply(result: BatchResultWire): unknown {
  if (resultBytes === undefined) return result;
  const transfer = prepareResults(result, resultBytes);
  return transfer.length === 0 ? result : move({ [transferableSymbol]: transfer, [valueSymbol]: result });
}

export default function run(batch: BatchWire): unknown {
  // Values evicted since the last batch (a caller's run ended) leave this thread's caches.
  if (batch.refs) pruneRebuiltCaches();
  const result = runBatch(batch, options);
  return result instanceof Promise ? result.then(reply) : reply(result);
}
