import type { Piscina } from 'piscina';
import type { BatchResultWire, ErrorWire, TaskErrorWire } from '../../core/wire.js';
import type { BatchClockWire, BatchMessage, ClockSetupWire, ProbeMessage, ReleaseMessage, WorkerNoticeWire, WorkerSetupWire } from './protocol.js';
import { CLOCK_CANCEL, CLOCK_OFFSET, CLOCK_SEQ, CLOCK_SLOT_INTS, CLOCK_START } from './clock.js';
import { decodeError } from '../../core/error-wire.js';
import { startPool } from './pool.js';
import { restoreResults } from '../../task/restore.js';
import { decodeOutcome } from '../../task/batch-wire.js';
import { SerializationError } from '../../serialize/errors.js';
import { ClosureCaptureError, UncaughtTaskError, UnshippableFunctionError } from '../../task/errors.js';
import { TaskModuleError } from '../../task/ship.js';
import { NonProxiableError, ProxyResolveError } from '../../proxy/index.js';
import { KeyNotFoundError, StoreClosedError } from '../../store/index.js';
import { IntegrityError, InvalidKeyError, StorageError, UnsafeDirectoryError } from '../../connectors/index.js';
import { findCloneFailure, uncloneableError } from '../../task/cloneable.js';
import type { Backend, BackendCapabilities, Batch, BatchOptions, BatchOutcome, RunContext, RunHooks } from '../backend.js';
import { BatchCancelledError, CANCEL_UNSTARTED, atOffset } from '../backend.js';
import { SharedMemoryStore } from '../../store/index.js';
import { TaskTimeoutError, WorkerCrashedError, WorkerStartError } from '../errors.js';
import type { ParallelOptions } from '../../executor/options.js';

const WORKER = new URL('./entry.cjs', import.meta.url);
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

/** A batch handed to the pool and not settled yet. */
interface InFlight {
  // Each batch has a signal of its own: Piscina adds a listener per task to
  // the signal it is given, and a run-wide one would pass the 10 listeners
  // past which Node warns (MaxListenersExceededWarning).
  readonly kill: AbortController;
  readonly clock: Clock;
}

/** A run, as `openRun` gave it to the caller: its batches in flight, its batches' tags that still take late errors, and where those go. */
interface RunState extends RunContext {
  readonly batches: Set<InFlight>;
  readonly tags: number[];
  readonly onLateError: ((taskIndex: number, error: unknown) => void) | undefined;
  closed: boolean;
}

/** Where a late error of a batch's task goes: its run's one handler, given the task's index. */
/**
 * Where an error that escapes a task of a batch goes, for as long as its run
 * lasts: the run, and the batch's task numbers rather than the batch itself,
 * whose tasks (and their arguments) are then free to go once it is done.
 */
interface LateTarget {
  readonly run: RunState;
  readonly taskIndex: (offset: number) => number;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** A batch on its way, as far as the notices its worker sent outside the reply tell. */
interface Tracker {
  readonly late: LateTarget;
  /** Settle mode: each task's outcome, sent as soon as the task was over. */
  readonly outcomes: Map<number, Outcome>;
  /** Gathered outcomes (`Batch.gatherMs`), as they came; `early` when they went to `onEarly` already. */
  readonly gathered: { readonly from: number; readonly values: unknown[]; readonly errors: TaskErrorWire[]; early?: true }[];
  readonly onEarly: BatchOptions['onEarly'];
  received: number;
  /** Wakes the batch once `received` reaches `want`. */
  want: number;
  wake: (() => void) | undefined;
  /** The worker could not post its reply and exited. */
  replyFailed: Error | undefined;
}

function isNotice(message: unknown): message is WorkerNoticeWire {
  return typeof message === 'object' && message !== null && '__skeinNotice' in message;
}

/** What Piscina's 'workerCreate'/'workerDestroy' events give (its PiscinaWorker): a fresh object each time, live getters. */
interface PoolWorker {
  readonly destroyed: boolean;
}

const PROBE: ProbeMessage = { type: 'probe' };

/** Worker threads from a Piscina pool, one batch per worker at a time. */
export class ThreadsBackend implements Backend {
  readonly name = 'threads';
  readonly concurrency: number;
  readonly capabilities: BackendCapabilities = { sharesMemory: true, defaultStore: () => new SharedMemoryStore() };
  readonly #clocks = new Clocks();
  readonly #pool: Piscina;
  readonly #inFlight = new Set<InFlight>();
  readonly #resourceLimits: ParallelOptions['resourceLimits'];
  // Workers that died before running a batch, since a batch last came back.
  #startFailures = 0;
  #probe: AbortController | undefined;
  #lastError: unknown;
  readonly #started = new Set<PoolWorker>();
  #closing = false;
  // Set when waiting batches were failed for want of a worker: the rest of
  // that run fails at once rather than killing workers batch after batch; a new run tries again.
  #broken: WorkerStartError | undefined;
  /** Late-error handlers by batch tag, while their run lasts: errors that escape a task after its batch name the batch. */
  readonly #late = new Map<number, LateTarget>();
  readonly #batches = new Map<number, Tracker>();
  #nextId = 1;
  readonly #onWorkerError: (error: Error) => void;

