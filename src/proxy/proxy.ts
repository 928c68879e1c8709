import { inspect } from 'node:util';
import { NonProxiableError, ProxyResolveError, isProxyResolveError } from './errors.js';
import { describeValue, typeName } from '../core/errors.js';

/**
 * What a proxy stands in for, as far as the JS engine is concerned before it
 * resolves. `typeof` and `Array.isArray` of a Proxy look at its own target,
 * never at a trap, so the stand-in must already be of the right kind.
 */
export type ProxyKind = 'object' | 'array' | 'function';

/**
 * Makes a proxy's target. Called synchronously, at most once successfully,
 * on the first operation on the proxy.
 */
export interface Factory<T> {
  (): T;
  /**
   * A non-blocking path to the same target, used by `resolveAsync` (e.g.
   * `fs.promises.readFile` where the sync path uses `readFileSync`).
   */
  readonly resolveAsync?: () => Promise<T>;
  /** The kind of target it makes, when the factory knows it. */
  readonly kind?: ProxyKind;
}

export interface ProxyOptions {
  /**
   * The kind of target, so that `typeof p === 'function'` or
   * `Array.isArray(p)` hold before and after resolving.
   * @default factory.kind ?? 'object'
   * @example
   * const rows = proxy(() => loadRows(), { kind: 'array' }); // Array.isArray(rows) before it loads
   */
  readonly kind?: ProxyKind;
}

type AnyFunction = (...args: unknown[]) => unknown;

/** Everything about one proxy; the handler reads it, the free functions drive it. */
class ProxyState {
  readonly factory: Factory<unknown>;
  readonly kind: ProxyKind;
  readonly dummy: object;
  proxy!: object;
  #resolved = false;
  #target: object | undefined;
  #pending: Promise<void> | undefined;
  // Stable identity: `p.get === p.get` must hold as it does on the target.
  readonly #bound = new WeakMap<AnyFunction, AnyFunction>();

  constructor(factory: Factory<unknown>, kind: ProxyKind) {
    this.factory = factory;
    this.kind = kind;
    this.dummy = makeDummy(kind);
  }

  get resolved(): boolean {
    return this.#resolved;
  }

  /** The real target; calls the factory if needed. Throws ProxyResolveError, caching nothing, when that fails. */
  target(): object {
    if (this.#resolved) return this.#target!;
    let value: unknown;
    try {
      value = this.factory();
    } catch (error) {
      throw isProxyResolveError(error)
        ? error
        : new ProxyResolveError(`Could not resolve proxy: its factory${nameOf(this.factory)} threw ${describeThrown(error)}`, {
            cause: error,
          });
    }
    this.#settle(value);
    return this.#target!;
  }

  startAsync(): Promise<void> {
    if (this.#resolved) return Promise.resolve();
    if (this.#pending !== undefined) return this.#pending;
    const fetch = this.factory.resolveAsync;
    // Failures are dropped on purpose: the caller may not await this promise
    // (fire and forget), and the next access retries and raises the error.
    const pending =
      fetch !== undefined
        ? fetch.call(this.factory).then(
            (value) => {
              if (!this.#resolved) this.#settle(value);
            },
            () => undefined,
          )
        : new Promise<void>((done) => setImmediate(done)).then(() => {
            try {
              this.target();
            } catch {
              // raised again on the next access
            }
          });
    this.#pending = pending.then(
      () => {
        this.#pending = undefined;
      },
      () => {
        this.#pending = undefined;
      },
    );
    return this.#pending;
  }

  #settle(value: unknown): void {
    // A factory that returns another proxy: stand in for what that one stands in for.
    const inner = stateOf(value);
    if (inner !== undefined) value = inner.target();
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
      throw new ProxyResolveError(`Could not resolve proxy: its factory${nameOf(this.factory)} returned a primitive`, {
        cause: new NonProxiableError(value, 'use a factory that returns an object, or `extract` the value before sending it'),
      });
    }
    if (this.kind === 'array' && !Array.isArray(value)) {
      throw new ProxyResolveError(
        `Could not resolve proxy: it was made with kind 'array' but its factory returned ${describeValue(value)}`,
      );
    }
    if (this.kind === 'function' && typeof value !== 'function') {
      throw new ProxyResolveError(
        `Could not resolve proxy: it was made with kind 'function' but its factory returned ${describeValue(value)}`,
      );
    }
    this.#target = value;
    this.#resolved = true;
  }

  bound(fn: AnyFunction, target: object): AnyFunction {
    let b = this.#bound.get(fn);
    if (b === undefined) {
      b = fn.bind(target) as AnyFunction;
      this.#bound.set(fn, b);
    }
    return b;
  }
}

function nameOf(factory: Factory<unknown>): string {
  return factory.name ? ` \`${factory.name}\`` : '';
}

function describeThrown(error: unknown): string {
  if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
    const e = error as Error;
    return `${typeName(e)}: ${e.message}`;
  }
  return describeValue(error);
}

