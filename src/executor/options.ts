import os from 'node:os';
import { AsyncLocalStorage } from 'node:async_hooks';
import { isMainThread, workerData } from 'node:worker_threads';
import { describeValue } from '../core/errors.js';
import type { Backend } from '../backends/backend.js';
import { parseNbytes, type OffloadStore } from '../store/offload.js';
import { checkKnownOptions } from '../core/options.js';

export interface ProgressInfo {
  readonly done: number;
  /** Known once the input is exhausted (at once for arrays). */
  readonly total: number | undefined;
  readonly elapsedMs: number;
}

export type ProgressCallback = (info: ProgressInfo) => void;

export interface ParallelOptions {
  /**
   * Workers to use, joblib style: `-1` all cores, `-2` all but one, `1` runs inline in the calling thread.
   * @default os.availableParallelism()
   * @example
   * new Parallel({ nJobs: -2 }); // every core but one
   */
  nJobs?: number;
  /**
   * `'threads'` (a Piscina pool of worker threads), `'sequential'` (the calling thread), or your own `Backend`.
   * @default 'threads'
   * @example
   * new Parallel({ backend: 'sequential' }); // original functions in this thread: breakpoints work
   */
  backend?: 'threads' | 'sequential' | Backend;
  /**
   * Tasks per message to a worker. `'auto'` adapts from measured batch durations (aiming at 0.2–2 s per batch).
   * @default 'auto'
   * @example
   * new Parallel({ batchSize: 1 }); // one task per message
   */
  batchSize?: 'auto' | number;
  /**
   * Batches in flight at once, as a number or an expression of `nJobs` such as `'3*nJobs'` (with a `Backend` object, `nJobs`
   * there is its `concurrency`); `'all'` dispatches everything at once.
   * @default '2*nJobs'
   * @example
   * new Parallel({ preDispatch: '3*nJobs' });
   */
  preDispatch?: number | string;
  /**
   * Milliseconds a single task may run; past it, its worker is terminated and the run rejects with `TaskTimeoutError`.
   * At most 2147483647 (about 24.8 days), the longest delay Node's timers support.
   * @default undefined (no limit)
   * @example
   * new Parallel({ timeout: 60_000 }); // a task may run for a minute
   */
  timeout?: number;
  /**
   * Aborting rejects the run with the signal's reason and cancels what has not started.
   * @default undefined
   * @example
   * await parallel(tasks, { signal: AbortSignal.timeout(10_000) }); // the whole run within 10 s
   */
  signal?: AbortSignal;
  /**
   * 0 silent; above 0, joblib-style progress lines on stderr; 10 or more prints every batch.
   * @default 0
   * @example
   * new Parallel({ verbose: 10 }); // a line per batch, and what was offloaded
   */
  verbose?: number;
  /**
   * `true` draws a progress bar on a TTY (stderr); a function is called with `{ done, total, elapsedMs }`.
   * @default false
   * @example
   * await parallel(tasks, { progress: ({ done, total }) => console.log(`${done}/${total ?? '?'}`) });
   */
  progress?: boolean | ProgressCallback;
  /**
   * `'raise'`: the first failing task rejects the run and cancels what has not started.
   * `'settle'`: the run resolves with `Promise.allSettled`-style records.
   * @default 'raise'
   * @example
   * const records = await parallel(tasks, { errors: 'settle' });
   * const failed = records.filter((r) => r.status === 'rejected');
   */
  errors?: 'raise' | 'settle';
  /**
   * Arguments and captured values larger than this are put in `store` once and
   * sent as proxies (joblib's auto-memmapping); large results are moved back
   * rather than copied. A number of bytes or `'512K'`, `'1M'`, `'2G'`; `null` turns both off.
   * Applies to the `'threads'` backend.
   * @default '1M'
   * @example
   * new Parallel({ maxNbytes: '64M' }); // offload only values above 64 MiB
   * new Parallel({ maxNbytes: null }); // plain structured clone
   */
  maxNbytes?: number | string | null;
  /**
   * Where large arguments go: `'shared'` (SharedArrayBuffers, zero-copy for typed
   * arrays), `'file'` (a FileStore in `tempFolder`), or a Store of yours (left open).
   * @default 'shared'
   * @example
   * new Parallel({ store: 'file', tempFolder: '/scratch/tmp' });
   */
  store?: OffloadStore;
  /**
   * Directory for `store: 'file'`.
   * @default a private temporary directory, removed on close
   * @example
   * new Parallel({ store: 'file', tempFolder: '/scratch/tmp' });
   */
  tempFolder?: string;
  /**
   * Resource limits for each worker thread (e.g. `{ maxOldGenerationSizeMb: 256 }`). Limits too small for a
   * worker to start are refused: `maxOldGenerationSizeMb` below 16, `stackSizeMb` below 1, `codeRangeSizeMb` above 4096.
   * @default Node's own limits
   * @example
   * new Parallel({ resourceLimits: { maxOldGenerationSizeMb: 512 } }); // a task past it fails with WorkerCrashedError
   */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number; codeRangeSizeMb?: number; stackSizeMb?: number };
}

