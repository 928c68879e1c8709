// A pool worker: receive a batch, run it, hand back plain data. It knows
// nothing of the executor; everything it shares with the caller is in
// src/protocol (message shapes) and src/ship (compile and run).
import { workerData } from 'piscina';
import type { BatchWire, BatchResultWire, WorkerSetupWire } from '../src/protocol/messages.js';
import { runBatch } from '../src/ship/run-batch.js';
import { reviveReferences } from '../src/store/travel.js';

const setup = workerData as WorkerSetupWire;
const options = { clock: setup.clock, revive: reviveReferences };

export default function run(batch: BatchWire): BatchResultWire | Promise<BatchResultWire> {
  return runBatch(batch, options);
}
