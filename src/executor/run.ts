import type { BatchWire } from '../core/wire.js';
import { SerializationError } from '../serialize/errors.js';
import type { Backend, Batch as BackendBatch, BatchOutcome, LocalCall, RunContext } from '../backends/backend.js';
import { CANCEL_UNSTARTED } from '../backends/backend.js';
import { encodeBatch } from '../task/batch-wire.js';
import type { Delayed } from '../task/delayed.js';
import { TaskTimeoutError, WorkerCrashedError } from '../backends/errors.js';
import { BatchSource, type SourceBatch as Batch, type TaskSource } from './source.js';
import type { Offloader } from '../store/offload.js';
import type { ProgressSink } from './progress.js';

export type { TaskSource } from './source.js';

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface RunSettings {
  readonly backend: Backend;
  readonly nJobs: number;
  readonly batchSize: 'auto' | number;
  readonly preDispatch: number;
  readonly timeout: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly settle: boolean;
  readonly progress: ProgressSink;
  /** Called with each task's index and outcome, in completion order. */
  readonly emit: (index: number, outcome: Outcome) => void;
  /** Results the consumer has not taken yet; dispatch pauses while it is high. */
  readonly backlog?: () => number;
  /** Replaces large arguments with store proxies before dispatch. */
  readonly offloader?: Offloader;
  /**
   * Settle mode: turns task `index`, already emitted as fulfilled, into a
   * rejection with `error` (a callback it left behind threw). False when
   * that can no longer be done (the consumer has the value already).
   */
  readonly revise?: (index: number, error: unknown) => boolean;
  /** Takes errors that escaped a task and that the run cannot report as that task's outcome. */
  readonly workerError?: (error: unknown) => void;
}

/** A batch as a backend sees it: encoded on first need, once. */
class BatchRequest implements BackendBatch {
  readonly size: number;
  readonly stopOnError: boolean;
  readonly #tasks: readonly Delayed[];
  readonly #first: number;
  #wire: BatchWire | undefined;

  constructor(tasks: readonly Delayed[], first: number, stopOnError: boolean) {
    this.#tasks = tasks;
    this.#first = first;
    this.size = tasks.length;
    this.stopOnError = stopOnError;
  }

  wire(): BatchWire {
    return (this.#wire ??= encodeBatch(this.#tasks, this.stopOnError));
  }

  get local(): readonly LocalCall[] {
    return this.#tasks.map((t) => ({ fn: t.shipped.local, args: t.args }));
  }

  taskIndex(offset: number): number {
    return this.#first + offset;
  }
}

/**
 * An error a backend raised for one task of a batch names it by offset:
 * give it the task's index in the run (timeouts and crashes are reworded with it).
 */
function located(error: unknown, first: number): unknown {
  if (error instanceof TaskTimeoutError && error.offset !== undefined && error.taskIndex < 0) {
    return new TaskTimeoutError(first + error.offset, error.timeout, error.offset);
  }
  if (error instanceof WorkerCrashedError && error.offset !== undefined && error.taskIndex < 0) {
    return new WorkerCrashedError(first + error.offset, error.cause, error.offset);
  }
  if (typeof error === 'object' && error !== null && typeof (error as { offset?: unknown }).offset === 'number' && !Object.hasOwn(error, 'taskIndex')) {
    return withTaskIndex(error, first + (error as { offset: number }).offset);
  }
  return error;
}

function withTaskIndex(error: unknown, taskIndex: number): unknown {
  if ((typeof error === 'object' && error !== null) || typeof error === 'function') {
    try {
      Object.defineProperty(error, 'taskIndex', { value: taskIndex, writable: true, configurable: true, enumerable: false });
    } catch {
      // A frozen error keeps its identity; it just goes without the index.
    }
  }
  return error;
}

/**
 * One pass over a task source: pulls tasks lazily, groups them into batches,
 * keeps up to `preDispatch` batches in flight, and reports each outcome.
 * Resolves when every task has an outcome; rejects on the first fatal error,
 * with nothing left pending.
 */
export class TaskRun {
  readonly #s: RunSettings;
  readonly #source: BatchSource;
  readonly #inFlight = new Set<Batch>();
  // One signal for every batch of the run: a batch needs no controller of its own.
  readonly #controller = new AbortController();
  // Backends with per-run state hear of cancellation and the run's end through this.
  readonly #context: RunContext | undefined;
  #filling = false;
  #done = 0;
  #stopped = false;
  #settled = false;
  readonly #promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  readonly #onAbort: () => void;