export interface ResolvedOptions {
  readonly nJobs: number;
  readonly backend: 'threads' | 'sequential' | Backend;
  readonly batchSize: 'auto' | number;
  readonly preDispatch: number;
  readonly timeout: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly verbose: number;
  readonly progress: boolean | ProgressCallback;
  readonly errors: 'raise' | 'settle';
  readonly resourceLimits: ParallelOptions['resourceLimits'];
  readonly maxNbytes: number | null;
  readonly store: OffloadStore;
  readonly tempFolder: string | undefined;
}

// Typed as a record of every key, so an option added to ParallelOptions and forgotten here fails to compile.
const OPTION_KEYS = Object.keys({
  nJobs: 1,
  backend: 1,
  batchSize: 1,
  preDispatch: 1,
  timeout: 1,
  signal: 1,
  verbose: 1,
  progress: 1,
  errors: 1,
  maxNbytes: 1,
  store: 1,
  tempFolder: 1,
  resourceLimits: 1,
} satisfies Record<keyof ParallelOptions, 1>);

const config = new AsyncLocalStorage<ParallelOptions>();

/**
 * Runs `fn` with `options` as the defaults of every `Parallel` and `parallel()`
 * created inside it, across awaits, like joblib's `parallel_config`.
 * Options given to a `Parallel` explicitly still win. They are checked here,
 * on entry, as a `Parallel` would check them.
 *
 * @example
 * await parallelConfig({ nJobs: 2, verbose: 1 }, () => parallel(tasks));
 */
export function parallelConfig<T>(options: ParallelOptions, fn: () => T): T {
  resolveOptions(options);
  if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${describeValue(fn)}`);
  return config.run({ ...config.getStore(), ...definedOnly(options) }, fn);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** joblib's rule: negative counts are relative to the number of cores, never below one. */
export function resolveNJobs(nJobs: unknown, cores = os.availableParallelism()): number {
  if (typeof nJobs !== 'number' || !Number.isInteger(nJobs) || nJobs === 0) {
    throw new RangeError(`Expected \`nJobs\` to be a non-zero integer, got ${describeValue(nJobs)}`);
  }
  return nJobs > 0 ? nJobs : Math.max(cores + 1 + nJobs, 1);
}

/** Node's timers hold at most a signed 32-bit delay; longer ones fire after 1 ms, with a warning. */
const MAX_TIMEOUT = 2 ** 31 - 1;

type ResourceLimits = NonNullable<ParallelOptions['resourceLimits']>;

// Bounds measured by starting workers in a child process (Node 20; the tests run a pool at the minimums):
// a skein worker holds ~7 MB of old generation after its first batch and dies out of memory at 7 MB;
// a stack of 0.2 MB overflows in Node's bootstrap and aborts the whole process (exit code 6), and
// 0.25 MB is too little for a skein worker to run a batch; V8 reserves the whole code range when
// the worker starts, and 1e8 MB aborts the process. Young generation and code range have no
// lower bound that matters: V8 raises small values to its own minimum.
const RESOURCE_LIMITS: Record<keyof ResourceLimits, { min?: number; max?: number }> = {
  maxOldGenerationSizeMb: { min: 16 },
  maxYoungGenerationSizeMb: {},
  codeRangeSizeMb: { max: 4096 },
  stackSizeMb: { min: 1 },
};

function resolveResourceLimits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`resourceLimits\` to be an object, got ${describeValue(value)}`);
  }
  checkKnownOptions(value, Object.keys(RESOURCE_LIMITS), 'resourceLimits.');
  for (const [key, limit] of Object.entries(value)) {
    const bounds = RESOURCE_LIMITS[key as keyof ResourceLimits] as { min?: number; max?: number };
    if (limit === undefined) continue;
    const { min, max } = bounds;
    if (typeof limit !== 'number' || !Number.isFinite(limit) || limit <= 0 || (min !== undefined && limit < min) || (max !== undefined && limit > max)) {
      const expected =
        min !== undefined
          ? `a number of MB >= ${min} (less can kill workers, or the whole process, as they start)`
          : max !== undefined
            ? `a number of MB > 0 and <= ${max} (V8 reserves all of it when a worker starts)`
            : 'a positive number of MB';
      throw new RangeError(`Expected \`resourceLimits.${key}\` to be ${expected}, got ${describeValue(limit)}`);
    }
  }
  return value as ResourceLimits;
}

