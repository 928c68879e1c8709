import type { Backend } from '../backends/backend.js';
import { CANCEL_UNSTARTED } from '../backends/backend.js';
import { BatchSource, type SourceMapping, type TaskSource } from './source.js';
import { Dispatcher, type Outcome } from './dispatcher.js';
import type { Offloader } from '../store/offload.js';
import type { BatchSizes } from './auto-batch.js';
import type { ProgressSink } from './progress.js';

export type { TaskSource } from './source.js';
export type { Outcome } from './dispatcher.js';

export interface RunSettings {
  readonly backend: Backend;
  readonly nJobs: number;
  readonly batchSize: 'auto' | number;
  /** Auto batching state by function, kept across runs. */
  readonly batchSizes?: BatchSizes;
  readonly preDispatch: number;
  readonly timeout: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly settle: boolean;
  readonly progress: ProgressSink;
  /** Called with each task's index and outcome, in completion order. */
  readonly emit: (index: number, outcome: Outcome) => void;
  /** Takes consecutive fulfilled tasks at once (see `DispatcherSettings.emitValues`). */
  readonly emitValues?: (first: number, values: readonly unknown[]) => void;
  /** Results the consumer has not taken yet; dispatch pauses while it is high. */
  readonly backlog?: () => number;
  /** The source holds items to map this function over (`map()`). */
  readonly map?: SourceMapping;
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

/**
 * One pass over a task source: a `BatchSource` feeding a `Dispatcher`, the
 * tasks' ids their indices in the source. Keeps up to `preDispatch` batches
 * in flight, pauses while the consumer lags, and resolves when every task
 * has an outcome; rejects on the first fatal error, with nothing left pending.
 */
export class TaskRun {
  readonly #s: RunSettings;
  readonly #source: BatchSource;
  readonly #dispatcher: Dispatcher;
  #filling = false;
  #settled = false;
  readonly #promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  readonly #onAbort: () => void;

  constructor(source: TaskSource, settings: RunSettings) {
    this.#s = settings;
    this.#source = new BatchSource(source, {
      nJobs: settings.nJobs,
      batchSize: settings.batchSize,
      offloadBytes: settings.offloader?.threshold,
      sizes: settings.batchSizes,
      map: settings.map,
      batchLatencyMs: settings.backend.capabilities?.batchLatencyMs,
    });
    this.#dispatcher = new Dispatcher({
      backend: settings.backend,
      limit: settings.preDispatch,
      timeout: settings.timeout,
      settle: settings.settle,
      progress: settings.progress,
      total: () => this.#source.total,
      emit: settings.emit,
      emitValues: settings.emitValues,
      onUnitDone: (size, durationMs) => this.#source.record(size, durationMs),
      onRoom: () => void this.#fill(),
      onFail: (error) => this.#end({ error }),
      offloader: settings.offloader,
      revise: settings.revise,
      workerError: settings.workerError,
    });
    this.#promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failed run is reported through the promise the caller awaits; this
    // keeps an unobserved copy from being flagged as unhandled.
    this.#promise.catch(() => {});
    this.#onAbort = () => this.#abort(settings.signal?.reason);
  }

  /** Total number of tasks, once known. */
  get total(): number | undefined {
    return this.#source.total;
  }

  start(): Promise<void> {
    const { signal } = this.#s;
    if (signal?.aborted) {
      this.#abort(signal.reason);
    } else {
      signal?.addEventListener('abort', this.#onAbort, { once: true });
      // An array's length is known at once: the bar shows a count from the start rather than sliding.
      if (this.#source.total !== undefined) this.#s.progress.update(0, this.#source.total);
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
      this.#abort(reason);
      return;
    }
    this.#dispatcher.stop(CANCEL_UNSTARTED, false);
    this.#end();
  }

  /** Resumes dispatch after the consumer drained results. */
  poke(): void {
    // Called once per result taken: a call of the async #fill would cost a promise each time.
    if (!this.#filling && !this.#settled && this.#wantsMore()) void this.#fill();
  }

  /** Room for another unit, and the consumer is not too far behind. */
  #wantsMore(): boolean {
    return this.#dispatcher.hasRoom && (this.#s.backlog?.() ?? 0) < 4 * this.#s.preDispatch * this.#source.batchSize + 64;
  }

  async #fill(): Promise<void> {
    if (this.#filling || this.#settled) return;
    this.#filling = true;
    const d = this.#dispatcher;
    try {
      while (this.#wantsMore()) {
        const next = this.#source.next();
        const batch = next instanceof Promise ? await next : next;
        if (batch === undefined || d.stopped) break;
        d.submit(batch);
      }
    } catch (error) {
      // The task source itself threw (a generator's error, or a non-delayed item).
      d.stop(CANCEL_UNSTARTED, true);
      this.#end({ error });
    } finally {
      this.#filling = false;
    }
    if (!this.#settled && !d.stopped && this.#source.drained && d.pending === 0) {
      d.close();
      this.#end();
    }
  }

  #abort(reason: unknown): void {
    if (this.#settled) return;
    this.#dispatcher.stop(reason, true);
    this.#end({ error: reason });
  }

  /** Settles the run once: resolved, or rejected with `failure`. */
  #end(failure?: { error: unknown }): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#s.signal?.removeEventListener('abort', this.#onAbort);
    // Close the user's generator so its finally blocks run.
    this.#source.close();
    if (failure === undefined) this.#resolve();
    else this.#reject(failure.error);
  }
}
