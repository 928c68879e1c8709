import type { AsyncLocalStorage } from 'node:async_hooks';
import type { BatchResultWire, BatchWire, ErrorWire, TaskErrorWire } from '../core/wire.js';
import { instantiate, useClasses } from './compile.js';
import { encodeResult, instanceKind, knownClassId, reviveInstances } from './instances.js';
import type { OnInstance } from './cloneable.js';
import { encodeError } from '../core/error-wire.js';
import type { keepResult as KeepResult } from '../store/travel.js';
import { findUncloneable, uncloneableError } from './cloneable.js';
import { isThenable } from '../core/values.js';
import { UncaughtTaskError, type EscapeSource } from './errors.js';

type Callable = (...args: unknown[]) => unknown;

/** How `runBatch` runs a batch where it stands. */
export interface RunBatchOptions {
  /** Turns the references in a batch marked `refs` (store references) back into what the task should see. */
  readonly revive?: (value: unknown) => unknown;
  /**
   * Called before each task with its offset in the batch; returning `false`
   * stops the batch there (its result is then marked `cancelled`).
   */
  readonly onTaskStart?: (offset: number) => boolean | void;
}

/** What only skein's own pool workers add. */
export interface PoolRunBatchOptions extends RunBatchOptions {
  /** Each task runs in this scope, so what its callbacks throw later can be traced to it. */
  readonly scope?: AsyncLocalStorage<TaskToken>;
  /**
   * Settle-mode batches: sends each outcome as soon as it is known, so it
   * outlives the worker dying later in the batch.
   */
  readonly publish?: (offset: number, outcome: { value?: unknown; error?: ErrorWire; fault?: true }) => void;
  /**
   * Settle-mode batches of quick tasks: instead of one message per task,
   * outcomes are held at most `everyMs` and sent together (`send(from,
   * values, errors)`: tasks `from`, `from + 1`, ...); those held when the
   * batch ends come in its result (`BatchResultWire.from`). A worker that
   * dies loses what it held. Errors that escape a task whose outcome was
   * sent already still go through `publish`.
   */
  readonly gather?: { readonly everyMs: number; send(from: number, values: unknown[], errors: TaskErrorWire[]): void };
  /** Index of the batch's first task, to word errors that escape its tasks. */
  readonly first?: number;
  /** Every task's index, when they are not consecutive from `first`. */
  readonly ids?: readonly number[];
  /** Names the batch in what the worker sends about it outside its reply. */
  readonly tag?: number;
}

/** What the callbacks and promises a task starts carry (AsyncLocalStorage). */
export interface TaskToken {
  readonly batch: OpenBatch;
  readonly offset: number;
}

export interface OpenBatch {
  readonly options: PoolRunBatchOptions;
  /**
   * Fails task `offset` with an error that escaped it, while its batch still
   * runs here. False when the batch is over, or the task had failed already:
   * then the error has to travel on its own.
   */
  fault(offset: number, cause: unknown, source: EscapeSource): boolean;
}

let keepResult: typeof KeepResult | undefined;

/**
 * Runs a batch of tasks where it stands (a worker, or the calling thread for
 * a custom backend): compiles its functions, calls each task, awaits async
 * ones, and reports results and errors as plain data.
 * Returns synchronously when every task was synchronous.
 */
export function runBatch(batch: BatchWire, options: PoolRunBatchOptions = {}): BatchResultWire | Promise<BatchResultWire> {
  // Stores load with the first batch that keeps results: a worker's start stays light.
  if (batch.keep !== undefined && keepResult === undefined) {
    return import('../store/travel.js').then((travel) => {
      keepResult = travel.keepResult;
      return runBatch(batch, options);
    });
  }
  const started = performance.now();
  const instances = batch.fns.map((f) => instantiate(f, options.revive));
  if (instances.some((f) => f instanceof Promise)) {
    return Promise.all(instances).then(
      (fns) => runFrom(batch, fns as Callable[], options),
      (error: unknown) => failAll(batch, error, started),
    );
  }
  return runFrom(batch, instances as Callable[], options);
}

/**
 * Instances in a result go back with their class when the caller has it (it
 * sent it, or inlined it in a function it shipped); errors keep their fields.
 */
const resultInstance: OnInstance = (value, proto) => {
  const kind = instanceKind(value, proto);
  if (kind === undefined) return false;
  if (kind === 'error') return true;
  if (!('ctor' in kind)) return kind;
  if (knownClassId(kind.ctor) !== undefined) return true;
  const name = kind.ctor.name || 'anonymous';
  return {
    reason: `an instance of class ${name}, which the calling thread does not have (the class was made in the worker: in a task module, or inside the task)`,
    fix: `Fix: return plain data ({ ...value }) and rebuild the instance in the calling thread, or define the class in the calling code and send it along: wrapNonSerializable(fn, { ${name} }).`,
  };
};
let encoded = 0;
const resultCheck = { strict: true, onInstance: resultInstance, onEncoded: (n: number) => (encoded = n) };

