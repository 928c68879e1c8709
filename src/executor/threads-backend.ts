import { Piscina } from 'piscina';
import type { BatchResultWire, BatchClockWire, ClockSetupWire, ReleaseWire, WorkerSetupWire } from '../protocol/messages.js';
import { CLOCK_CANCEL, CLOCK_OFFSET, CLOCK_SEQ, CLOCK_SLOT_INTS, CLOCK_START } from '../protocol/messages.js';
import { decodeError, registerErrorClass } from '../ship/wire-error.js';
import { restoreResults } from '../ship/results.js';
import { SerializationError } from '../serialize/errors.js';
import { ClosureCaptureError, UnshippableFunctionError } from '../ship/errors.js';
import { TaskModuleError } from '../ship/describe.js';
import { NonProxiableError, ProxyResolveError } from '../proxy/index.js';
import { KeyNotFoundError, StoreClosedError } from '../store/index.js';
import { IntegrityError, InvalidKeyError } from '../connectors/index.js';
import { findCloneFailure, uncloneableError } from '../ship/cloneable.js';
import type { Backend, BatchOutcome, BatchRequest, RunBatchOptions } from './backend.js';
import { BatchCancelledError, CANCEL_UNSTARTED } from './backend.js';
import { TaskTimeoutError, WorkerCrashedError } from './errors.js';
import type { ParallelOptions } from './options.js';

// Errors a worker may raise that callers check with instanceof.
for (const ctor of [
  SerializationError,
  ClosureCaptureError,
  UnshippableFunctionError,
  TaskModuleError,
  TaskTimeoutError,
  WorkerCrashedError,
  ProxyResolveError,
  NonProxiableError,
  KeyNotFoundError,
  StoreClosedError,
  IntegrityError,
  InvalidKeyError,
]) {
  registerErrorClass(ctor);
}

const WORKER = new URL('../../workers/entry.cjs', import.meta.url);
const SHARED_SLOTS = 1024;

interface Clock {
  readonly wire: BatchClockWire;
  readonly ticks: Int32Array;
}

/**
 * Slots of shared memory where workers note which task they are running.
 * One buffer is given to every worker at start; a batch names its slot.
 */
class Clocks {
  readonly setup: ClockSetupWire = { buffer: new SharedArrayBuffer(SHARED_SLOTS * CLOCK_SLOT_INTS * 4), origin: Date.now() };
  readonly #free: Clock[] = [];

  constructor() {
    for (let slot = SHARED_SLOTS - 1; slot >= 0; slot--) {
      this.#free.push({ wire: { slot }, ticks: new Int32Array(this.setup.buffer, slot * CLOCK_SLOT_INTS * 4, CLOCK_SLOT_INTS) });
    }
  }

  take(): Clock {
    // More batches in flight than slots is rare (many runs at once): such a
    // batch brings a buffer of its own.
    const clock = this.#free.pop() ?? Clocks.#own();
    clock.ticks.fill(0);
    return clock;
  }

  give(clock: Clock): void {
    if (clock.wire.buffer === undefined) this.#free.push(clock);
  }

  static #own(): Clock {
    const buffer = new SharedArrayBuffer(CLOCK_SLOT_INTS * 4);
    return { wire: { slot: 0, buffer }, ticks: new Int32Array(buffer) };
  }
}

/** Offset of the running task and how long it has run, or undefined if the batch has not started. */
function readClock(clock: Clock, origin: number): { offset: number; elapsed: number } | undefined {
  const { ticks } = clock;
  for (;;) {
    const seq = Atomics.load(ticks, CLOCK_SEQ);
    if (seq === 0) return undefined;
    const offset = ticks[CLOCK_OFFSET]!;
    const start = ticks[CLOCK_START]!;
    if (Atomics.load(ticks, CLOCK_SEQ) === seq) return { offset, elapsed: Date.now() - origin - start };
  }
}

interface RunState {
  readonly kill: AbortController;
  readonly clocks: Set<Clock>;
}

/** Worker threads from a Piscina pool, one batch per worker at a time. */
export class ThreadsBackend implements Backend {
  readonly name = 'threads';
  readonly concurrency: number;
  readonly #clocks = new Clocks();
  readonly #pool: Piscina;
  readonly #runs = new WeakMap<AbortSignal, RunState>();

