import type { BatchClockWire, BatchWire, FunctionInstanceWire } from '../core/wire.js';
import { describeValue } from '../core/errors.js';
import { SerializationError } from '../serialize/errors.js';
import type { Backend, BatchOutcome, BatchRequest } from '../backends/backend.js';
import { CANCEL_UNSTARTED } from '../backends/backend.js';
import { isDelayed, type Delayed } from '../task/delayed.js';
import { TaskTimeoutError, WorkerCrashedError } from '../backends/errors.js';
import { AutoBatchSize, splitSize, taskBytes } from './auto-batch.js';
import { encodeReferences } from '../store/travel.js';
import type { Offloader } from '../store/offload.js';
import type { ProgressSink } from './progress.js';

export type TaskSource = Iterable<unknown> | AsyncIterable<unknown>;

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

interface Batch {
  readonly first: number;
  readonly tasks: Delayed[];
}

function toWire(tasks: readonly Delayed[], stopOnError: boolean, clock: BatchClockWire | undefined): BatchWire {
  const first = tasks[0]!.shipped.wire;
  let fns: FunctionInstanceWire[] = [first];
  let fnIndex: number[] | undefined;
  for (let i = 1; i < tasks.length; i++) {
    if (tasks[i]!.shipped.wire !== first) {
      fns = [];
      const seen = new Map<FunctionInstanceWire, number>();
      fnIndex = tasks.map((t) => {
        let k = seen.get(t.shipped.wire);
        if (k === undefined) {
          k = fns.push(t.shipped.wire) - 1;
          seen.set(t.shipped.wire, k);
        }
        return k;
      });
      break;
    }
  }
  let refs = false;
  const rows = tasks.map((t) => {
    if (!t.hasReferences) return t.args;
    refs = true;
    return encodeReferences(t.args) as readonly unknown[];
  });
  const size = tasks.length;
  const arity = rows[0]!.length;
  let sameArity = arity <= 8;
  for (let i = 1; i < size && sameArity; i++) sameArity = rows[i]!.length === arity;
  // Built field by field on one object: a spread copy is several times slower to post.
  const wire: { -readonly [K in keyof BatchWire]: BatchWire[K] } = { fns, size, stopOnError };
  if (fnIndex) wire.fnIndex = fnIndex;
  if (sameArity) {
    const columns: unknown[][] = [];
    for (let j = 0; j < arity; j++) {
      // Filled by push, never pre-sized: V8 clones a holey array element by element, ~5x slower.
      const column: unknown[] = [];
      for (let i = 0; i < size; i++) column.push(rows[i]![j]);
      columns.push(column);
    }
    wire.columns = columns;
  } else {
    wire.args = rows;
  }
  if (refs) wire.refs = true;
  if (clock) wire.clock = clock;
  return wire;
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
  readonly #auto: AutoBatchSize | undefined;
  #iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  readonly #isAsync: boolean;
  #exhausted = false;
  #pulled = 0;
  readonly #knownTotal: number | undefined;
  readonly #ready: Batch[] = [];
  readonly #inFlight = new Set<Batch>();
  // One signal for every batch of the run: a batch needs no controller of its own.
  readonly #controller = new AbortController();
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
    this.#auto = settings.batchSize === 'auto' ? new AutoBatchSize() : undefined;
    this.#promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failed run is reported through the promise the caller awaits; this
    // keeps an unobserved copy from being flagged as unhandled.
    this.#promise.catch(() => {});
    this.#onAbort = () => this.#fail(settings.signal?.reason, true);

    if (typeof source !== 'object' || source === null) {
      throw new TypeError(`Expected \`tasks\` to be an iterable or async iterable of delayed calls, got ${describeValue(source)}`);
    }
    this.#knownTotal = Array.isArray(source) ? source.length : undefined;
    if (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      this.#iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      this.#isAsync = true;
    } else if (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') {
      this.#iterator = (source as Iterable<unknown>)[Symbol.iterator]();
      this.#isAsync = false;
    } else {
      throw new TypeError(`Expected \`tasks\` to be an iterable or async iterable of delayed calls, got ${describeValue(source)}`);
    }
  }

  /** Total number of tasks, once known. */
  get total(): number | undefined {
    return this.#exhausted ? this.#pulled : this.#knownTotal;
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

  #check(value: unknown): Delayed {
    if (!isDelayed(value)) {
      throw new TypeError(`Expected task ${this.#pulled} to be a delayed call such as delayed(fn)(...args), got ${describeValue(value)}`);
    }
    this.#pulled++;
    return value;
  }

  // Synchronous sources are pulled without an await per task or per batch.
  #pullMany(n: number): Delayed[] | Promise<Delayed[]> {
    const out: Delayed[] = [];
    if (!this.#isAsync) {
      const it = this.#iterator as Iterator<unknown>;
      while (out.length < n) {
        const step = it.next();
        if (step.done) {
          this.#exhausted = true;
          break;
        }
        out.push(this.#check(step.value));
      }
      return out;
    }
    const it = this.#iterator as AsyncIterator<unknown>;
    return (async () => {
      while (out.length < n && !this.#stopped) {
        const step = await it.next();
        if (step.done) {
          this.#exhausted = true;
          break;
        }
        out.push(this.#check(step.value));
      }
      return out;
    })();
  }

  #nextBatch(): Batch | undefined | Promise<Batch | undefined> {
    const queued = this.#ready.shift();
    if (queued) return queued;
    if (this.#exhausted) return undefined;
    const first = this.#pulled;
    // joblib's lookahead: take enough for one batch per worker, then split it,
    // smaller when the input turned out to end inside this slice.
    const want = this.#auto ? this.#auto.size * this.#s.nJobs : (this.#s.batchSize as number);
    const slice = this.#pullMany(want);
    return slice instanceof Promise ? slice.then((tasks) => this.#sized(first, want, tasks)) : this.#sized(first, want, slice);
  }

  /** Bounds later slices by the bytes these tasks carry, then splits this one. */
  #sized(first: number, want: number, slice: Delayed[]): Batch | undefined {
    if (this.#auto !== undefined && slice.length > 0) this.#auto.fit(taskBytes(slice, this.#s.offloader?.threshold));
    return this.#split(first, want, slice);
  }

  #split(first: number, want: number, slice: Delayed[]): Batch | undefined {
    if (slice.length === 0) return undefined;
    if (this.#auto === undefined) return { first, tasks: slice };
    const size = splitSize(slice.length, this.#s.nJobs, slice.length < want && this.#exhausted);
    for (let i = 0; i < slice.length; i += size) this.#ready.push({ first: first + i, tasks: slice.slice(i, i + size) });
    return this.#ready.shift();
  }

  async #fill(): Promise<void> {
    if (this.#filling || this.#stopped) return;
    this.#filling = true;
    try {
      const limit = this.#s.preDispatch;
      while (!this.#stopped && this.#inFlight.size < limit && (this.#s.backlog?.() ?? 0) < 4 * limit * (this.#auto?.size ?? 1) + 64) {
        const next = this.#nextBatch();
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
      const send = (tasks: Delayed[]): Promise<BatchOutcome> => {
        const request: BatchRequest = {
          tasks,
          firstIndex: batch.first,
          stopOnError,
          toWire: (clock) => toWire(tasks, stopOnError, clock),
        };
        return this.#s.backend.runBatch(request, { signal: this.#controller.signal, timeout: this.#s.timeout, onLateError: this.#onLateError });
      };
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
    if (rerun === undefined) this.#auto?.record(batch.tasks.length, result.durationMs);
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
    if (rerun) for (const i of [...rerun].reverse()) this.#ready.unshift({ first: batch.first + i, tasks: [batch.tasks[i]!] });
    this.#s.progress.update(this.#done, this.total);
    void this.#fill();
  }

  #onFailed(batch: Batch, error: unknown): void {
    this.#inFlight.delete(batch);
    if (this.#stopped) return;
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
      for (let i = batch.tasks.length - 1; i >= 0; i--) {
        if (batch.first + i !== bad) this.#ready.unshift({ first: batch.first + i, tasks: [batch.tasks[i]!] });
      }
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
    if (this.#exhausted && this.#ready.length === 0 && this.#inFlight.size === 0) {
      this.#finish();
      this.#settled = true;
      this.#resolve();
    }
  }

  #finish(failed = false): void {
    this.#s.signal?.removeEventListener('abort', this.#onAbort);
    // Tells the backend the run is over (it forgets the run), when no failure did already.
    if (!this.#controller.signal.aborted) this.#controller.abort(CANCEL_UNSTARTED);
    this.#s.progress.finish(this.#done, this.total, failed, this.#s.offloader);
    if (!this.#exhausted) {
      // Close the user's generator so its finally blocks run.
      const it = this.#iterator;
      this.#exhausted = true;
      try {
        const closing = it?.return?.();
        if (closing && typeof (closing as Promise<unknown>).catch === 'function') (closing as Promise<unknown>).catch(() => {});
      } catch {
        // A source that throws on close has nothing more to give us.
      }
    }
    this.#iterator = undefined;
  }
}