  constructor(source: TaskSource, settings: RunSettings) {
    this.#s = settings;
    this.#source = new BatchSource(source, { nJobs: settings.nJobs, batchSize: settings.batchSize, offloadBytes: settings.offloader?.threshold });
    this.#context = settings.backend.openRun?.();
    this.#promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failed run is reported through the promise the caller awaits; this
    // keeps an unobserved copy from being flagged as unhandled.
    this.#promise.catch(() => {});
    this.#onAbort = () => this.#fail(settings.signal?.reason, true);
  }

  /** Total number of tasks, once known. */
  get total(): number | undefined {
    return this.#source.total;
  }

  start(): Promise<void> {
    const { signal } = this.#s;
    if (signal?.aborted) {
      this.#fail(signal.reason, true);
    } else {
      signal?.addEventListener('abort', this.#onAbort, { once: true });
      void this.#fill();
    }
    return this.#promise;
  }

  /**
   * Stops early: nothing new starts, queued batches are dropped. Without a
   * reason (a consumer broke out of `iter()`) the run resolves; with one, it
   * rejects with it.
   */
  cancel(reason?: unknown): void {
    if (this.#settled) return;
    if (reason !== undefined) {
      this.#fail(reason, true);
      return;
    }
    this.#stopped = true;
    this.#cancelInFlight(CANCEL_UNSTARTED);
    this.#finish();
    this.#settled = true;
    this.#resolve();
  }

  /** Resumes dispatch after the consumer drained results. */
  poke(): void {
    void this.#fill();
  }

  async #fill(): Promise<void> {
    if (this.#filling || this.#stopped) return;
    this.#filling = true;
    try {
      const limit = this.#s.preDispatch;
      while (!this.#stopped && this.#inFlight.size < limit && (this.#s.backlog?.() ?? 0) < 4 * limit * this.#source.batchSize + 64) {
        const next = this.#source.next();
        const batch = next instanceof Promise ? await next : next;
        if (batch === undefined || this.#stopped) break;
        this.#dispatch(batch);
      }
    } catch (error) {
      // The task source itself threw (a generator's error, or a non-delayed item).
      this.#fail(error, false);
    } finally {
      this.#filling = false;
    }
    this.#maybeDone();
  }

  #dispatch(batch: Batch): void {
    this.#inFlight.add(batch);
    const stopOnError = !this.#s.settle;
    let outcome: Promise<BatchOutcome>;
    try {
      const first = batch.first;
      const send = (tasks: Delayed[]): Promise<BatchOutcome> =>
        this.#s.backend.runBatch(new BatchRequest(tasks, first, stopOnError), {
          signal: this.#controller.signal,
          ...(this.#context ? { run: this.#context } : {}),
          timeout: this.#s.timeout,
          onLateError: (offset, error) => this.#onLateError(first + offset, error),
        });
      const tasks = this.#s.offloader ? this.#s.offloader.tasks(batch.tasks) : batch.tasks;
      // A store without sync puts asynchronously: the batch leaves once its keys are known.
      outcome = tasks instanceof Promise ? tasks.then(send) : send(tasks);
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (result) => this.#onDone(batch, result),
      (error: unknown) => this.#onFailed(batch, error),
    );
  }

  /**
   * An error escaped task `index` after its outcome came back (a callback it
   * left behind threw): fail-fast fails the run with it; settle mode turns
   * the task's record into a rejection where it still can.
   */
  readonly #onLateError = (index: number, error: unknown): void => {
    if (!this.#settled && !this.#s.settle) {
      this.#fail(withTaskIndex(error, index), false);
    } else if (this.#settled || !(this.#s.revise?.(index, withTaskIndex(error, index)) ?? false)) {
      this.#s.workerError?.(error);
    }
  };

