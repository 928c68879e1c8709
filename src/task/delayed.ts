import { shipFunction, type ShippedFunction } from './ship.js';
import { assertCloneable } from './cloneable.js';
import { isProxy } from '../proxy/index.js';

const DELAYED = Symbol.for('skein.delayed');

// Objects already checked clean are not walked again, so a large value passed
// to many tasks costs one walk. A later mutation that adds a function is still
// caught when the batch is posted.
/** Arguments found cloneable (without store proxies), with what they cost to clone. */
const checked = new WeakMap<object, number>();

/**
 * A call of a function, recorded but not run: what `parallel` schedules.
 * `R` is the awaited result type of the function.
 */
export class Delayed<R = unknown> {
  declare readonly __result?: R;
  readonly shipped: ShippedFunction;
  readonly args: readonly unknown[];
  /** Whether the arguments hold store proxies, which travel as references. */
  readonly hasReferences: boolean;
  /**
   * What the object arguments cost to clone, measured by the check in
   * `delayed()` (Infinity when unknown): the offloader skips a task whose
   * arguments are smaller than its threshold without walking them again.
   */
  readonly bytes: number;

  constructor(shipped: ShippedFunction, args: readonly unknown[], hasReferences = false, bytes = Infinity) {
    this.shipped = shipped;
    this.args = args;
    this.hasReferences = hasReferences;
    this.bytes = bytes;
  }

  get [DELAYED](): true {
    return true;
  }

  get name(): string {
    return this.shipped.name;
  }
}

/** Brand check that holds across realms and copies of the package. */
export function isDelayed(value: unknown): value is Delayed {
  return typeof value === 'object' && value !== null && (value as { [DELAYED]?: unknown })[DELAYED] === true;
}

/** Awaited result type of a `Delayed`. */
export type DelayedResult<D> = D extends Delayed<infer R> ? R : never;

/**
 * Records a call of `fn` to run later in a worker, joblib style. Checks, here
 * in the caller, that `fn` can travel (no captured variables) and that the
 * arguments can be cloned.
 *
 * @example
 * const out = await parallel(xs.map((x) => delayed(square)(x)));
 */
export function delayed<F extends (...args: any[]) => any>(fn: F): (...args: Parameters<F>) => Delayed<Awaited<ReturnType<F>>> {
  // `xs.map((x) => delayed(f)(x))` asks for the same recorder once per item.
  let recorder = recorders.get(fn);
  if (recorder === undefined) {
    recorder = makeRecorder(shipFunction(fn));
    recorders.set(fn, recorder);
  }
  return recorder as (...args: Parameters<F>) => Delayed<Awaited<ReturnType<F>>>;
}

const recorders = new WeakMap<Function, (...args: unknown[]) => Delayed>();

function makeRecorder(shipped: ShippedFunction): (...args: unknown[]) => Delayed {
  let references = 0;
  let bytes = 0;
  const options = { clean: checked, passThrough: isProxy, onPassThrough: (n: number) => (references += n), onBytes: (n: number) => (bytes += n) };
  return (...args: unknown[]) => {
    references = 0;
    bytes = 0;
    for (let i = 0; i < args.length; i++) {
      const arg: unknown = args[i];
      if (typeof arg === 'object' ? arg !== null : typeof arg === 'function' || typeof arg === 'symbol') {
        assertCloneable(arg, `args[${i}]`, options);
      }
    }
    return new Delayed(shipped, args, references > 0, bytes);
  };
}
