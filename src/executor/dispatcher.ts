import { SerializationError } from '../serialize/errors.js';
import type { Backend, Batch, BatchOutcome, LocalCall, RunContext } from '../backends/backend.js';
import { CANCEL_UNSTARTED } from '../backends/backend.js';
import { encodeBatch, encodeCalls, type MappedCalls } from '../task/batch-wire.js';
import type { BatchWire, KeepWire } from '../core/wire.js';
import type { Delayed } from '../task/delayed.js';
import { TaskTimeoutError, WorkerCrashedError } from '../backends/errors.js';
import type { Offloader } from '../store/offload.js';
import type { ProgressSink } from './progress.js';

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Tasks sent together, each named by an id its feeder chose: consecutive
 * from `first` (a loop's slice), or listed in `ids` (ready graph nodes).
 * A loop's unit may hold `calls` (`map()`): then it is sent as they are, and
 * `tasks` is read only where a task is needed on its own (run again, run here).
 */
export type Unit = (
  | { readonly tasks: readonly Delayed[]; readonly first: number; readonly ids?: undefined; readonly calls?: MappedCalls | undefined }
  | { readonly tasks: readonly Delayed[]; readonly ids: readonly number[]; readonly calls?: undefined }
) & {
  /** Large results stay in this store where they were made (graph intermediates). */
  readonly keep?: KeepWire | undefined;
  /**
   * Tasks fed the result of an earlier task of the unit (a chain of graph
   * nodes, see `BatchWire.links`). Such a unit is never split to run its
   * tasks again: what a dead worker left unfinished depends on the task that
   * killed it, and its feeder reports it so.
   */
  readonly links?: BatchWire['links'];
  /** Linked tasks whose large results stay in the batch (see `BatchWire.spent`). */
  readonly spent?: BatchWire['spent'];
  /** Outcomes may travel gathered (see `Batch.gatherMs`). */
  readonly gatherMs?: number | undefined;
};

function sizeOf(unit: Unit): number {
  return unit.calls?.items.length ?? unit.tasks.length;
}

function idOf(unit: Unit, offset: number): number {
  return unit.ids === undefined ? unit.first + offset : unit.ids[offset]!;
}

function single(unit: Unit, offset: number): Unit {
  return { tasks: [unit.tasks[offset]!], first: idOf(unit, offset), keep: unit.keep };
}

export interface DispatcherSettings {
  readonly backend: Backend;
  /** Units in flight at most; more wait in the dispatcher's queue. */
  readonly limit: number;
  readonly timeout: number | undefined;
  /** Settle mode: a failing task is an outcome, not the end of everything. */
  readonly settle: boolean;
  readonly progress: ProgressSink;
  /** How many tasks there are in all, once known (for progress). */
  readonly total: () => number | undefined;
  /** Each task's outcome by id, in completion order. */
  readonly emit: (id: number, outcome: Outcome) => void;
  /** Takes a fulfilled task's value in place of `emit` (no outcome object per task). */
  readonly emitValue?: ((id: number, value: unknown) => void) | undefined;
  /**
   * Takes a whole unit of consecutive ids that all fulfilled, `values[i]`
   * being task `first + i`'s, instead of one `emit` per task (an object and
   * a call per task, most of what a trivial task costs the caller).
   */
  readonly emitValues?: ((first: number, values: readonly unknown[]) => void) | undefined;
  /** A unit ran whole in `durationMs` (auto batching learns from it). */
  readonly onUnitDone?: (size: number, durationMs: number) => void;
  /** There is room for more units, or the last one just finished. */
  readonly onRoom: () => void;
  /** The first fatal error: everything is already stopped. */
  readonly onFail: (error: unknown) => void;
  /** Replaces large arguments with store references before dispatch. */
  readonly offloader?: Offloader | undefined;
  /**
   * Settle mode: turns task `id`, already emitted as fulfilled, into a
   * rejection with `error` (a callback it left behind threw). False when
   * that can no longer be done (the consumer has the value already).
   */
  readonly revise?: ((id: number, error: unknown) => boolean) | undefined;
  /** Takes errors that escaped a task and that cannot be reported as that task's outcome. */
  readonly workerError?: ((error: unknown) => void) | undefined;
  /**
   * Settle mode: tasks left without an outcome by a worker that died (they
   * never ran, or their outcome was lost with it), after the unit's other
   * outcomes were emitted. The feeder submits again what it still needs.
   * Without it they run again one by one (and a linked unit's, which only
   * the feeder can order, are dropped).
   */
  readonly onLost?: ((ids: readonly number[]) => void) | undefined;
}

/** A unit as a backend sees it: encoded on first need, once. */
class BatchRequest implements Batch {
  readonly size: number;
  readonly stopOnError: boolean;
  readonly gatherMs: number | undefined;
  readonly #unit: Unit;
  #wire: BatchWire | undefined;

  /** `tasks`: the unit's tasks as the offloader left them; undefined for the unit's own. */
  constructor(unit: Unit, tasks: readonly Delayed[] | undefined, stopOnError: boolean) {
    this.#unit = tasks === undefined || tasks === unit.tasks ? unit : { ...unit, tasks, calls: undefined };
    this.size = sizeOf(this.#unit);
    this.stopOnError = stopOnError;
    this.gatherMs = unit.gatherMs;
  }

  wire(): BatchWire {
    const { calls } = this.#unit;
    return (this.#wire ??= calls ? encodeCalls(calls, this.stopOnError) : encodeBatch(this.#unit.tasks, this.stopOnError, this.#unit.keep, this.#unit.links, this.#unit.spent));
  }

  get local(): readonly LocalCall[] {
    const { calls } = this.#unit;
    if (calls) return calls.items.map((item) => ({ fn: calls.shipped.local, args: [item] }));
    return this.#unit.tasks.map((t) => ({ fn: t.shipped.local, args: t.args }));
  }

  taskIndex(offset: number): number {
    return idOf(this.#unit, offset);
  }

  get taskIds(): readonly number[] | undefined {
    return this.#unit.ids;
  }
}

/** An error a backend raised for one task of a unit names it by offset: give it the task's id (timeouts and crashes are reworded with it). */
function located(error: unknown, unit: Unit): unknown {
  if (error instanceof TaskTimeoutError && error.offset !== undefined && error.taskIndex < 0) {
    return new TaskTimeoutError(idOf(unit, error.offset), error.timeout, error.offset);
  }
  if (error instanceof WorkerCrashedError && error.offset !== undefined && error.taskIndex < 0) {
    return new WorkerCrashedError(idOf(unit, error.offset), error.cause, error.offset);
  }
  if (typeof error === 'object' && error !== null && typeof (error as { offset?: unknown }).offset === 'number' && !Object.hasOwn(error, 'taskIndex')) {
    return withTaskIndex(error, idOf(unit, (error as { offset: number }).offset));
  }
  return error;
}

export function withTaskIndex(error: unknown, taskIndex: number): unknown {
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
 * Runs units of tasks keyed by id on a backend, whoever feeds them (a loop's
 * source, a graph's ready nodes): at most `limit` in flight, fail-fast or
 * settle, timeouts, cancellation, tasks of a dead worker run again, and
 * progress. It knows nothing of where units come from or when there are no
 * more: its feeder ends it with `close()` or `stop()`.
 */
export class Dispatcher {
  readonly #s: DispatcherSettings;
  readonly #queue: Unit[] = [];
  readonly #inFlight = new Set<Unit>();
  /** Units whose outcomes may come early, with those that did. */
  readonly #early = new Map<Unit, Uint8Array>();
  // One signal for every unit: a unit needs no controller of its own.
  readonly #controller = new AbortController();
  readonly #context: RunContext | undefined;
  #done = 0;
  #stopped = false;
  #nextSoon = false;

  constructor(settings: DispatcherSettings) {
    this.#s = settings;
    const { revise, settle } = settings;
    this.#context = settings.backend.openRun?.({
      onLateError: (id, error) => {
        if (!this.#stopped && !settle) this.#fail(withTaskIndex(error, id));
        else if (this.#stopped || !(revise?.(id, withTaskIndex(error, id)) ?? false)) settings.workerError?.(error);
      },
    });
  }

  /** Tasks with an outcome so far. */
  get done(): number {
    return this.#done;
  }

  /** Units submitted and not finished (queued or in flight). */
  get pending(): number {
    return this.#queue.length + this.#inFlight.size;
  }

  /** The feeder may submit more without units waiting in the queue. */
  get hasRoom(): boolean {
    return !this.#stopped && this.pending < this.#s.limit;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Runs `unit` as soon as a slot is free. */
  submit(unit: Unit): void {
    if (this.#stopped || sizeOf(unit) === 0) return;
    this.#queue.push(unit);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#inFlight.size < this.#s.limit && this.#queue.length > 0) this.#send(this.#queue.shift()!);
  }

  #send(unit: Unit): void {
    this.#inFlight.add(unit);
    const stopOnError = !this.#s.settle;
    // Gathered outcomes may come before the unit is over: each goes out at once, and not again with the rest.
    const early = unit.gatherMs !== undefined && this.#s.settle ? new Uint8Array(sizeOf(unit)) : undefined;
    if (early !== undefined) this.#early.set(unit, early);
    let outcome: Promise<BatchOutcome>;
    try {
      const send = (tasks: readonly Delayed[] | undefined): Promise<BatchOutcome> =>
        this.#s.backend.runBatch(new BatchRequest(unit, tasks, stopOnError), {
          signal: this.#controller.signal,
          ...(this.#context ? { run: this.#context } : {}),
          timeout: this.#s.timeout,
          ...(early === undefined ? {} : { onEarly: (offset: number, ok: boolean, result: unknown) => this.#onEarly(unit, early, offset, ok, result) }),
        });
      // Mapped calls hold nothing to offload (their source made them only of such items).
      const tasks = this.#s.offloader && unit.calls === undefined ? this.#s.offloader.tasks(unit.tasks as Delayed[]) : undefined;
      // A store without sync puts asynchronously: the unit leaves once its keys are known.
      outcome = tasks instanceof Promise ? tasks.then(send) : send(tasks);
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (result) => this.#onDone(unit, result),
      (error: unknown) => this.#onFailed(unit, error),
    );
  }

  #onEarly(unit: Unit, early: Uint8Array, offset: number, ok: boolean, result: unknown): void {
    if (this.#stopped || !this.#inFlight.has(unit)) return;
    early[offset] = 1;
    const id = idOf(unit, offset);
    if (ok) this.#fulfilled(id, result);
    else this.#s.emit(id, { ok: false, error: withTaskIndex(located(result, unit), id) });
    this.#done++;
    // What waits on it may be sent now: once for all the outcomes that came together.
    if (!this.#nextSoon) {
      this.#nextSoon = true;
      queueMicrotask(() => {
        this.#nextSoon = false;
        if (!this.#stopped) this.#next();
      });
    }
  }

  #onDone(unit: Unit, result: BatchOutcome): void {
    this.#inFlight.delete(unit);
    const early = this.#early.get(unit);
    if (early !== undefined) this.#early.delete(unit);
    if (this.#stopped) return;
    const size = sizeOf(unit);
    const { values, errors, unfinished } = result;
    // Tasks a dead worker never ran go again, one by one; the others keep their outcome.
    const rerun = unfinished !== undefined && unfinished.length > 0 ? new Set(unfinished) : undefined;
    if (rerun === undefined) this.#s.onUnitDone?.(size, result.durationMs);
    if (rerun === undefined && early === undefined && errors.length === 0 && values.length === size && unit.ids === undefined && this.#s.emitValues) {
      this.#s.emitValues(unit.first, values);
      this.#done += size;
      this.#next();
      return;
    }
    let e = 0;
    for (let i = 0; i < size; i++) {
      if (rerun?.has(i)) continue;
      const err = errors[e];
      if (early !== undefined && early[i] === 1) {
        if (err !== undefined && err.offset === i) e++;
        continue;
      }
      if (err !== undefined && err.offset === i) {
        e++;
        // A crash or timeout reported inside the outcome (settle mode) is worded with the task's id, as one that rejects the unit.
        const error = withTaskIndex(located(err.error, unit), idOf(unit, i));
        if (!this.#s.settle) {
          this.#fail(error);
          return;
        }
        this.#s.emit(idOf(unit, i), { ok: false, error });
      } else if (!this.#s.settle && i >= values.length) {
        break;
      } else {
        this.#fulfilled(idOf(unit, i), values[i]);
      }
      this.#done++;
    }
    if (rerun) this.#lost(unit, [...rerun].sort((a, b) => a - b));
    this.#next();
  }

  #onFailed(unit: Unit, failure: unknown): void {
    this.#inFlight.delete(unit);
    const early = this.#early.get(unit);
    if (early !== undefined) this.#early.delete(unit);
    if (this.#stopped) return;
    const error = located(failure, unit);
    if (!this.#s.settle || error instanceof SerializationError) {
      this.#fail(error);
      return;
    }
    if (error instanceof TaskTimeoutError || error instanceof WorkerCrashedError) {
      // The worker died with the unit: the task that killed it gets the
      // error, the others run again one by one so none is lost.
      const bad = error.taskIndex;
      this.#s.emit(bad, { ok: false, error });
      this.#done++;
      const rest: number[] = [];
      for (let i = 0; i < sizeOf(unit); i++) if (idOf(unit, i) !== bad && early?.[i] !== 1) rest.push(i);
      this.#lost(unit, rest);
    } else {
      for (let i = 0; i < sizeOf(unit); i++) {
        if (early?.[i] === 1) continue;
        this.#s.emit(idOf(unit, i), { ok: false, error: withTaskIndex(error, idOf(unit, i)) });
        this.#done++;
      }
    }
    this.#next();
  }

  #fulfilled(id: number, value: unknown): void {
    if (this.#s.emitValue) this.#s.emitValue(id, value);
    else this.#s.emit(id, { ok: true, value });
  }

  /** Tasks of `unit` (by offset) that a dead worker left without an outcome. */
  #lost(unit: Unit, offsets: readonly number[]): void {
    if (offsets.length === 0 || this.#stopped) return;
    if (this.#s.onLost) this.#s.onLost(offsets.map((i) => idOf(unit, i)));
    else if (unit.links === undefined) this.#queue.unshift(...offsets.map((i) => single(unit, i)));
  }

  #next(): void {
    this.#s.progress.update(this.#done, this.#s.total());
    this.#pump();
    if (!this.#stopped) this.#s.onRoom();
  }

  #fail(error: unknown): void {
    if (this.#stopped) return;
    this.stop(CANCEL_UNSTARTED, true);
    this.#s.onFail(error);
  }

  /**
   * Ends the dispatch early: nothing new starts and queued units are
   * dropped. With `CANCEL_UNSTARTED` running tasks finish and the rest of
   * their units are skipped; with any other reason (a user's abort) running
   * tasks are stopped too.
   */
  stop(reason: unknown, failed: boolean): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#queue.length = 0;
    if (this.#context) {
      if (reason === CANCEL_UNSTARTED) this.#context.cancel();
      else this.#context.abort(reason);
    }
    this.#controller.abort(reason);
    this.#inFlight.clear();
    this.#end(failed);
  }

  /** Every submitted unit is done and the feeder has nothing more: the run ends well. */
  close(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    // Tells the backend the run is over (it forgets the run).
    this.#controller.abort(CANCEL_UNSTARTED);
    this.#end(false);
  }

  #end(failed: boolean): void {
    this.#context?.close();
    this.#s.progress.finish(this.#done, this.#s.total(), failed, this.#s.offloader);
  }
}