  /**
   * `resultBytes`: results above this size are moved back rather than copied; null to always copy.
   * `onWorkerError`: takes errors that escaped a task and belong to no run still going.
   */
  constructor(options: {
    nJobs: number;
    resourceLimits?: ParallelOptions['resourceLimits'];
    resultBytes?: number | null;
    onWorkerError?: (error: Error) => void;
  }) {
    this.concurrency = options.nJobs;
    this.#resourceLimits = options.resourceLimits;
    this.#onWorkerError = options.onWorkerError ?? ((error) => process.emitWarning(String(error.message), String(error.name)));
    this.#pool = startPool({
      filename: WORKER.href,
      minThreads: options.nJobs,
      maxThreads: options.nJobs,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      // An idle worker keeps its event loop turning ('sync' blocks it in
      // Atomics.wait), so what a finished task left behind still runs and an
      // error it throws is reported rather than frozen until the next task.
      atomics: 'async',
      // Piscina's wait and run time histograms, which skein does not read: a histogram record per batch.
      recordTiming: false,
      workerData: {
        skeinPoolWorker: true,
        clock: this.#clocks.setup,
        ...(options.resultBytes == null ? {} : { resultBytes: options.resultBytes }),
      } satisfies WorkerSetupWire,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // Piscina emits 'error' for a worker that dies holding no task (one that
    // dies running a batch rejects it); a worker may also exit as it starts
    // without any error, so deaths are counted on 'workerDestroy' below.
    this.#pool.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    // 'workerCreate' comes once a worker has loaded the entry (at once for the
    // first ones, which Piscina takes as ready): one destroyed before that never started.
    this.#pool.on('workerCreate', (worker: PoolWorker) => {
      this.#started.add(worker);
    });
    this.#pool.on('workerDestroy', () => {
      if (this.#closing) return;
      let started = false;
      for (const worker of this.#started) {
        if (worker.destroyed) {
          this.#started.delete(worker);
          started = true;
        }
      }
      if (!started) this.#startFailures++;
      // After Piscina has removed the worker and rejected its tasks.
      setImmediate(() => this.#unstall());
    });
    this.#pool.on('message', (message: unknown) => {
      if (isNotice(message)) this.#onNotice(message);
    });
  }

  /**
   * Piscina replaces a worker that dies at start only when a task is posted
   * (and never again once one has died so: piscina/dist/index.js `_onError`),
   * so batches queued while no worker is alive would wait for ever. A probe
   * makes it start one; once a worker per slot (at least 3) has died at start
   * with no batch coming back, the waiting batches fail instead.
   */
  #unstall(): void {
    if (this.#closing || this.#pool.threads.length > 0 || this.#inFlight.size === 0) return;
    this.#probe?.abort();
    this.#probe = undefined;
    if (this.#startFailures < Math.max(3, this.concurrency)) {
      const probe = new AbortController();
      this.#probe = probe;
      this.#pool.run(PROBE, { signal: probe.signal }).then(
        () => {
          this.#startFailures = 0;
        },
        () => {},
      );
      return;
    }
    const failure = new WorkerStartError(this.#startFailures, this.#resourceLimits, this.#lastError);
    this.#broken = failure;
    // No worker is alive, so none of these has started.
    for (const batch of this.#inFlight) batch.kill.abort(failure);
  }

  #onNotice(notice: WorkerNoticeWire): void {
    switch (notice.__skeinNotice) {
      case 'outcomes': {
        const tracker = this.#batches.get(notice.tag);
        if (tracker === undefined) return;
        tracker.received++;
        tracker.gathered.push(notice);
        if (tracker.onEarly !== undefined) this.#handEarly(tracker, tracker.gathered.at(-1)!);
        if (tracker.received >= tracker.want) tracker.wake?.();
        return;
      }
      case 'outcome': {
        const tracker = this.#batches.get(notice.tag);
        // Always found: a worker sends a batch's notices before its reply.
        if (tracker === undefined) return;
        tracker.received++;
        if (notice.fault && tracker.gathered.length > 0 && notice.error !== undefined && this.#faultGathered(tracker, notice.offset, notice.error)) {
          if (tracker.received >= tracker.want) tracker.wake?.();
          return;
        }
        const outcome: Outcome =
          notice.error === undefined ? { ok: true, value: restoreResults([notice.value])[0] } : { ok: false, error: decodeError(notice.error) };
        const before = tracker.outcomes.get(notice.offset);
        // A task has one outcome: a second error from it is reported on its own.
        if (notice.fault && before !== undefined && !before.ok) this.#lateError(tracker.late, notice.offset, (outcome as { error: Error }).error);
        else tracker.outcomes.set(notice.offset, outcome);
        if (tracker.received >= tracker.want) tracker.wake?.();
        return;
      }
      case 'fault': {
        const error = decodeError(notice.error);
        const target = notice.tag === undefined ? undefined : this.#late.get(notice.tag);
        if (notice.offset !== undefined) this.#lateError(target, notice.offset, error);
        else this.#onWorkerError(error);
        return;
      }
      case 'reply-failed': {
        const tracker = this.#batches.get(notice.tag);
        if (tracker) tracker.replyFailed = atOffset(decodeError(notice.error), notice.offset);
        return;
      }
    }
  }

  /** Gathered outcomes go to whoever waits on them now; the batch's outcome will have empty slots for them. */
  #handEarly(tracker: Tracker, chunk: Tracker['gathered'][number]): void {
    chunk.early = true;
    const values = restoreResults(chunk.values);
    let e = 0;
    for (let k = 0; k < values.length; k++) {
      const offset = chunk.from + k;
      const error = chunk.errors[e];
      if (error !== undefined && error.offset === offset) {
        e++;
        tracker.onEarly!(offset, false, decodeError(error.error));
      } else {
        tracker.onEarly!(offset, true, values[k]);
      }
    }
  }

  /** An error escaped a task whose gathered outcome came already: it fails the task instead, or is reported on its own if the task had failed. */
  #faultGathered(tracker: Tracker, offset: number, error: ErrorWire): boolean {
    const chunk = tracker.gathered.find((c) => offset >= c.from && offset < c.from + c.values.length);
    if (chunk === undefined) return false;
    // Its outcome is with the caller already, or it had failed: the error is reported on its own.
    if (chunk.early || chunk.errors.some((e) => e.offset === offset)) {
      this.#lateError(tracker.late, offset, decodeError(error));
      return true;
    }
    chunk.values[offset - chunk.from] = undefined;
    const at = chunk.errors.findIndex((e) => e.offset > offset);
    chunk.errors.splice(at < 0 ? chunk.errors.length : at, 0, { offset, error });
    return true;
  }

  #lateError(target: LateTarget | undefined, offset: number, error: Error): void {
    const handler = target === undefined || target.run.closed ? undefined : target.run.onLateError;
    if (handler) handler(target!.taskIndex(offset), error);
    else this.#onWorkerError(error);
  }

  /**
   * A run's context: a user abort kills the run's batches (Piscina
   * terminates a worker whose task is aborted); a cancellation after a
   * failure only flags them, and workers skip what they have not started.
   */
  openRun(hooks: RunHooks = {}): RunContext {
    // A new run tries workers again.
    this.#broken = undefined;
    const late = this.#late;
    const run: RunState = {
      batches: new Set(),
      tags: [],
      onLateError: hooks.onLateError,
      closed: false,
      cancel() {
        for (const batch of run.batches) Atomics.store(batch.clock.ticks, CLOCK_CANCEL, 1);
      },
      abort(reason) {
        for (const batch of run.batches) batch.kill.abort(reason);
      },
      close() {
        // What comes later for the run goes to onWorkerError.
        run.closed = true;
        for (const tag of run.tags) late.delete(tag);
        run.tags.length = 0;
      },
    };
    return run;
  }

  /** A run for a batch handed over without one (a caller that does not use `openRun`), ended by the batch's signal. */
  #runOf(options: BatchOptions): RunState {
    if (options.run !== undefined) return options.run as RunState;
    const run = this.openRun() as RunState;
    options.signal.addEventListener(
      'abort',
      () => {
        if (options.signal.reason === CANCEL_UNSTARTED) run.cancel();
        else run.abort(options.signal.reason);
        run.close();
      },
      { once: true },
    );
    return run;
  }

  async runBatch(batch: Batch, options: BatchOptions): Promise<BatchOutcome> {
    const { signal, timeout } = options;
    if (signal.aborted) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
    const run = this.#runOf(options);
    if (this.#broken) throw this.#broken;
    const clock = this.#clocks.take();
    const kill = new AbortController();
    const inFlight: InFlight = { kill, clock };
    run.batches.add(inFlight);
    this.#inFlight.add(inFlight);
    const origin = this.#clocks.setup.origin;
    let timedOut: TaskTimeoutError | undefined;
    let timer: NodeJS.Timeout | undefined;

    if (timeout !== undefined) {
      const check = (): void => {
        const now = readClock(clock, origin);
        if (now === undefined || now.elapsed < timeout) {
          timer = setTimeout(check, now === undefined ? timeout : Math.max(1, timeout - now.elapsed));
          return;
        }
        timedOut = new TaskTimeoutError(undefined, timeout, now.offset);
        kill.abort(timedOut);
      };
      timer = setTimeout(check, timeout);
    }

    const tag = this.#nextId++;
    const first = batch.taskIndex(0);
    const ids = batch.taskIds;
    const late: LateTarget = { run, taskIndex: ids === undefined ? (offset) => first + offset : (offset) => ids[offset]! };
    if (run.onLateError !== undefined && !run.closed) {
      this.#late.set(tag, late);
      run.tags.push(tag);
    }
    const tracker: Tracker = {
      late,
      outcomes: new Map(),
      gathered: [],
      onEarly: batch.stopOnError ? undefined : options.onEarly,
      received: 0,
      want: Number.POSITIVE_INFINITY,
      wake: undefined,
      replyFailed: undefined,
    };
    this.#batches.set(tag, tracker);
    const started = performance.now();
    try {
      const ids = batch.taskIds;
      const message: BatchMessage = { type: 'batch', batch: batch.wire(), clock: clock.wire, tag, first: batch.taskIndex(0), ...(ids === undefined ? {} : { ids }) };
      if (batch.gatherMs !== undefined && !batch.stopOnError) (message as { gather?: number }).gather = batch.gatherMs;
      const result = (await this.#pool.run(message, { signal: kill.signal })) as BatchResultWire;
      this.#startFailures = 0;
      this.#broken = undefined;
      if (result.cancelled) throw new BatchCancelledError();
      if (result.published !== undefined) {
        // Posted before the reply but on another port: they may still be on their way.
        if (tracker.received < result.published) {
          // The pool unrefs a worker once it is idle, and a message still on
          // its way from an unref'd worker does not keep the process alive:
          // without a handle of our own the process could exit with the run
          // unsettled (exit code 13 under a top-level await).
          const alive = setInterval(() => {}, 2 ** 30);
          try {
            await new Promise<void>((resolve) => {
              tracker.want = result.published!;
              tracker.wake = resolve;
            });
          } finally {
            clearInterval(alive);
          }
        }
        if (result.from !== undefined) return decodeOutcome(this.#joinGathered(tracker, result));
        return this.#collect(batch, tracker, result.durationMs);
      }
      return decodeOutcome(result);
    } catch (error) {
      if (signal.aborted && !timedOut) throw signal.reason === CANCEL_UNSTARTED ? new BatchCancelledError() : signal.reason;
      if (kill.signal.reason instanceof WorkerStartError) throw kill.signal.reason;
      if (tracker.replyFailed) throw tracker.replyFailed;
      const at = readClock(clock, origin);
      if (at === undefined && !timedOut) {
        // The batch never reached a worker: most likely structured clone
        // refused something the up-front check cannot see (a port, a native
        // handle). Find which task and where.
        const failure = this.#findCloneFailure(batch, error);
        if (failure) throw failure;
      }
      const failure = timedOut ?? new WorkerCrashedError(undefined, error, at?.offset ?? 0);
      // Settle mode: the tasks that finished before the worker died sent their outcomes already.
      if (!batch.stopOnError && at !== undefined) return this.#collect(batch, tracker, performance.now() - started, failure);
      throw failure;
    } finally {
      this.#batches.delete(tag);
      clearTimeout(timer);
      run.batches.delete(inFlight);
      this.#inFlight.delete(inFlight);
      this.#clocks.give(clock);
    }
  }

  /** A gathered batch's result whole: the outcomes that came in notices, then those in the reply. */
  #joinGathered(tracker: Tracker, result: BatchResultWire): BatchResultWire {
    if (tracker.gathered.length === 0) return result;
    const values: unknown[] = [];
    const errors: TaskErrorWire[] = [];
    // Notices of one batch come in order, on one port. Those handed over early leave empty slots.
    for (const chunk of tracker.gathered) {
      if (chunk.early) {
        for (let k = 0; k < chunk.values.length; k++) values.push(undefined);
        continue;
      }
      for (const v of chunk.values) values.push(v);
      for (const e of chunk.errors) errors.push(e);
    }
    for (const v of result.values) values.push(v);
    for (const e of result.errors) errors.push(e);
    return { values, errors, durationMs: result.durationMs };
  }

  /**
   * A settle-mode batch's outcome from the notices its worker sent. With
   * `failure` (the worker died running task `failure.taskIndex`), tasks that
   * sent nothing never ran: they are `unfinished`, to run again.
   */
  #collect(batch: Batch, tracker: Tracker, durationMs: number, failure?: TaskTimeoutError | WorkerCrashedError): BatchOutcome {
    const values: unknown[] = [];
    const errors: { offset: number; error: unknown }[] = [];
    const unfinished: number[] = [];
    const bad = failure?.offset ?? -1;
    // Gathered outcomes that came before the worker died; the rest died with it.
    for (const chunk of tracker.gathered) {
      // Handed over early: a slot only (the caller has it).
      const restored = chunk.early ? chunk.values.map(() => undefined) : restoreResults(chunk.values);
      for (let k = 0; k < restored.length; k++) tracker.outcomes.set(chunk.from + k, { ok: true, value: restored[k] });
      for (const e of chunk.errors) tracker.outcomes.set(e.offset, { ok: false, error: decodeError(e.error) });
    }
    for (let i = 0; i < batch.size; i++) {
      const outcome = tracker.outcomes.get(i);
      if (outcome === undefined) {
        if (i === bad) errors.push({ offset: i, error: failure });
        else unfinished.push(i);
        values.push(undefined);
      } else if (outcome.ok) {
        values.push(outcome.value);
      } else {
        errors.push({ offset: i, error: outcome.error });
        values.push(undefined);
      }
    }
    // The worker died after its task was over (a callback it left called process.exit): no task to fail with it.
    if (failure !== undefined && bad >= 0 && tracker.outcomes.has(bad)) this.#onWorkerError(failure);
    return unfinished.length > 0 ? { values, errors, durationMs, unfinished } : { values, errors, durationMs };
  }

  #findCloneFailure(batch: Batch, cause: unknown): Error | undefined {
    const { local } = batch;
    for (let i = 0; i < local.length; i++) {
      const path = findCloneFailure(local[i]!.args, 'args');
      if (path !== undefined) return atOffset(uncloneableError({ path, reason: 'something structured clone cannot copy' }, cause), i);
    }
    const fns = batch.wire().fns;
    const path = findCloneFailure(fns.map((f) => f.values), 'captures');
    return path === undefined ? undefined : uncloneableError({ path, reason: 'something structured clone cannot copy' }, cause);
  }

  /** Tells every worker that a run's offloaded values (`bytes` of them) are evicted, so they let go of them now. */
  release(bytes: number): void {
    // One message per worker: with one task per worker at a time, idle workers each take one.
    const message: ReleaseMessage = { type: 'release', bytes };
    for (let i = 0; i < this.#pool.threads.length; i++) this.#pool.run(message).catch(() => {});
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#probe?.abort();
    await this.#pool.destroy();
  }
}
