import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Backend, BackendCapabilities, Batch, BatchOptions, BatchOutcome } from './backend.js';
import { BatchCancelledError, CANCEL_UNSTARTED } from './backend.js';
import { TaskTimeoutError } from './errors.js';
import { isThenable } from '../core/values.js';


function withTimeout(value: PromiseLike<unknown>, timeout: number, offset: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve(value),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new TaskTimeoutError(undefined, timeout, offset)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs tasks in the calling thread, one after another: `nJobs: 1` and
 * `backend: 'sequential'`. The original functions are called with the original
 * arguments (nothing is cloned). A timeout can only interrupt the wait for an
 * async task; synchronous code in this thread cannot be pre-empted.
 */
export class SequentialBackend implements Backend {
  readonly name = 'sequential';
  readonly concurrency = 1;
  // Arguments are passed as they are, in this thread: nothing to offload.
  readonly capabilities: BackendCapabilities = { sharesMemory: false };

  async runBatch(batch: Batch, options: BatchOptions): Promise<BatchOutcome> {
    // Let timers and abort signals fire between batches.
    await yieldToEventLoop();
    const { signal, timeout } = options;
    if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    const started = performance.now();
    const values: unknown[] = [];
    const errors: { offset: number; error: unknown }[] = [];
    const { local } = batch;
    for (let i = 0; i < local.length; i++) {
      const task = local[i]!;
      try {
        let value = task.fn(...task.args);
        if (isThenable(value)) value = await (timeout === undefined ? value : withTimeout(value, timeout, i));
        values[i] = value;
      } catch (error) {
        if (error instanceof TaskTimeoutError) throw error;
        errors.push({ offset: i, error });
        if (batch.stopOnError) break;
      }
      if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    }
    return { values, errors, durationMs: performance.now() - started };
  }

  async close(): Promise<void> {}
}