  #onDone(batch: Batch, result: BatchOutcome): void {
    this.#inFlight.delete(batch);
    if (this.#stopped) return;
    const { values, errors, unfinished } = result;
    // Tasks a dead worker never ran go again, one by one; the others keep their outcome.
    const rerun = unfinished !== undefined && unfinished.length > 0 ? new Set(unfinished) : undefined;
    if (rerun === undefined) this.#source.record(batch.tasks.length, result.durationMs);
    let firstError: { offset: number; error: unknown } | undefined;
    let e = 0;
    for (let i = 0; i < batch.tasks.length; i++) {
      if (rerun?.has(i)) continue;
      const err = errors[e];
      if (err !== undefined && err.offset === i) {
        e++;
        if (!this.#s.settle) {
          firstError = err;
          break;
        }
        this.#s.emit(batch.first + i, { ok: false, error: withTaskIndex(err.error, batch.first + i) });
      } else if (!this.#s.settle && i >= values.length) {
        break;
      } else {
        this.#s.emit(batch.first + i, { ok: true, value: values[i] });
      }
      this.#done++;
    }
    if (firstError) {
      this.#fail(withTaskIndex(firstError.error, batch.first + firstError.offset), false);
      return;
    }
    if (rerun) this.#source.again([...rerun].map((i) => ({ first: batch.first + i, tasks: [batch.tasks[i]!] })));
    this.#s.progress.update(this.#done, this.total);
    void this.#fill();
  }

  #onFailed(batch: Batch, failure: unknown): void {
    this.#inFlight.delete(batch);
    if (this.#stopped) return;
    const error = located(failure, batch.first);
    const taskLevel = error instanceof TaskTimeoutError || error instanceof WorkerCrashedError;
    if (!this.#s.settle || error instanceof SerializationError) {
      this.#fail(error, false);
      return;
    }
    if (taskLevel) {
      // The worker died with the batch: the task that killed it gets the
      // error, the others run again one by one so none is lost.
      const bad = error.taskIndex;
      this.#s.emit(bad, { ok: false, error });
      this.#done++;
      const again: Batch[] = [];
      for (let i = 0; i < batch.tasks.length; i++) {
        if (batch.first + i !== bad) again.push({ first: batch.first + i, tasks: [batch.tasks[i]!] });
      }
      this.#source.again(again);
    } else {
      for (let i = 0; i < batch.tasks.length; i++) {
        this.#s.emit(batch.first + i, { ok: false, error: withTaskIndex(error, batch.first + i) });
        this.#done++;
      }
    }
    this.#s.progress.update(this.#done, this.total);
    void this.#fill();
  }

  #cancelInFlight(reason: unknown): void {
    if (this.#context && !this.#controller.signal.aborted) {
      if (reason === CANCEL_UNSTARTED) this.#context.cancel();
      else this.#context.abort(reason);
    }
    this.#controller.abort(reason);
    this.#inFlight.clear();
  }

  #fail(error: unknown, aborted: boolean): void {
    if (this.#settled) return;
    this.#stopped = true;
    this.#cancelInFlight(aborted ? error : CANCEL_UNSTARTED);
    this.#finish(true);
    this.#settled = true;
    this.#reject(error);
  }

  #maybeDone(): void {
    if (this.#settled || this.#stopped || this.#filling) return;
    if (this.#source.drained && this.#inFlight.size === 0) {
      this.#finish();
      this.#settled = true;
      this.#resolve();
    }
  }

  #finish(failed = false): void {
    this.#s.signal?.removeEventListener('abort', this.#onAbort);
    // Tells the backend the run is over (it forgets the run), when no failure did already.
    if (!this.#controller.signal.aborted) this.#controller.abort(CANCEL_UNSTARTED);
    this.#context?.close();
    this.#s.progress.finish(this.#done, this.total, failed, this.#s.offloader);
    // Close the user's generator so its finally blocks run.
    this.#source.close();
  }
}
