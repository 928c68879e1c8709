import { Piscina } from 'piscina';
import type { BatchResultWire, BatchClockWire } from '../protocol/messages.js';
import { CLOCK_OFFSET, CLOCK_SEQ, CLOCK_SLOT_INTS, CLOCK_START } from '../protocol/messages.js';
import { decodeError, registerErrorClass } from '../ship/wire-error.js';
import { SerializationError } from '../serialize/errors.js';
import { ClosureCaptureError, UnshippableFunctionError } from '../ship/errors.js';
import { TaskModuleError } from '../ship/describe.js';
import { findCloneFailure, uncloneableError } from '../ship/cloneable.js';
import type { Backend, BatchOutcome, BatchRequest, RunBatchOptions } from './backend.js';
import { CANCEL_UNSTARTED } from './backend.js';
import { TaskTimeoutError, WorkerCrashedError } from './errors.js';
import type { ParallelOptions } from './options.js';

// Errors a worker may raise that callers check with instanceof.
for (const ctor of [SerializationError, ClosureCaptureError, UnshippableFunctionError, TaskModuleError, TaskTimeoutError, WorkerCrashedError]) {
  registerErrorClass(ctor);
}

const WORKER = new URL('../../workers/worker.js', import.meta.url);
const SLOTS_PER_BUFFER = 64;

/** Reusable slots of shared memory where workers note which task they are running. */
class Clocks {
  readonly origin = Date.now();
  #free: BatchClockWire[] = [];

  take(): BatchClockWire {
    let clock = this.#free.pop();
    if (clock === undefined) {
      const buffer = new SharedArrayBuffer(SLOTS_PER_BUFFER * CLOCK_SLOT_INTS * 4);
      for (let slot = SLOTS_PER_BUFFER - 1; slot > 0; slot--) this.#free.push({ buffer, slot, origin: this.origin });
      clock = { buffer, slot: 0, origin: this.origin };
    }
    new Int32Array(clock.buffer, clock.slot * CLOCK_SLOT_INTS * 4, CLOCK_SLOT_INTS).fill(0);
    return clock;
  }

  give(clock: BatchClockWire): void {
    this.#free.push(clock);
  }
}

function ticksOf(clock: BatchClockWire): Int32Array {
  return new Int32Array(clock.buffer, clock.slot * CLOCK_SLOT_INTS * 4, CLOCK_SLOT_INTS);
}

/** Offset of the running task and how long it has run, or undefined if the batch has not started. */
function readClock(clock: BatchClockWire): { offset: number; elapsed: number } | undefined {
  const ticks = ticksOf(clock);
  for (;;) {
    const seq = Atomics.load(ticks, CLOCK_SEQ);
    if (seq === 0) return undefined;
    const offset = ticks[CLOCK_OFFSET]!;
    const start = ticks[CLOCK_START]!;
    if (Atomics.load(ticks, CLOCK_SEQ) === seq) return { offset, elapsed: Date.now() - clock.origin - start };
  }
}

/** Worker threads from a Piscina pool, one batch per worker at a time. */
export class ThreadsBackend implements Backend {
  readonly name = 'threads';
  readonly concurrency: number;
  readonly #pool: Piscina;
  readonly #clocks = new Clocks();

  constructor(options: { nJobs: number; resourceLimits?: ParallelOptions['resourceLimits'] }) {
    this.concurrency = options.nJobs;
    this.#pool = new Piscina({
      filename: WORKER.href,
      minThreads: options.nJobs,
      maxThreads: options.nJobs,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // Piscina reports worker errors on the pool as well as on the task; the
    // task's rejection is what we act on.
    this.#pool.on('error', () => {});
  }

  get threadCount(): number {
    return this.#pool.threads.length;
  }

  async runBatch(batch: BatchRequest, options: RunBatchOptions): Promise<BatchOutcome> {
    const { signal, timeout } = options;
    if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new Error('cancelled') : signal.reason;
    const clock = this.#clocks.take();
    const wire = { ...batch.toWire(), clock };
    const kill = new AbortController();
    let timedOut: TaskTimeoutError | undefined;
    let timer: NodeJS.Timeout | undefined;

    const onAbort = (): void => {
      // After another task failed, a batch already running is left to finish
      // (its result is ignored); one still queued is dropped. A user abort stops everything.
      if (signal.reason === CANCEL_UNSTARTED && readClock(clock) !== undefined) return;
      kill.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });

    if (timeout !== undefined) {
      const check = (): void => {
        const now = readClock(clock);
        if (now === undefined || now.elapsed < timeout) {
          timer = setTimeout(check, now === undefined ? timeout : Math.max(1, timeout - now.elapsed));
          return;
        }
        timedOut = new TaskTimeoutError(batch.firstIndex + now.offset, timeout);
        kill.abort(timedOut);
      };
      timer = setTimeout(check, timeout);
    }

    try {
      const result = (await this.#pool.run(wire, { signal: kill.signal })) as BatchResultWire;
      return {
        values: result.values,
        errors: result.errors.map((e) => ({ offset: e.offset, error: decodeError(e.error) })),
        durationMs: result.durationMs,
      };
    } catch (error) {
      if (timedOut) throw timedOut;
      if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new Error('cancelled') : signal.reason;
      const at = readClock(clock);
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
      signal.removeEventListener('abort', onAbort);
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

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