function failAll(batch: BatchWire, error: unknown, started: number): BatchResultWire {
  const wire = encodeError(error);
  const count = batch.stopOnError ? 1 : batch.size;
  const errors: TaskErrorWire[] = [];
  for (let i = 0; i < count; i++) errors.push({ offset: i, error: wire });
  return { values: [], errors, durationMs: performance.now() - started };
}

function runFrom(
  batch: BatchWire,
  fns: Callable[],
  options: PoolRunBatchOptions,
): BatchResultWire | Promise<BatchResultWire> {
  // The batch's time is its tasks' alone: auto batching sizes batches from it, and
  // a worker's first compile of a function (or import of its module) is not a task's cost.
  const started = performance.now();
  const { fnIndex, stopOnError, size: n } = batch;
  const revive = batch.refs ? options.revive : undefined;
  // References are turned back into values once per batch, column or row alike.
  const rows = batch.args && revive ? batch.args.map((a) => revive(a) as unknown[]) : batch.args;
  const columns = batch.columns && revive ? batch.columns.map((c) => revive(c) as unknown[]) : batch.columns;
  if (batch.classes !== undefined) {
    useClasses(batch.classes);
    reviveInstances(rows ?? columns);
  }
  const arity = columns?.length ?? 0;
  const c0 = columns?.[0];
  const c1 = columns?.[1];
  // Chained tasks, by offset: the argument a link feeds (-1: none) and from
  // which task; for each source task, its readers left and what it returned
  // (before it was kept in a store).
  let linkArg: Int32Array | undefined;
  let linkFrom: Int32Array | undefined;
  let uses: Int32Array | undefined;
  let sourceOk: Uint8Array | undefined;
  let sourceValue: unknown[] | undefined;
  const { links } = batch;
  if (links !== undefined) {
    linkArg = new Int32Array(n).fill(-1);
    linkFrom = new Int32Array(n);
    uses = new Int32Array(n);
    sourceOk = new Uint8Array(n);
    sourceValue = [];
    for (let k = 0; k + 2 < links.length; k += 3) {
      const task = links[k]!;
      if (linkArg[task] !== -1) throw new Error(`Task ${task} of the batch is fed by more than one link`);
      linkArg[task] = links[k + 1]!;
      linkFrom[task] = links[k + 2]!;
      uses[links[k + 2]!]!++;
    }
  }
  const call = (fn: Callable, i: number): unknown => {
    const at = linkArg === undefined ? -1 : linkArg[i]!;
    if (at >= 0) {
      const from = linkFrom![i]!;
      if (sourceOk![from] === 0) throw new Error(`The input of this task, task ${options.ids?.[from] ?? (options.first ?? 0) + from} of the batch, failed`);
      const value = sourceValue![from];
      // Its last reader has it: a chain holds one link's value at a time, not all of them.
      if (--uses![from]! === 0) sourceValue![from] = undefined;
      if (!rows && arity === 1) return fn(value);
      const args = rows ? [...rows[i]!] : columns!.map((c) => c[i]);
      args[at] = value;
      return fn(...args);
    }
    if (rows) return fn(...rows[i]!);
    switch (arity) {
      case 0:
        return fn();
      case 1:
        return fn(c0![i]);
      case 2:
        return fn(c0![i], c1![i]);
      default:
        return fn(...columns!.map((c) => c[i]));
    }
  };
  // Grown in order, never pre-sized: a holey array clones back several times slower.
  // `values[k]` is task `base + k`'s (`base` moves on only when gathered outcomes are sent).
  let values: unknown[] = [];
  let errors: TaskErrorWire[] = [];
  let base = 0;
  const { scope, onTaskStart } = options;
  const gather = stopOnError ? undefined : options.gather;
  const publish = stopOnError || gather !== undefined ? undefined : options.publish;
  let sentAt = started;
  let cancelled = false;
  let published = 0;
  let open = true;
  /** Offset of the async task being awaited; -1 while none is. */
  let waiting = -1;
  let outer: { resolve: (result: BatchResultWire) => void; reject: (error: unknown) => void } | undefined;

  /** Notes the task about to run; false when the caller has cancelled the batch. */
  const mark = (i: number): boolean => {
    if (onTaskStart !== undefined && onTaskStart(i) === false) {
      cancelled = true;
      return false;
    }
    return true;
  };
  const { keep } = batch;
  const spent = batch.spent === undefined ? undefined : new Set(batch.spent);
  const settle = (i: number, result: unknown): boolean => {
    if (uses !== undefined && uses[i]! > 0) {
      sourceOk![i] = 1;
      sourceValue![i] = result;
    }
    let value = result;
    if (keep !== undefined && typeof value === 'object' && value !== null) {
      try {
        value = keepResult!(value, keep, spent?.has(i) === true);
      } catch (error) {
        return fail(i, error);
      }
    }
    if (typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol') {
      encoded = 0;
      const bad = findUncloneable(value, 'result', resultCheck);
      if (bad) return fail(i, uncloneableError(bad));
      if (encoded > 0) value = encodeResult(value);
    }
    if (publish) {
      publish(i, { value });
      published++;
    } else {
      values[i - base] = value;
      if (gather !== undefined) send();
    }
    return true;
  };
  const fail = (i: number, error: unknown): boolean => {
    if (publish) {
      publish(i, { error: encodeError(error) });
      published++;
      return true;
    }
    errors.push({ offset: i, error: encodeError(error) });
    values[i - base] = undefined;
    if (gather !== undefined) send();
    return !stopOnError;
  };
  /** Gathered outcomes go once `everyMs` passed since the last went (at once after a task that took that long). */
  const send = (): void => {
    // The last task's go with the reply, which follows at once.
    if (base + values.length >= n) return;
    const now = performance.now();
    if (now - sentAt < gather!.everyMs) return;
    sentAt = now;
    gather!.send(base, values, errors);
    published++;
    base += values.length;
    values = [];
    errors = [];
  };
  const finish = (): BatchResultWire => {
    open = false;
    waiting = -1;
    if (stopOnError && errors.length > 0) values.length = errors[0]!.offset;
    const durationMs = performance.now() - started;
    const result: { -readonly [K in keyof BatchResultWire]: BatchResultWire[K] } = { values, errors, durationMs };
    if (cancelled) result.cancelled = true;
    if (gather !== undefined) result.from = base;
    if (publish || gather !== undefined) result.published = published;
    return result;
  };

  const cursor: OpenBatch = {
    options,
    fault(offset, cause, source) {
      if (!open || outer === undefined) return false;
      const error = new UncaughtTaskError(cause, { source, taskIndex: options.ids?.[offset] ?? (options.first ?? 0) + offset, afterReturn: offset !== waiting });
      if (offset === waiting) {
        // The task fails with it now: waiting longer for its own promise could be forever.
        waiting = -1;
        // Carried on outside the handler's async context, which belongs to the failed task.
        const go = (): void => advance(offset, false, error);
        scope ? scope.exit(() => queueMicrotask(go)) : queueMicrotask(go);
        return true;
      }
      const sent = publish ?? (offset < base ? options.publish : undefined);
      if (sent) {
        // Its outcome is with the caller already, who replaces it with this.
        sent(offset, { error: encodeError(error), fault: true });
        published++;
        return true;
      }
      if (offset < base || errors.some((e) => e.offset === offset)) return false;
      if (stopOnError) {
        // Fail-fast: this is the batch's first error; the task still running is abandoned.
        errors.length = 0;
        fail(offset, error);
        outer.resolve(finish());
        return true;
      }
      values[offset - base] = undefined;
      const at = errors.findIndex((e) => e.offset > offset);
      errors.splice(at < 0 ? errors.length : at, 0, { offset, error: encodeError(error) });
      return true;
    },
  };

  /** Runs tasks from `from` on; undefined when it stopped to await one (see `advance`). */
  const loop = (from: number): BatchResultWire | undefined => {
    for (let i = from; i < n; i++) {
      if (!mark(i)) return leave(finish());
      let value: unknown;
      try {
        const fn = fns[fnIndex === undefined ? 0 : fnIndex[i]!]!;
        // enterWith rather than run(): a third of the cost per task, and left before anything of ours goes async.
        scope?.enterWith({ batch: cursor, offset: i });
        value = call(fn, i);
      } catch (error) {
        if (!fail(i, error)) return leave(finish());
        continue;
      }
      if (isThenable(value)) {
        leave(undefined);
        waiting = i;
        Promise.resolve(value).then(
          (v) => waiting === i && advance(i, true, v),
          (error: unknown) => waiting === i && advance(i, false, error),
        );
        return undefined;
      }
      if (!settle(i, value)) return leave(finish());
    }
    return leave(finish());
  };
  /** Out of the last task's scope: what we do next must not look like that task's. */
  const leave = <T>(result: T): T => {
    scope?.enterWith(undefined as unknown as TaskToken);
    return result;
  };
  /** Records the awaited task `i`'s outcome and goes on with the batch. */
  const advance = (i: number, ok: boolean, outcome: unknown): void => {
    if (!open) return;
    waiting = -1;
    let result: BatchResultWire | undefined;
    try {
      result = (ok ? settle(i, outcome) : fail(i, outcome)) ? loop(i + 1) : finish();
    } catch (error) {
      open = false;
      outer!.reject(error);
      return;
    }
    if (result !== undefined) outer!.resolve(result);
  };

  const result = loop(0);
  if (result !== undefined) return result;
  return new Promise<BatchResultWire>((resolve, reject) => {
    outer = { resolve, reject };
  });
}
