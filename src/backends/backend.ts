import type { BatchClockWire, BatchWire } from '../core/wire.js';
import type { Delayed } from '../task/delayed.js';
import { SkeinError, registerErrorClass } from '../core/errors.js';

/** A batch of consecutive tasks handed to a backend. */
export interface BatchRequest {
  /** The tasks in order; `tasks[i]` is task number `firstIndex + i` of the run. */
  readonly tasks: readonly Delayed[];
  readonly firstIndex: number;
  /** Stop at the first failing task (fail-fast) rather than running the rest of the batch. */
  readonly stopOnError: boolean;
  /** The batch as plain cloneable data, for backends that run it elsewhere; execute it there with `runBatch`. */
  toWire(clock?: BatchClockWire): BatchWire;
}

export interface BatchOutcome {
  /** Results by offset in the batch; with `stopOnError` it may end at the first failure. */
  readonly values: readonly unknown[];
  /** Errors by offset, as the task threw them (rebuilt if they crossed a thread). */
  readonly errors: readonly { readonly offset: number; readonly error: unknown }[];
  /** Time spent running the batch, which auto batching adapts to. */
  readonly durationMs: number;
  /**
   * Offsets that never ran because the batch's worker died first (settle
   * mode): the run runs them again, and only them, so no finished task is
   * repeated. Their entries in `values` mean nothing.
   */
  readonly unfinished?: readonly number[];
}

export interface RunBatchOptions {
  /**
   * The run's signal, the same object for every batch of one run: aborted
   * when the run no longer wants its batches. The reason is the user's abort
   * reason (stop everything), or `CANCEL_UNSTARTED` after a task failed: then
   * tasks not yet started need not run, and the batch may reject with
   * `BatchCancelledError`.
   */
  readonly signal: AbortSignal;
  /** Per-task time limit in ms; reject with `TaskTimeoutError` past it. */
  readonly timeout: number | undefined;
  /**
   * The same function for every batch of a run: takes an error that escaped
   * task `taskIndex` of the run after its batch's outcome was delivered (a
   * callback it left behind threw), for backends that can tell.
   */
  readonly onLateError?: (taskIndex: number, error: unknown) => void;
}

/** The abort reason `Parallel` uses to cancel batches that have not started, after a failure. */
export const CANCEL_UNSTARTED: unique symbol = Symbol.for('skein.cancel-unstarted');

/** A batch dropped because its run was cancelled; the run has already settled. */
export class BatchCancelledError extends SkeinError {
  constructor() {
    super('The batch was cancelled because its run ended', { code: 'ERR_SKEIN_BATCH_CANCELLED' });
  }
}

registerErrorClass(BatchCancelledError, 'ERR_SKEIN_BATCH_CANCELLED');

/**
 * Where batches of tasks run. Implement it to run tasks somewhere skein does
 * not know (another process, another machine): `BatchRequest.toWire()` gives
 * the batch as data and `runBatch()` (exported by skein) executes that data.
 *
 * Contract: resolve with the outcome of each task (task errors are data, not
 * rejections); reject only when the batch itself failed, with
 * `WorkerCrashedError`/`TaskTimeoutError` naming the task, or any error that
 * then applies to the whole batch.
 */
export interface Backend {
  readonly name: string;
  /** Batches that run at once: the number of workers. */
  readonly concurrency: number;
  runBatch(batch: BatchRequest, options: RunBatchOptions): Promise<BatchOutcome>;
  /** Frees every resource; afterwards the process must be able to exit. */
  close(): Promise<void>;
}
