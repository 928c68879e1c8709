import { EventEmitter } from 'node:events';
import { types } from 'node:util';
import type { Backend } from '../backends/backend.js';
import { delayed, type Delayed, type DelayedResult } from '../task/delayed.js';
import { shipFunction } from '../task/ship.js';
import { ParallelClosedError } from '../backends/errors.js';
import { resolveOptions, type ParallelOptions, type ResolvedOptions } from './options.js';
import { Progress } from './progress.js';
import { SequentialBackend } from '../backends/sequential.js';
import { ThreadsBackend } from '../backends/threads/backend.js';
import { TaskRun, type RunSettings, type TaskSource } from './run.js';
import type { SourceMapping } from './source.js';
import { Dispatcher, type DispatcherSettings, type Outcome } from './dispatcher.js';
import { Offloader, SharedBufferPool, makeOwnedStore } from '../store/offload.js';
import type { Store } from '../store/index.js';
import type { KeepWire } from '../core/wire.js';
import { BatchSizes } from './auto-batch.js';

export type ErrorMode = 'raise' | 'settle';

/**
 * Opens a dispatcher on a `Parallel`'s backend for a feeder other than a
 * loop (the graph scheduler submits ready nodes): internal to skein, not
 * exported from the package.
 */
export const openFeed: unique symbol = Symbol('skein.openFeed');

/** What a feeder gives: where outcomes go, when to submit more, and the first fatal error. */
export type FeedSettings = Pick<DispatcherSettings, 'emit' | 'emitValue' | 'onRoom' | 'onFail' | 'onUnitDone' | 'onLost' | 'progress' | 'total' | 'limit'>;

/** A feeder's dispatcher, and how to end it: `end(completed)` frees what the run offloaded. */
export interface Feed {
  readonly dispatcher: Dispatcher;
  /**
   * Where large results can stay where they were made (the offload store and
   * size), when the backend's workers share this process's memory; units
   * that carry it get references back instead of values.
   */
  readonly keep: KeepWire | undefined;
  /**
   * Units may chain tasks (`Unit.links`): the backend runs batches from
   * their wire (threads), not from the original calls in this thread.
   */
  readonly fuse: boolean;
  end(completed: boolean): Promise<void>;
}

/** What `close()` cancels. */
interface Cancellable {
  cancel(reason?: unknown): void;
}

/** What a run yields per task: the value, or with `errors: 'settle'` an allSettled-style record. */
export type TaskOutcome<R, E extends ErrorMode> = E extends 'settle' ? PromiseSettledResult<R> : R;

/** Any iterable or async iterable of delayed calls. */
export type Tasks<D extends Delayed<unknown> = Delayed<unknown>> = Iterable<D> | AsyncIterable<D>;

const NO_VALUES: readonly unknown[] = [];
const nothing = (): undefined => undefined;

function settled(outcome: Outcome): PromiseSettledResult<unknown> {
  return outcome.ok ? { status: 'fulfilled', value: outcome.value } : { status: 'rejected', reason: outcome.error };
}

/** Events a `Parallel` emits. */
export interface ParallelEvents {
  /**
   * An error escaped a task where no run could report it as that task's
   * outcome: a callback a task left behind threw after its run ended, or
   * (`iter()` with `errors: 'settle'`) after the task's result was yielded,
   * or it came from no task at all. Usually an `UncaughtTaskError`. With no
   * listener it is printed as a process warning.
   */
  workerError: [error: Error];
}

/** One-shot calls have no executor to keep state on: they share theirs, by function. */
const oneShotBatchSizes = new BatchSizes();
// Set by Parallel's static block: parallel() hands its executor the shared state.
let oneShot: (par: Parallel<ErrorMode>, sizes: BatchSizes) => void;

/**
 * A reusable parallel executor on a pool of worker threads, joblib's `Parallel`.
 * Workers start on the first run and stay until `close()`.
 *
 * @example
 * await using par = new Parallel({ nJobs: 2 });
 * const squares = await par.run(xs.map((x) => delayed(square)(x)));
 */