/**
 * True in a worker of a skein pool (its workerData carries the marker), not in
 * a worker thread of the user's own: a `Parallel` there runs inline, so a task
 * module that starts a run when imported cannot start pools inside pools.
 */
export function inPoolWorker(): boolean {
  return !isMainThread && typeof workerData === 'object' && workerData !== null && (workerData as { skeinPoolWorker?: unknown }).skeinPoolWorker === true;
}

function resolvePreDispatch(value: unknown, nJobs: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  if (typeof value === 'string') {
    if (value === 'all') return Number.POSITIVE_INFINITY;
    const m = /^\s*(\d+(?:\.\d+)?)\s*\*\s*nJobs\s*$/.exec(value) ?? /^\s*nJobs\s*\*\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
    if (m) return Math.max(1, Math.round(Number(m[1]) * nJobs));
    if (/^\s*nJobs\s*$/.test(value)) return nJobs;
  }
  throw new RangeError(`Expected \`preDispatch\` to be a positive integer, 'all' or an expression like '2*nJobs', got ${describeValue(value)}`);
}

export function resolveOptions(explicit: ParallelOptions): ResolvedOptions {
  if (typeof explicit !== 'object' || explicit === null) {
    throw new TypeError(`Expected options to be an object, got ${describeValue(explicit)}`);
  }
  checkKnownOptions(explicit, OPTION_KEYS);
  const o: ParallelOptions = { ...config.getStore(), ...definedOnly(explicit) };
  const nJobs = resolveNJobs(o.nJobs ?? -1);
  const backend = o.backend ?? 'threads';
  if (backend !== 'threads' && backend !== 'sequential' && (typeof backend !== 'object' || backend === null || typeof backend.runBatch !== 'function')) {
    throw new TypeError(`Expected \`backend\` to be 'threads', 'sequential' or a Backend object, got ${describeValue(backend)}`);
  }
  const batchSize = o.batchSize ?? 'auto';
  if (batchSize !== 'auto' && !(typeof batchSize === 'number' && Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`Expected \`batchSize\` to be 'auto' or a positive integer, got ${describeValue(batchSize)}`);
  }
  const timeout = o.timeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && timeout <= MAX_TIMEOUT)) {
    throw new RangeError(`Expected \`timeout\` to be a positive number of milliseconds up to ${MAX_TIMEOUT} (about 24.8 days), got ${describeValue(timeout)}`);
  }
  const verbose = o.verbose ?? 0;
  if (typeof verbose !== 'number' || !(verbose >= 0)) {
    throw new RangeError(`Expected \`verbose\` to be a number >= 0, got ${describeValue(verbose)}`);
  }
  const progress = o.progress ?? false;
  if (typeof progress !== 'boolean' && typeof progress !== 'function') {
    throw new TypeError(`Expected \`progress\` to be a boolean or a function, got ${describeValue(progress)}`);
  }
  const errors = o.errors ?? 'raise';
  if (errors !== 'raise' && errors !== 'settle') {
    throw new TypeError(`Expected \`errors\` to be 'raise' or 'settle', got ${describeValue(errors)}`);
  }
  const signal = o.signal;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describeValue(signal)}`);
  }
  const maxNbytes = parseNbytes(o.maxNbytes === undefined ? '1M' : o.maxNbytes);
  const store = o.store ?? 'shared';
  if (
    store !== 'shared' &&
    store !== 'file' &&
    (typeof store !== 'object' || store === null || typeof store.putSync !== 'function' || typeof store.proxyFromKey !== 'function')
  ) {
    throw new TypeError(`Expected \`store\` to be 'shared', 'file' or a Store, got ${describeValue(store)}`);
  }
  if (o.tempFolder !== undefined && (typeof o.tempFolder !== 'string' || o.tempFolder === '')) {
    throw new TypeError(`Expected \`tempFolder\` to be a directory path, got ${describeValue(o.tempFolder)}`);
  }
  const resourceLimits = resolveResourceLimits(o.resourceLimits);
  // joblib runs nested parallel calls sequentially in its workers; here it also
  // stops a task module that runs parallel() when imported from starting pools without end.
  const inline = backend === 'sequential' || (backend === 'threads' && (nJobs === 1 || inPoolWorker()));
  return {
    maxNbytes,
    store,
    tempFolder: o.tempFolder,
    nJobs: inline ? 1 : nJobs,
    backend: inline ? 'sequential' : backend,
    batchSize,
    // With a backend object, `nJobs` in the expression is its concurrency: the workers the run keeps busy.
    preDispatch: resolvePreDispatch(o.preDispatch ?? '2*nJobs', typeof backend === 'object' && Number.isSafeInteger(backend.concurrency) && backend.concurrency > 0 ? backend.concurrency : nJobs),
    timeout,
    signal,
    verbose,
    progress,
    errors,
    resourceLimits,
  };
}
