import { callerInstance, encodingArgs, shipFunction, type ShippedFunction } from './ship.js';
import { assertCloneable } from './cloneable.js';
import { isProxy } from '../proxy/index.js';
import { describeValue } from '../core/errors.js';
import { checkKnownOptions } from '../core/options.js';

const DELAYED = Symbol.for('skein.delayed');

// Objects already checked clean are not walked again, so a large value passed
// to many tasks costs one walk. A later mutation that adds a function is still
// caught when the batch is posted.
/** Arguments found cloneable (without store proxies), with what they cost to clone. */
const checked = new WeakMap<object, number>();

/** A call of one argument, without an arguments array until one is read. */
export let unary: (shipped: ShippedFunction, only: unknown, hasReferences: boolean, hasDependencies: boolean, options: DelayedOptions | undefined, bytes: number) => Delayed;
/** How many arguments a call has, without making its arguments array (also for a Delayed of another copy of skein). */
export let arityOf: (call: Delayed) => number;
/** Argument `j` of a call, without making its arguments array. */
export let argOf: (call: Delayed, j: number) => unknown;
/**
 * A slot the task graph keeps on each call (its node): a field of the call,
 * so a graph costs no table entry or added property per call. Undefined for
 * a Delayed of another copy of skein, which has no such field.
 */
export let graphMark: (call: Delayed) => unknown;
/** Sets the graph's slot; false when the call has none (another copy of skein). */
export let setGraphMark: (call: Delayed, mark: unknown) => boolean;

/**
 * A call of a function, recorded but not run: what `parallel` schedules.
 * `R` is the awaited result type of the function.
 */
export class Delayed<R = unknown> {
  declare readonly __result?: R;
  readonly shipped: ShippedFunction;
  // The arguments; for a call of one argument (most calls a loop makes) that
  // argument alone, the array made on first read. With the fields below,
  // which default on the prototype and are stored only when they differ, a
  // plain call is one small object instead of an object and an array (less
  // for the garbage collector to copy while the caller holds them all).
  #args: readonly unknown[] | undefined;
  #only: unknown;
  #mark: unknown = undefined;
  /** Whether the arguments hold store proxies, which travel as references. */
  declare readonly hasReferences: boolean;
  /** Whether the arguments hold other `Delayed` calls (graph dependencies), which only `compute` can run. */
  declare readonly hasDependencies: boolean;
  /**
   * What the object arguments cost to clone, measured by the check in
   * `delayed()` (Infinity when unknown): the offloader skips a task whose
   * arguments are smaller than its threshold without walking them again.
   * Not measured for calls with dependencies, which only `compute()` runs,
   * through calls of its own.
   */
  declare readonly bytes: number;
  /** The node options given to `delayed(fn, options)`. */
  declare readonly options: DelayedOptions;

  constructor(shipped: ShippedFunction, args: readonly unknown[], hasReferences = false, hasDependencies = false, options: DelayedOptions = noOptions, bytes = Infinity) {
    this.shipped = shipped;
    this.#args = args;
    if (hasReferences) (this as { hasReferences: boolean }).hasReferences = true;
    // Calls with dependencies are DependentCalls, which say so on their prototype.
    if (hasDependencies && !this.hasDependencies) (this as { hasDependencies: boolean }).hasDependencies = true;
    if (options !== noOptions) (this as { options: DelayedOptions }).options = options;
    if (bytes !== 0) (this as { bytes: number }).bytes = bytes;
  }