export class Parallel<E extends ErrorMode = 'raise'> extends EventEmitter<ParallelEvents> {
  readonly #options: ResolvedOptions;
  #backend: Backend | undefined;
  #closed = false;
  readonly #runs = new Set<Cancellable>();
  #ownedStore: Store<any> | undefined;
  readonly #pool = new SharedBufferPool();
  // Runs of a Parallel start from the batch size the last run of their function reached.
  #batchSizes = new BatchSizes();
  /** One-shot `parallel()`: close() does not wait for the threads to finish ending. */
  #endInBackground = false;

  constructor(options: ParallelOptions & { errors?: E } = {}) {
    super();
    this.#options = resolveOptions(options);
  }

  static {
    oneShot = (par, sizes) => {
      par.#batchSizes = sizes;
      par.#endInBackground = true;
    };
  }

  /** Never silent: with no listener, a process warning says it, with the stack of what threw. */
  readonly #workerError = (error: unknown): void => {
    const shown = types.isNativeError(error) || (typeof error === 'object' && error !== null && 'message' in error) ? (error as Error) : new Error(String(error));
    if (this.listenerCount('workerError') > 0) {
      this.emit('workerError', shown);
      return;
    }
    const { cause, code } = shown as { cause?: { stack?: unknown }; code?: unknown };
    process.emitWarning(String(shown.message), {
      type: String(shown.name),
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof cause?.stack === 'string' ? { detail: cause.stack } : {}),
    });
  };

  /** The number of workers runs use. */
  get nJobs(): number {
    return this.#options.nJobs;
  }

  /** What a run does with a task's error: `'raise'` rejects, `'settle'` returns records. */
  get errorMode(): E {
    return this.#options.errors as E;
  }

  /** The backend's name: `'threads'`, `'sequential'` or a custom backend's. */
  get backendName(): string {
    const b = this.#options.backend;
    return typeof b === 'string' ? b : b.name;
  }

  #ensureBackend(): Backend {
    if (this.#closed) throw new ParallelClosedError();
    if (this.#backend === undefined) {
      const b = this.#options.backend;
      this.#backend =
        b === 'threads'
          ? new ThreadsBackend({
              nJobs: this.#options.nJobs,
              resourceLimits: this.#options.resourceLimits,
              resultBytes: this.#options.maxNbytes,
              onWorkerError: this.#workerError,
            })
          : b === 'sequential'
            ? new SequentialBackend()
            : b;
    }
    return this.#backend;
  }

  /**
   * The store large arguments go to: yours, or one this Parallel made on first
   * need and closes with itself. Undefined until a run needed one.
   */
  get offloadStore(): Store<any> | undefined {
    const s = this.#options.store;
    return typeof s === 'object' ? s : this.#ownedStore;
  }

  /**
   * The backend's capabilities decide: one sharing this process's memory gets
   * large arguments through the store the options name; one naming a default
   * store, through that (or the options' own store); others get copies.
   */
  #offloader(backend: Backend): Offloader | undefined {
    const o = this.#options;
    const caps = backend.capabilities;
    if (o.maxNbytes === null || caps === undefined || (!caps.sharesMemory && caps.defaultStore === undefined)) return undefined;
    const store =
      typeof o.store === 'object'
        ? o.store
        : (this.#ownedStore ??= caps.sharesMemory ? makeOwnedStore(o.store, o.tempFolder) : caps.defaultStore!());
    // Memory is reused only in a store of ours that adopts shared bytes without copying them.
    const pool = caps.sharesMemory && o.store === 'shared' ? this.#pool : undefined;
    return new Offloader(o.maxNbytes, store, pool, (bytes) => {
      if (backend === this.#backend) backend.release?.(bytes);
    });
  }

  #start(tasks: TaskSource, hooks: Pick<RunSettings, 'emit' | 'emitValues' | 'backlog' | 'revise' | 'map'>): { run: TaskRun; offloader: Offloader | undefined } {
    const backend = this.#ensureBackend();
    const o = this.#options;
    const nJobs = typeof o.backend === 'object' ? Math.max(1, backend.concurrency) : o.nJobs;
    const offloader = this.#offloader(backend);
    const run = new TaskRun(tasks, {
      backend,
      nJobs,
      batchSize: o.batchSize,
      batchSizes: this.#batchSizes,
      preDispatch: Number.isFinite(o.preDispatch) ? o.preDispatch : Number.MAX_SAFE_INTEGER,
      timeout: o.timeout,
      signal: o.signal,
      settle: o.errors === 'settle',
      progress: new Progress({ verbose: o.verbose, progress: o.progress, nJobs, backendName: backend.name }),
      workerError: this.#workerError,
      ...hooks,
      ...(offloader ? { offloader } : {}),
    });
    this.#runs.add(run);
    return { run, offloader };
  }

  /**
   * A dispatcher in settle mode (every task's error is an outcome; the
   * feeder decides what fails), with this executor's backend, timeout and
   * offloading. `close()` stops it through `onFail`.
   */
  [openFeed](feed: FeedSettings): Feed {
    const backend = this.#ensureBackend();
    const offloader = this.#offloader(backend);
    const dispatcher = new Dispatcher({ ...feed, backend, timeout: this.#options.timeout, settle: true, offloader, workerError: this.#workerError });
    const handle: Cancellable = {
      cancel: (reason) => {
        dispatcher.stop(reason, true);
        feed.onFail(reason);
      },
    };
    this.#runs.add(handle);
    const keep = offloader !== undefined && backend.capabilities?.sharesMemory === true ? { store: offloader.store.config(), above: offloader.threshold } : undefined;
    return {
      dispatcher,
      keep,
      fuse: backend.capabilities?.sharesMemory === true,
      end: async (completed) => {
        this.#runs.delete(handle);
        dispatcher.close();
        await offloader?.free(completed);
      },
    };
  }

  /** Runs every task and resolves with the results in input order. */
  async run<D extends Delayed<unknown>>(tasks: Tasks<D>): Promise<TaskOutcome<DelayedResult<D>, E>[]> {
    return this.#collect(tasks) as Promise<TaskOutcome<DelayedResult<D>, E>[]>;
  }

  /** Runs a source to the end: results in input order. */
  async #collect(tasks: TaskSource, map?: SourceMapping): Promise<unknown[]> {
    // The workers start first: they take ~100 ms to be ready, during which
    // the setup below (cold code, a results array as long as the input) costs nothing.
    if (Array.isArray(tasks)) this.#ensureBackend();
    const settle = this.#options.errors === 'settle';
    // Sized up front when the count is known: results land out of order, and
    // writing far past the end of a growing array makes it slow and sparse.
    // (Made by map(), not new Array(n): a holey array would be slow to clone for whoever uses the results.)
    const results: unknown[] = Array.isArray(tasks) ? tasks.map(nothing) : [];
    // Without a known count the array grows as results come: filled up to a
    // result that lands past its end, so that it stays packed.
    const grow = (end: number): void => {
      while (results.length < end) results.push(undefined);
    };
    const { run, offloader } = this.#start(tasks, {
      emit: (index, outcome) => {
        if (index > results.length) grow(index);
        results[index] = settle ? settled(outcome) : (outcome as { value: unknown }).value;
      },
      emitValues: (first, values) => {
        if (first > results.length) grow(first);
        for (let i = 0; i < values.length; i++) results[first + i] = settle ? { status: 'fulfilled', value: values[i] } : values[i];
      },
      revise: (index, error) => {
        // The results are not handed over yet: a task whose callback threw later is no longer fulfilled.
        if ((results[index] as PromiseSettledResult<unknown> | undefined)?.status !== 'fulfilled') return false;
        results[index] = { status: 'rejected', reason: error };
        return true;
      },
      ...(map ? { map } : {}),
    });
    let completed = false;
    try {
      await run.start();
      completed = true;
    } finally {
      this.#runs.delete(run);
      await offloader?.free(completed);
    }
    return results;
  }

  /**
   * Yields results as tasks finish: in input order (default), or in completion
   * order with `{ ordered: false }`. Breaking out stops the run.
   */
  async *iter<D extends Delayed<unknown>>(
    tasks: Tasks<D>,
    options: { ordered?: boolean } = {},
  ): AsyncGenerator<TaskOutcome<DelayedResult<D>, E>, void, undefined> {
    const ordered = options.ordered ?? true;
    const settle = this.#options.errors === 'settle';
    // Results wait as they came, a unit's values in one array (not an entry
    // per task): by first index when ordered, else in a queue read from `head`.
    const chunks = new Map<number, readonly unknown[]>();
    const queue: (readonly unknown[])[] = [];
    let head = 0;
    let buffered = 0;
    let next = 0;
    let wake: (() => void) | undefined;
    const put = (first: number, values: readonly unknown[]): void => {
      buffered += values.length;
      if (ordered) chunks.set(first, values);
      else queue.push(values);
      wake?.();
    };
    const { run, offloader } = this.#start(tasks, {
      emit: (index, outcome) => put(index, [settle ? settled(outcome) : (outcome as { value: unknown }).value]),
      emitValues: (first, values) => put(first, settle ? values.map((value) => ({ status: 'fulfilled', value })) : values),
      backlog: () => buffered,
    });
    let finished = false;
    let failure: { error: unknown } | undefined;
    run.start().then(
      () => {
        finished = true;
        wake?.();
      },
      (error: unknown) => {
        failure = { error };
        wake?.();
      },
    );
    try {
      for (;;) {
        for (;;) {
          let chunk: readonly unknown[] | undefined;
          if (ordered) {
            chunk = chunks.get(next);
            if (chunk === undefined) break;
            chunks.delete(next);
            next += chunk.length;
          } else {
            if (head === queue.length) break;
            chunk = queue[head]!;
            queue[head++] = NO_VALUES;
            // Taken chunks are dropped in bulk: shift() on a long queue moves all the others each time.
            if (head >= 1024 && 2 * head >= queue.length) {
              queue.splice(0, head);
              head = 0;
            }
          }
          for (let i = 0; i < chunk.length; i++) {
            buffered--;
            yield chunk[i] as TaskOutcome<DelayedResult<D>, E>;
            run.poke();
          }
        }
        if (failure) throw failure.error;
        if (finished && buffered === 0) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      run.cancel();
      this.#runs.delete(run);
      await offloader?.free(finished);
    }
  }

  /**
   * Sugar for `run(items.map((x) => delayed(fn)(x)))`, consuming `items`
   * lazily. Items are checked as `delayed` checks arguments, and sent as
   * they are: no `Delayed` is made per item.
   */
  async map<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>): Promise<TaskOutcome<Awaited<R>, E>[]> {
    const call = delayed(fn) as unknown as (item: unknown) => Delayed;
    // A string is iterable, but not an object.
    const source = typeof items === 'string' ? Array.from(items as Iterable<A>) : items;
    return this.#collect(source, { shipped: shipFunction(fn), call }) as Promise<TaskOutcome<Awaited<R>, E>[]>;
  }

  /** Stops the workers. Runs still going are cancelled. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const run of this.#runs) run.cancel(new ParallelClosedError());
    this.#runs.clear();
    const backend = this.#backend;
    this.#backend = undefined;
    // A user-provided backend or store belongs to the user.
    if (backend !== undefined && typeof this.#options.backend === 'string') {
      // Ending threads takes tens of ms and holds nothing the caller needs:
      // a one-shot call's results need not wait for it (ending workers never
      // keep the process alive).
      const ending = backend.close();
      if (this.#endInBackground) ending.catch(this.#workerError);
      else await ending;
    }
    const owned = this.#ownedStore;
    this.#ownedStore = undefined;
    this.#pool.clear();
    await owned?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Runs delayed calls in parallel and resolves with their results in order;
 * the pool is created for this call and closed after it (its threads end
 * just after the call resolves, never keeping the process alive).
 *
 * @example
 * const out = await parallel(xs.map((x) => delayed(square)(x)), { nJobs: 2 });
 */
export async function parallel<D extends Delayed<unknown>, E extends ErrorMode = 'raise'>(
  tasks: Tasks<D>,
  options: ParallelOptions & { errors?: E } = {},
): Promise<TaskOutcome<DelayedResult<D>, E>[]> {
  const par = new Parallel<E>(options);
  oneShot(par, oneShotBatchSizes);
  try {
    return await par.run(tasks);
  } finally {
    await par.close();
  }
}