// A bound function has [[Call]] and [[Construct]] but, unlike `function () {}`,
// no non-configurable own `prototype` that an arrow-function target would lack
// (Proxy invariants require every non-configurable key of the stand-in to be
// reported by `ownKeys`).
function makeDummy(kind: ProxyKind): object {
  const dummy = kind === 'array' ? [] : kind === 'function' ? (function stand() {}).bind(null) : {};
  Object.defineProperty(dummy, inspect.custom, { value: inspectProxy, configurable: true, writable: true });
  return dummy;
}

// util.inspect never runs traps (it inspects the stand-in itself), so the
// stand-in says what it is: the target once resolved, and never fetches it.
function inspectProxy(this: unknown, depth: number, options: object): string {
  const state = stateOf(this);
  if (state === undefined || !state.resolved) return '[skein proxy: unresolved]';
  return inspect(state.target(), { ...options, depth });
}

const states = new WeakMap<object, ProxyState>();

function stateOf(value: unknown): ProxyState | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  return states.get(value);
}

/**
 * Proxy invariants tie what traps report to the stand-in: a key reported as
 * non-configurable must exist as such on it. Mirroring each non-configurable
 * property of the target onto the stand-in when it is first reported keeps
 * every invariant without limiting what the target may be.
 */
function mirror(dummy: object, key: string | symbol, desc: PropertyDescriptor): void {
  if (desc.configurable !== true) Reflect.defineProperty(dummy, key, desc);
}

/** The target became non-extensible: the stand-in must become its exact copy (invariants of non-extensible targets). */
function freezeDummy(dummy: object, target: object): void {
  if (!Reflect.isExtensible(dummy)) return;
  const keys = new Set(Reflect.ownKeys(target));
  for (const key of Reflect.ownKeys(dummy)) {
    if (!keys.has(key)) Reflect.deleteProperty(dummy, key);
  }
  for (const key of keys) {
    const desc = Reflect.getOwnPropertyDescriptor(target, key);
    if (desc !== undefined) Reflect.defineProperty(dummy, key, desc);
  }
  Reflect.setPrototypeOf(dummy, Reflect.getPrototypeOf(target));
  Reflect.preventExtensions(dummy);
}

/**
 * One handler for all proxies. Each trap resolves the proxy and forwards to
 * the target, with the target (not the proxy) as receiver so getters and
 * methods that need internal slots (`Float64Array#length`, `Map#get`,
 * `#private` fields) see the real object.
 */
const handler: ProxyHandler<object> = {
  get(dummy, key) {
    const state = states.get(dummy)!;
    const target = state.target();
    const value = Reflect.get(target, key, target) as unknown;
    // Methods from the prototype chain are bound to the target; own function
    // properties and constructors stay as they are so identity checks hold.
    if (typeof value === 'function' && key !== 'constructor' && !Object.prototype.hasOwnProperty.call(target, key)) {
      return state.bound(value as AnyFunction, target);
    }
    return value;
  },
  set(dummy, key, value) {
    const target = states.get(dummy)!.target();
    return Reflect.set(target, key, value, target);
  },
  has(dummy, key) {
    return Reflect.has(states.get(dummy)!.target(), key);
  },
  deleteProperty(dummy, key) {
    const target = states.get(dummy)!.target();
    const ok = Reflect.deleteProperty(target, key);
    if (ok) Reflect.deleteProperty(dummy, key);
    return ok;
  },
  defineProperty(dummy, key, desc) {
    const target = states.get(dummy)!.target();
    const ok = Reflect.defineProperty(target, key, desc);
    if (ok) {
      const now = Reflect.getOwnPropertyDescriptor(target, key);
      if (now !== undefined) mirror(dummy, key, now);
    }
    return ok;
  },
  getOwnPropertyDescriptor(dummy, key) {
    const target = states.get(dummy)!.target();
    const desc = Reflect.getOwnPropertyDescriptor(target, key);
    if (desc === undefined) return undefined;
    mirror(dummy, key, desc);
    return desc;
  },
  ownKeys(dummy) {
    const target = states.get(dummy)!.target();
    if (!Reflect.isExtensible(target)) freezeDummy(dummy, target);
    return Reflect.ownKeys(target);
  },
  getPrototypeOf(dummy) {
    return Reflect.getPrototypeOf(states.get(dummy)!.target());
  },
  setPrototypeOf(dummy, proto) {
    return Reflect.setPrototypeOf(states.get(dummy)!.target(), proto);
  },
  isExtensible(dummy) {
    const target = states.get(dummy)!.target();
    const extensible = Reflect.isExtensible(target);
    if (!extensible) freezeDummy(dummy, target);
    return extensible;
  },
  preventExtensions(dummy) {
    const target = states.get(dummy)!.target();
    const ok = Reflect.preventExtensions(target);
    if (ok) freezeDummy(dummy, target);
    return ok;
  },
  apply(dummy, thisArg, args) {
    const target = states.get(dummy)!.target() as AnyFunction;
    return Reflect.apply(target, thisArg, args) as unknown;
  },
  construct(dummy, args, newTarget) {
    const state = states.get(dummy)!;
    const target = state.target() as new (...a: unknown[]) => object;
    return Reflect.construct(target, args, newTarget === state.proxy ? target : newTarget);
  },
};

