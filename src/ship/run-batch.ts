import type { BatchResultWire, BatchWire, ClockSetupWire, TaskErrorWire } from '../protocol/messages.js';
import { CLOCK_CANCEL, CLOCK_OFFSET, CLOCK_SEQ, CLOCK_SLOT_INTS, CLOCK_START } from '../protocol/messages.js';
import { instantiate } from './compile.js';
import { encodeError } from './wire-error.js';
import { findUncloneable, uncloneableError } from './cloneable.js';
import { isThenable } from '../values.js';

type Callable = (...args: unknown[]) => unknown;

export interface RunBatchOptions {
  /** Turns the references in a batch marked `refs` (store proxies) back into what the task should see. */
  readonly revive?: (value: unknown) => unknown;
  /** The shared clock buffer this thread was given at start. */
  readonly clock?: ClockSetupWire;
}

const views = new WeakMap<SharedArrayBuffer, Int32Array>();
function viewOf(buffer: SharedArrayBuffer | undefined): Int32Array | undefined {
  if (buffer === undefined) return undefined;
  let view = views.get(buffer);
  if (view === undefined) {
    view = new Int32Array(buffer);
    views.set(buffer, view);
  }
  return view;
}


/**
 * Runs a batch of tasks where it stands (a worker, or the calling thread for
 * a custom backend): compiles its functions, calls each task, awaits async
 * ones, and reports results and errors as plain data.
 * Returns synchronously when every task was synchronous.
 */
export function runBatch(batch: BatchWire, options: RunBatchOptions = {}): BatchResultWire | Promise<BatchResultWire> {
  const started = performance.now();
  const instances = batch.fns.map((f) => instantiate(f, options.revive));
  if (instances.some((f) => f instanceof Promise)) {
    return Promise.all(instances).then(
      (fns) => runFrom(batch, fns as Callable[], options, started),
      (error: unknown) => failAll(batch, error, started),
    );
  }
  return runFrom(batch, instances as Callable[], options, started);
}

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
  options: RunBatchOptions,
  started: number,
): BatchResultWire | Promise<BatchResultWire> {
  const { fnIndex, stopOnError, clock, size: n } = batch;
  const revive = batch.refs ? options.revive : undefined;
  // References are turned back into values once per batch, column or row alike.
  const rows = batch.args && revive ? batch.args.map((a) => revive(a) as unknown[]) : batch.args;
  const columns = batch.columns && revive ? batch.columns.map((c) => revive(c) as unknown[]) : batch.columns;
  const arity = columns?.length ?? 0;
  const c0 = columns?.[0];
  const c1 = columns?.[1];
  const call = (fn: Callable, i: number): unknown => {
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
  const values: unknown[] = [];
  const errors: TaskErrorWire[] = [];
  const setup = options.clock;
  const ticks = clock ? viewOf(clock.buffer ?? setup?.buffer) : undefined;
  const base = clock && !clock.buffer ? clock.slot * CLOCK_SLOT_INTS : 0;
  const origin = setup?.origin ?? 0;
  let cancelled = false;

  /** Notes the task about to run; false when the caller has cancelled the batch. */
  const mark = (i: number): boolean => {
    if (ticks) {
      if (Atomics.load(ticks, base + CLOCK_CANCEL) !== 0) {
        cancelled = true;
        return false;
      }
      ticks[base + CLOCK_START] = Date.now() - origin;
      ticks[base + CLOCK_OFFSET] = i;
      // The sequence is written last: the caller reads it first and trusts the rest only if it moved.
      Atomics.add(ticks, base + CLOCK_SEQ, 1);
    }
    return true;
  };
  const settle = (i: number, value: unknown): boolean => {
    const bad = typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol' ? findUncloneable(value, 'result') : undefined;
    if (bad) return fail(i, uncloneableError(bad));
    values[i] = value;
    return true;
  };
  const fail = (i: number, error: unknown): boolean => {
    errors.push({ offset: i, error: encodeError(error) });
    values[i] = undefined;
    return !stopOnError;
  };
  const finish = (): BatchResultWire => {
    if (stopOnError && errors.length > 0) values.length = errors[0]!.offset;
    const durationMs = performance.now() - started;
    return cancelled ? { values, errors, durationMs, cancelled } : { values, errors, durationMs };
  };

  const loop = (from: number): BatchResultWire | Promise<BatchResultWire> => {
    for (let i = from; i < n; i++) {
      if (!mark(i)) return finish();
      let value: unknown;
      try {
        const fn = fns[fnIndex === undefined ? 0 : fnIndex[i]!]!;
        value = call(fn, i);
      } catch (error) {
        if (!fail(i, error)) return finish();
        continue;
      }
      if (isThenable(value)) {
        return Promise.resolve(value).then(
          (v) => (settle(i, v) ? loop(i + 1) : finish()),
          (error: unknown) => (fail(i, error) ? loop(i + 1) : finish()),
        );
      }
      if (!settle(i, value)) return finish();
    }
    return finish();
  };
  return loop(0);
}