  /** `resultBytes`: results above this size are moved back rather than copied; null to always copy. */
  constructor(options: { nJobs: number; resourceLimits?: ParallelOptions['resourceLimits']; resultBytes?: number | null }) {
    this.concurrency = options.nJobs;
    this.#pool = new Piscina({
      filename: WORKER.href,
      minThreads: options.nJobs,
      maxThreads: options.nJobs,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: {
        clock: this.#clocks.setup,
        ...(options.resultBytes == null ? {} : { resultBytes: options.resultBytes }),
      } satisfies WorkerSetupWire,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // Piscina reports worker errors on the pool as well as on the task; the
    // task's rejection is what we act on.
    this.#pool.on('error', () => {});
  }

  get threadCount(): number {
    return this.#pool.threads.length;
  }

  /**
   * One listener per run, not per batch: a user abort kills the run's batches
   * (Piscina terminates a worker whose task is aborted); a cancellation after
   * a failure only flags them, and workers skip what they have not started.
   */
  #runFor(signal: AbortSignal): RunState {
    let run = this.#runs.get(signal);
    if (run === undefined) {
      const state: RunState = { kill: new AbortController(), clocks: new Set() };
      signal.addEventListener(
        'abort',
        () => {
          if (signal.reason === CANCEL_UNSTARTED) {
            for (const clock of state.clocks) Atomics.store(clock.ticks, CLOCK_CANCEL, 1);
          } else {
            state.kill.abort(signal.reason);
          }
        },
        { once: true },
      );
      this.#runs.set(signal, state);
      run = state;
    }
    return run;
  }

  async runBatch(batch: BatchRequest, options: RunBatchOptions): Promise<BatchOutcome> {
    const { signal, timeout } = options;
    if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    const run = this.#runFor(signal);
    const clock = this.#clocks.take();
    run.clocks.add(clock);
    const origin = this.#clocks.setup.origin;
    let kill = run.kill.signal;
    let timedOut: TaskTimeoutError | undefined;
    let timer: NodeJS.Timeout | undefined;
    let unlink: (() => void) | undefined;

    if (timeout !== undefined) {
      // A timeout kills this batch's worker only: it needs a signal of its own.
      const own = new AbortController();
      const follow = (): void => own.abort(run.kill.signal.reason);
      run.kill.signal.addEventListener('abort', follow, { once: true });
      unlink = () => run.kill.signal.removeEventListener('abort', follow);
      kill = own.signal;
      const check = (): void => {
        const now = readClock(clock, origin);
        if (now === undefined || now.elapsed < timeout) {
          timer = setTimeout(check, now === undefined ? timeout : Math.max(1, timeout - now.elapsed));
          return;
        }
        timedOut = new TaskTimeoutError(batch.firstIndex + now.offset, timeout);
        own.abort(timedOut);
      };
      timer = setTimeout(check, timeout);
    }

    try {
      const result = (await this.#pool.run(batch.toWire(clock.wire), { signal: kill })) as BatchResultWire;
      if (result.cancelled) throw new BatchCancelledError();
      return {
        values: restoreResults(result.values),
        errors: result.errors.map((e) => ({ offset: e.offset, error: decodeError(e.error) })),
        durationMs: result.durationMs,
      };
    } catch (error) {
      if (timedOut) throw timedOut;
      if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
      const at = readClock(clock, origin);
      if (at === undefined) {
        // The batch never reached a worker: most likely structured clone
        // refused something the up-front check cannot see (a port, a native
        // handle). Find which task and where.
        const failure = this.#findCloneFailure(batch, error);
        if (failure) throw failure;
      }
      throw new WorkerCrashedError(batch.firstIndex + (at?.offset ?? 0), error);
    } finally {
      clearTimeout(timer);
      unlink?.();
      run.clocks.delete(clock);
      this.#clocks.give(clock);
    }
  }

  #findCloneFailure(batch: BatchRequest, cause: unknown): Error | undefined {
    for (let i = 0; i < batch.tasks.length; i++) {
      const path = findCloneFailure(batch.tasks[i]!.args, 'args');
      if (path !== undefined) {
        const error = uncloneableError({ path, reason: 'something structured clone cannot copy' }, cause);
        Object.defineProperty(error, 'taskIndex', { value: batch.firstIndex + i, writable: true, configurable: true });
        return error;
      }
    }
    const fns = batch.toWire().fns;
    const path = findCloneFailure(fns.map((f) => f.values), 'captures');
    return path === undefined ? undefined : uncloneableError({ path, reason: 'something structured clone cannot copy' }, cause);
  }

  /** Tells every worker that a run's offloaded values are evicted (`bytes` of memory no longer held here), so they let go of them now. */
  release(bytes: number): void {
    // One message per worker: with one task per worker at a time, idle workers each take one.
    const message: ReleaseWire = { release: true, bytes };
    for (let i = 0; i < this.#pool.threads.length; i++) this.#pool.run(message).catch(() => {});
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