/**
 * A lazy stand-in for the object `factory` makes. The factory runs on the
 * first operation on the proxy (property access, call, `instanceof`, ...)
 * and never again once it succeeds; from then on the proxy behaves as the
 * object. `typeof` and `Array.isArray` are fixed when the proxy is made:
 * pass `kind` (or give the factory a `kind`) for arrays and functions.
 *
 * @example
 * const p = proxy(() => new Float64Array(1_000_000));
 * isResolved(p);          // false
 * p instanceof Float64Array; // true, and now resolved
 * extract(p);             // the Float64Array itself
 */
export function proxy<T extends object>(factory: Factory<T>, options: ProxyOptions = {}): T {
  if (typeof factory !== 'function') {
    throw new TypeError(`Expected \`factory\` to be a function, got ${describeValue(factory)}`);
  }
  const kind = options.kind ?? factory.kind ?? 'object';
  if (kind !== 'object' && kind !== 'array' && kind !== 'function') {
    throw new TypeError(`Expected \`kind\` to be 'object', 'array' or 'function', got ${describeValue(kind)}`);
  }
  const state = new ProxyState(factory, kind);
  const p = new Proxy(state.dummy, handler);
  state.proxy = p;
  states.set(state.dummy, state);
  states.set(p, state);
  return p as T;
}

/** Whether `value` is a proxy made by `proxy` (or a store). Never resolves it. */
export function isProxy(value: unknown): boolean {
  return stateOf(value)?.proxy === value;
}

function proxyState(value: unknown): ProxyState | undefined {
  const state = stateOf(value);
  return state?.proxy === value ? state : undefined;
}

/** Whether the proxy's target has been made. A value that is not a proxy counts as resolved. */
export function isResolved(value: unknown): boolean {
  return proxyState(value)?.resolved ?? true;
}

/** Resolves a proxy now (no-op when resolved or not a proxy). Throws ProxyResolveError when the factory fails. */
export function resolve(value: unknown): void {
  proxyState(value)?.target();
}

/**
 * The real object behind a proxy, resolving it if needed; any other value is
 * returned as is, so code that may receive either can always call it.
 * Use it in hot loops: every operation on a proxy goes through a trap.
 *
 * @example
 * const xs = extract(p); // Float64Array
 * for (let i = 0; i < xs.length; i++) sum += xs[i];
 */
export function extract<T>(value: T): T {
  const state = proxyState(value);
  return state === undefined ? value : (state.target() as T);
}

/**
 * Starts resolving in the background so the first access is cheap
 * (ProxyStore's `resolve_async`). Uses the factory's async path when it has
 * one (store proxies read files with `fs.promises`), else runs the factory on
 * a later turn of the event loop. Never rejects: if resolution fails, the
 * next access retries and raises ProxyResolveError.
 *
 * @example
 * void resolveAsync(p);     // start fetching
 * const y = await compute(); // overlap
 * use(p);                    // already there
 */
export function resolveAsync(value: unknown): Promise<void> {
  return proxyState(value)?.startAsync() ?? Promise.resolve();
}

/** The factory of a proxy, or `undefined` for anything else. */
export function getFactory<T>(value: T): Factory<T> | undefined {
  return proxyState(value)?.factory as Factory<T> | undefined;
}