  /** The call's arguments. */
  get args(): readonly unknown[] {
    return (this.#args ??= [this.#only]);
  }

  static {
    unary = (shipped, only, hasReferences, hasDependencies, options, bytes) => {
      const call = hasDependencies
        ? new DependentCall(shipped, undefined as unknown as unknown[], hasReferences, true, options, bytes)
        : new Delayed(shipped, undefined as unknown as unknown[], hasReferences, false, options, bytes);
      call.#only = only;
      return call;
    };
    arityOf = (call) => (#args in call ? (call.#args?.length ?? 1) : call.args.length);
    argOf = (call, j) => (#args in call ? (call.#args === undefined ? (j === 0 ? call.#only : undefined) : call.#args[j]) : call.args[j]);
    graphMark = (call) => (#mark in call ? call.#mark : undefined);
    setGraphMark = (call, mark) => {
      if (!(#mark in call)) return false;
      call.#mark = mark;
      return true;
    };
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

/** Options of `delayed(fn, options)` for task graphs (see `compute`). */
export interface DelayedOptions {
  /** Labels the node in errors, plans and drawings. @default the function's name */
  readonly name?: string;
  /** Equal calls (same function source, equal arguments) are one node with one cached result. @default false */
  readonly pure?: boolean;
  /**
   * Where the node runs: a worker, or `'caller'`, the calling thread, for
   * I/O-bound steps that must not occupy a worker (the function does not
   * travel, so it may close over anything; `compute()` only). @default 'worker'
   */
  readonly where?: 'worker' | 'caller';
}

const noOptions: DelayedOptions = Object.freeze({});

for (const [key, value] of [['hasReferences', false], ['hasDependencies', false], ['options', noOptions], ['bytes', 0]] as const) {
  // Writable, so that the constructor's assignment makes an own property.
  Object.defineProperty(Delayed.prototype, key, { value, writable: true, enumerable: false, configurable: true });
}

/**
 * A call whose arguments hold other calls (a task graph node): its own
 * class, which says so on its prototype, rather than a property added to
 * each call (a graph holds all of its calls while it runs).
 */
class DependentCall<R = unknown> extends Delayed<R> {}
Object.defineProperty(DependentCall.prototype, 'hasDependencies', { value: true, writable: true, enumerable: false, configurable: true });

/** A value, or a `Delayed` computing it, at any depth of arrays and plain objects: what a graph node accepts. */
export type Lazy<T> = T | Delayed<T> | LazyMembers<T>;
type LazyMembers<T> = T extends (...args: any[]) => any
  ? never
  : T extends ArrayBufferView | ArrayBufferLike | Date | RegExp | Map<unknown, unknown> | Set<unknown>
    ? never
    : T extends object
      ? { [K in keyof T]: Lazy<T[K]> }
      : never;
/** The parameters of a function, each of which may be given lazily. */
export type LazyArgs<P extends readonly unknown[]> = { [K in keyof P]: Lazy<P[K]> };

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
export function delayed<F extends (...args: any[]) => any>(
  fn: F,
  options?: DelayedOptions,
): (...args: LazyArgs<Parameters<F>>) => Delayed<Awaited<ReturnType<F>>> {
  if (options !== undefined) {
    const checked = checkOptions(options);
    return makeRecorder(checked.where === 'caller' ? stayingHere(fn) : shipFunction(fn), checked) as (...args: LazyArgs<Parameters<F>>) => Delayed<Awaited<ReturnType<F>>>;
  }
  // `xs.map((x) => delayed(f)(x))` asks for the same recorder once per item.
  let recorder = recorders.get(fn);
  if (recorder === undefined) {
    recorder = makeRecorder(shipFunction(fn));
    recorders.set(fn, recorder);
  }
  return recorder as (...args: LazyArgs<Parameters<F>>) => Delayed<Awaited<ReturnType<F>>>;
}

function checkOptions(options: DelayedOptions): DelayedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
  checkKnownOptions(options, ['name', 'pure', 'where'] satisfies (keyof DelayedOptions)[]);
  const { name, pure, where } = options;
  if (name !== undefined && typeof name !== 'string') throw new TypeError(`Expected \`name\` to be a string, got ${describeValue(name)}`);
  if (pure !== undefined && typeof pure !== 'boolean') throw new TypeError(`Expected \`pure\` to be a boolean, got ${describeValue(pure)}`);
  if (where !== undefined && where !== 'worker' && where !== 'caller') throw new TypeError(`Expected \`where\` to be 'worker' or 'caller', got ${describeValue(where)}`);
  return Object.freeze({ ...options });
}

const recorders = new WeakMap<Function, (...args: unknown[]) => Delayed>();
/** What each recorder `delayed(fn)` returned records, by name: to say so when one is given in place of a call. */
const recorded = new WeakMap<Function, string>();

/**
 * Describes a value given where a `Delayed` call was expected, with the
 * likely fix: `delayed(sq)` given without its call, or `sq` without `delayed`.
 */
export function describeNotDelayed(value: unknown): string {
  if (typeof value === 'function') {
    const name = recorded.get(value);
    if (name !== undefined) return `\`delayed(${name})\`, not a call of it: did you mean \`delayed(${name})(x)\`?`;
    const own = /^[A-Za-z_$][\w$]*$/.test(value.name) ? value.name : 'fn';
    return `the function ${describeValue(value)}: did you mean \`delayed(${own})(x)\`?`;
  }
  return describeValue(value);
}

/**
 * A function that runs in the calling thread only (`where: 'caller'`): not
 * analysed or shipped. Its wire carries the source for `pure` keys alone and
 * is never sent anywhere (`parallel()` refuses such calls).
 */
function stayingHere(fn: Function): ShippedFunction {
  if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${describeValue(fn)}`);
  const body = Function.prototype.toString.call(fn);
  const name = fn.name || 'anonymous';
  return { name, local: fn as (...args: unknown[]) => unknown, wire: { fn: { kind: 'source', id: `caller:${body}`, name, body, valueNames: [] }, values: [] } };
}

function makeRecorder(shipped: ShippedFunction, nodeOptions?: DelayedOptions): (...args: unknown[]) => Delayed {
  let references = 0;
  // A Delayed argument is a graph dependency: it passes the clone check and is counted apart from store proxies.
  let dependencies = 0;
  let bytes = 0;
  // Class instances and errors, which travel encoded (task/instances.ts).
  let encoded = 0;
  // Proxies first: reading the Delayed brand off a proxy would resolve it.
  const passThrough = (v: object): boolean => isProxy(v) || (isDelayed(v) && ++dependencies > 0);
  // One that throws when read (a revoked Proxy) is left to the walk, which says where and why.
  const passesThrough = (v: object): boolean => {
    try {
      return passThrough(v);
    } catch {
      return false;
    }
  };
  const options = {
    clean: checked,
    passThrough,
    onPassThrough: (n: number) => (references += n),
    onBytes: (n: number) => (bytes += n),
    onInstance: callerInstance,
    onEncoded: (n: number) => (encoded += n),
  };
  const check = (arg: unknown, i: number): void => {
    if (typeof arg === 'object' ? arg !== null : typeof arg === 'function' || typeof arg === 'symbol') {
      // A dependency or a store proxy as the argument itself (a graph node's usual inputs): what the walk would say, without it.
      if (typeof arg === 'object' && passesThrough(arg as object)) {
        references++;
        bytes += 64;
        return;
      }
      assertCloneable(arg, `args[${i}]`, options);
    }
  };
  // A graph node's inputs are other nodes' results, unknown until they run: they may hold instances too.
  const shippedFor = (): ShippedFunction => (encoded > 0 || dependencies > 0 ? encodingArgs(shipped) : shipped);
  // `arguments`, not a rest parameter: optimized code makes no object for
  // `arguments` read only by index, and a call of one argument then
  // allocates nothing but its Delayed.
  const recorder = function record(): Delayed {
    references = 0;
    dependencies = 0;
    bytes = 0;
    encoded = 0;
    const n = arguments.length;
    if (n === 1) {
      const arg: unknown = arguments[0];
      check(arg, 0);
      return unary(shippedFor(), arg, references > dependencies, dependencies > 0, nodeOptions, dependencies > 0 ? 0 : bytes);
    }
    // An array of exactly its length (one grown by push has room for 17), packed (a holey one clones slowly).
    let args: unknown[];
    if (n === 2) {
      args = [arguments[0], arguments[1]];
    } else if (n === 3) {
      args = [arguments[0], arguments[1], arguments[2]];
    } else {
      args = [];
      for (let i = 0; i < n; i++) args.push(arguments[i]);
      if (n > 3) args = args.slice();
    }
    for (let i = 0; i < n; i++) check(args[i], i);
    return dependencies > 0
      ? new DependentCall(shippedFor(), args, references > dependencies, true, nodeOptions, 0)
      : new Delayed(shippedFor(), args, references > dependencies, false, nodeOptions, bytes);
  } as (...args: unknown[]) => Delayed;
  recorded.set(recorder, /^[A-Za-z_$][\w$]*$/.test(shipped.name) ? shipped.name : 'fn');
  return recorder;
}
