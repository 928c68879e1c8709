import type { BatchWire } from '../core/wire.js';
import type { DecodedOutcome } from '../task/batch-wire.js';
import type { Store } from '../store/store.js';
import { SkeinError, registerErrorClass } from '../core/errors.js';

/** One task of a batch as the calling thread has it: for backends that run tasks in this thread. */
export interface LocalCall {
  readonly fn: (...args: unknown[]) => unknown;
  readonly args: readonly unknown[];
}

/**
 * A batch of tasks handed to a backend. Tasks are named by their offset in
 * the batch (0 to `size - 1`); which task of a run each is, the caller knows.
 */
export interface Batch {
  readonly size: number;
  /** Stop at the first failing task (fail-fast) rather than running the rest of the batch. */
  readonly stopOnError: boolean;
  /**
   * The batch as plain cloneable data (`encodeBatch`), encoded on first call
   * and then cached: run it elsewhere with `runBatch`, decode what comes
   * back with `decodeOutcome`.
   */
  wire(): BatchWire;
  /** The original functions and arguments, for backends that run tasks in the calling thread. */
  readonly local: readonly LocalCall[];
  /** The run's id of the task at `offset`: only to word messages made where the task ran. */
  taskIndex(offset: number): number;
  /** Every task's id when they are not consecutive from `taskIndex(0)` (ready graph nodes); otherwise absent. */
  readonly taskIds?: readonly number[] | undefined;
  /**
   * Settle mode, for batches of quick tasks: outcomes may wait up to this
   * many ms where they are made and travel together, rather than one
   * message per task. A worker that dies takes those not sent yet with it:
   * they come back as `unfinished`. Backends that send nothing ahead of
   * their reply ignore it.
   */
  readonly gatherMs?: number | undefined;
}

export interface BatchOutcome extends DecodedOutcome {
  /**
   * Offsets with no outcome because the batch's worker died (settle mode):
   * they never ran, or (`gatherMs`) ran but their outcome died with the
   * worker. The run runs them again, and only them. Their entries in
   * `values` mean nothing.
   */
  readonly unfinished?: readonly number[];
}

/**
 * What a backend may keep for a run (from `Backend.openRun`), the same
 * object in the options of every batch of that run: the caller tells it
 * through this when the run no longer wants its batches.
 */
export interface RunContext {
  /** Tasks not yet started need not run: batches may stop early and reject with `BatchCancelledError`. */
  cancel(): void;
  /** Stop everything now, running tasks included: batches reject with `reason`. */
  abort(reason: unknown): void;
  /** The run is over; what the backend kept for it can go. */
  close(): void;
}

export interface BatchOptions {
  /**
   * The run's signal, the same object for every batch of one run: aborted
   * when the run no longer wants its batches. The reason is the user's abort
   * reason (stop everything), or `CANCEL_UNSTARTED` after a task failed: then
   * tasks not yet started need not run, and the batch may reject with
   * `BatchCancelledError`. Backends with `openRun` hear it through their
   * context instead (no listener per batch on a shared signal).
   */
  readonly signal: AbortSignal;
  /** What `openRun()` gave for this batch's run, when the backend has it. */
  readonly run?: RunContext;
  /** Per-task time limit in ms; reject with `TaskTimeoutError` (its `offset` set) past it. */
  readonly timeout: number | undefined;
  /**
   * Settle mode: takes outcomes heard before the batch is over (gathered
   * ones, see `Batch.gatherMs`), by offset, so that what waits on them need
   * not wait for the rest of the batch: its value when `ok`, else its error.
   * The batch's outcome still has a slot for each; the caller skips what it
   * took here.
   */
  readonly onEarly?: ((offset: number, ok: boolean, valueOrError: unknown) => void) | undefined;
}

/** What the caller hears about a run from a backend outside its batches' outcomes. */
export interface RunHooks {
  /**
   * Takes an error that escaped task `taskIndex` (as its batch's
   * `taskIndex(offset)` names it) after its batch's outcome was delivered
   * (a callback it left behind threw), for backends that can tell. Good
   * until the run's context is closed.
   */
  readonly onLateError?: (taskIndex: number, error: unknown) => void;
}

/** What a backend is able to do, which decides how the caller prepares batches for it. */
export interface BackendCapabilities {
  /**
   * Batches run in threads of this process, which can read its shared
   * memory and files: large arguments go by reference through the store the
   * options name (shared memory by default) rather than by copy.
   */
  readonly sharesMemory: boolean;
  /**
   * For backends that do not share memory but can reach a store (a Redis
   * store for a queue backend): large arguments go there, unless the options
   * name a store of their own.
   */
  defaultStore?(): Store<any>;
  /**
   * About what a batch costs besides running its tasks, in ms: sending it
   * to a worker and its result back (a round trip through a queue's server,
   * say). Auto batching keeps each batch several times longer than this and
   * does not cut a run into more batches than that allows. Absent: next to
   * nothing, as between threads of this process.
   */
  readonly batchLatencyMs?: number;
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
 * Names the task of its batch an error belongs to, when a backend rejects
 * with an error of its own for one task (a clone failure, say): the caller
 * turns the offset into the task's index. `TaskTimeoutError` and
 * `WorkerCrashedError` carry their `offset` already.
 */
export function atOffset<T>(error: T, offset: number): T {
  if ((typeof error === 'object' && error !== null) || typeof error === 'function') {
    Object.defineProperty(error, 'offset', { value: offset, writable: true, configurable: true, enumerable: false });
  }
  return error;
}

/**
 * Where batches of tasks run. Implement it to run tasks somewhere skein does
 * not know (another process, another machine): `batch.wire()` gives the
 * batch as data, `runBatch()` executes that data there, and `decodeOutcome()`
 * turns what it returned back into the outcome to resolve with.
 *
 * Contract: resolve with the outcome of each task (task errors are data, not
 * rejections); reject only when the batch itself failed, with
 * `WorkerCrashedError`/`TaskTimeoutError` naming the task by offset, or any
 * error that then applies to the whole batch.
 */
export interface Backend {
  readonly name: string;
  /** Batches that run at once: the number of workers. */
  readonly concurrency: number;
  /** Absent: the backend shares no memory and names no store, so nothing is offloaded. */
  readonly capabilities?: BackendCapabilities;
  /** A context for one run, handed back in the options of each of its batches. */
  openRun?(hooks?: RunHooks): RunContext;
  runBatch(batch: Batch, options: BatchOptions): Promise<BatchOutcome>;
  /** A run's offloaded values (`bytes` of them) were evicted: let go of what was cached of them. */
  release?(bytes: number): void;
  /** Frees every resource; afterwards the process must be able to exit. */
  close(): Promise<void>;
}
