import { inspect } from 'node:util';

/** What a handle asks of its environment; implemented by RemoteEnv. */
export interface HandleHost {
  readonly name: string;
  get(state: HandleState, key: string): unknown;
  call(state: HandleState, args: unknown[]): unknown;
  fetch(state: HandleState): Promise<unknown>;
  release(state: HandleState): void;
  iterate(state: HandleState): AsyncGenerator<unknown, void, undefined>;
}

/** The caller's record of one value held in an environment. */
export interface HandleState {
  readonly host: HandleHost;
  readonly id: number;
  released: boolean;
}

/** Property names a handle keeps for itself; read such a remote property with `env.run((o) => o.fetch, h)`. */
export type ReservedKey = 'fetch' | 'release' | 'then' | 'toJSON';

/** Each argument may be given as a value or as a handle (of any environment) to such a value. */
export type HandleArgs<A extends readonly unknown[]> = { [I in keyof A]: A[I] | Handle<A[I]> };

interface HandleBase<T> {
  /** A copy of the value, brought back from the worker; rejects with the error if the value's operation (or one it depends on) failed. */
  fetch(): Promise<T>;
  /** Frees the value in the worker. Idempotent; later use of the handle fails with `HandleReleasedError`. */
  release(): void;
  [Symbol.dispose](): void;
  /** Handles are not thenable: `await h` is `h`. */
  readonly then?: undefined;
}

type Members<T> = { readonly [K in Exclude<keyof T, ReservedKey | symbol>]: Handle<T[K]> };
type Callable<T> = T extends (...args: infer A) => infer R ? (...args: HandleArgs<A>) => Handle<Awaited<R>> : unknown;
type Iteration<T> = T extends AsyncIterable<infer E> | Iterable<infer E> ? { [Symbol.asyncIterator](): AsyncIterator<Handle<E>, void, undefined> } : unknown;
type Boxed<T> = T extends string ? string : T extends number ? number : T extends boolean ? boolean : T extends bigint ? bigint : T;

/**
 * A stand-in for a value that lives in a remote environment. Property reads
 * and method calls give new handles at once; `fetch()` brings a copy back.
 * `Handle<{ inc(n: number): number }>['inc']` is callable and returns `Handle<number>`.
 */
export type Handle<T> = 0 extends 1 & T
  ? HandleBase<any> & ((...args: any[]) => Handle<any>) & { readonly [key: string]: Handle<any> }
  : [T] extends [never]
    ? HandleBase<never>
    : HandleBase<T> & Callable<T> & (T extends null | undefined ? unknown : Members<Boxed<T>>) & Iteration<T>;

/** Read through the proxy's get trap: only handles answer it, and the key never leaves this module. */
const STATE = Symbol('skein.handle');

/** The state behind a handle, or undefined for anything else. */
export function handleState(value: unknown): HandleState | undefined {
  return typeof value === 'function' ? ((value as unknown as { [STATE]?: HandleState })[STATE] ?? undefined) : undefined;
}

/** Whether `value` is a handle of a remote environment. */
export function isHandle(value: unknown): value is Handle<unknown> {
  return handleState(value) !== undefined;
}

/** The proxy's target is the state itself: a function (so the proxy is callable) carrying the handle's fields. */
type Target = (() => void) & HandleState;

function describe(state: HandleState): string {
  return `Handle(${state.host.name}#${state.id}${state.released ? ', released' : ''})`;
}

// One handler for every handle: the state rides on the proxy's target.
const traps: ProxyHandler<Target> = {
  get(state, key) {
    if (typeof key === 'symbol') {
      if (key === STATE) return state;
      if (key === Symbol.asyncIterator) return () => state.host.iterate(state);
      if (key === Symbol.dispose) return () => state.host.release(state);
      if (key === Symbol.toPrimitive || key === inspect.custom) return () => describe(state);
      if (key === Symbol.toStringTag) return 'Handle';
      return undefined;
    }
    switch (key) {
      case 'then':
      case 'toJSON':
        return undefined;
      case 'fetch':
        return () => state.host.fetch(state);
      case 'release':
        return () => state.host.release(state);
      default:
        return state.host.get(state, key);
    }
  },
  apply(state, _this, args) {
    return state.host.call(state, args);
  },
  set(state, key) {
    throw new TypeError(`Cannot set \`${String(key)}\` on ${describe(state)}: handles are read-only; change the value with env.run((o, v) => { o.${String(key)} = v; }, h, value).`);
  },
  defineProperty(state) {
    throw new TypeError(`Cannot define properties on ${describe(state)}: handles are read-only.`);
  },
  deleteProperty(state) {
    throw new TypeError(`Cannot delete properties of ${describe(state)}: handles are read-only.`);
  },
};

/**
 * A new handle and its state: a callable Proxy (so remote functions and
 * methods can be called through it) over a function that is the state.
 */
export function makeHandle(host: HandleHost, id: number): { handle: Handle<unknown>; state: HandleState } {
  const state = (() => {}) as unknown as Target;
  // Plain assignments: `name` and `length` are the function's own, so the state fields use other names.
  (state as { host: HandleHost }).host = host;
  (state as { id: number }).id = id;
  state.released = false;
  return { handle: new Proxy(state, traps) as unknown as Handle<unknown>, state };
}
