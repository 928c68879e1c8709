// A pool worker: receive a batch, run it, hand back plain data. It knows
// nothing of the executor; everything it shares with the caller is in
// src/protocol (message shapes) and src/ship (compile and run).
import type { BatchWire, BatchResultWire } from '../src/protocol/messages.js';
import { runBatch } from '../src/ship/run-batch.js';

export default function run(batch: BatchWire): BatchResultWire | Promise<BatchResultWire> {
  return runBatch(batch);
}
