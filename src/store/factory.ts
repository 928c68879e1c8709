import type { Factory, ProxyKind } from '../proxy/index.js';
import { ProxyResolveError } from '../proxy/index.js';
import { getOrCreateStore } from './registry.js';
import type { Store, StoreConfig } from './store.js';
import { StoreClosedError } from './errors.js';

/**
 * What crosses a thread in place of a store proxy: the key and the config of
 * its store, plain structured-cloneable data. The `__skeinStoreReference`
 * field brands it (symbols do not survive structured clone).
 */
export interface StoreReference<K = unknown> {
  readonly __skeinStoreReference: 1;
  readonly key: K;
  readonly storeConfig: StoreConfig;
  /** Ephemeral: evict the entry once resolved. */
  readonly evict: boolean;
  /** The kind of the stored value, so the receiving proxy has the right `typeof` / `Array.isArray`. */
  readonly kind: ProxyKind;
  /**
   * Resolve on arrival and hand over the real object, not a proxy: for values
   * a Parallel offloaded by itself, where the task expects exactly what it was
   * given (a proxy traps every element access).
   */
  readonly eager?: boolean;
  /**
   * With `eager`: the value is a typed array in memory a Parallel reuses for
   * later runs (its buffer ends in a `POOL_TAIL_BYTES` flag), so a thread
   * that returns it must say so.
   */
  readonly pooled?: boolean;
  /** The stored size, when the side that stored it measured it (results kept in a store). */
  readonly bytes?: number;
}

/** A proxy factory backed by a store entry. */
export interface StoreFactory<T> extends Factory<T> {
  readonly reference: StoreReference;
  /** Set when made with a custom deserializer, which cannot travel to another thread. */
  readonly deserializer: ((bytes: Uint8Array) => T) | undefined;
}

// Marks functions made here, so `storeReference` can tell a store factory
// from any other factory even across copies of this module.
export const STORE_FACTORY = Symbol.for('skein.storeFactory');

/**
 * The factory of a store proxy. In the thread that made it, it reads through
 * the original store; elsewhere through `getOrCreateStore(storeConfig)`.
 * Every failure (missing key, closed store, corrupt entry) surfaces as a
 * ProxyResolveError naming the key and the store.
 */
export function createStoreFactory<T>(
  reference: StoreReference,
  options: { store?: Store<unknown>; deserializer?: (bytes: Uint8Array) => T } = {},
): StoreFactory<T> {
  const origin = options.store;
  const { deserializer } = options;
  const getOptions = deserializer === undefined ? {} : { deserializer };
  const storeName = reference.storeConfig.name;

  const locate = (): Store<unknown> => {
    if (origin === undefined) return getOrCreateStore(reference.storeConfig);
    if (origin.closed) throw new StoreClosedError(origin.name, 'resolve a proxy');
    return origin;
  };
  const keyOf = (store: Store<unknown> | undefined): string => {
    try {
      return store?.describeKey(reference.key) ?? describeKeyLoosely(reference.key);
    } catch {
      return describeKeyLoosely(reference.key);
    }
  };
  const fail = (store: Store<unknown> | undefined, error: unknown): ProxyResolveError => {
    const key = keyOf(store);
    const reason = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error) ? (error as Error).message : String(error);
    return new ProxyResolveError(`Could not resolve proxy of key \`${key}\` in store \`${storeName}\`: ${reason}`, {
      key,
      store: storeName,
      cause: error,
    });
  };
  const done = (store: Store<unknown>): void => {
    if (!reference.evict) return;
    try {
      // Without a blocking evict, the entry goes a moment later: the value is already here.
      if (store.sync) store.evictSync(reference.key);
      else store.evict(reference.key).catch(() => undefined);
    } catch {
      // Already gone or store closed: the entry is not there either way.
    }
  };

  // Why the last async resolve failed: a store that cannot resolve synchronously raises it on access instead.
  let asyncFailure: ProxyResolveError | undefined;
  const factory = (): T => {
    let store: Store<unknown> | undefined;
    try {
      store = locate();
      if (asyncFailure !== undefined && !store.sync) throw asyncFailure;
      const value = store.getSync<T>(reference.key, getOptions);
      done(store);
      return value;
    } catch (error) {
      throw error === asyncFailure ? error : fail(store, error);
    }
  };
  const resolveAsync = async (): Promise<T> => {
    let store: Store<unknown> | undefined;
    try {
      store = locate();
      const value = await store.get<T>(reference.key, getOptions);
      done(store);
      asyncFailure = undefined;
      return value;
    } catch (error) {
      asyncFailure = fail(store, error);
      throw asyncFailure;
    }
  };
  return Object.defineProperties(factory, {
    name: { value: `storeFactory(${storeName})` },
    resolveAsync: { value: resolveAsync },
    kind: { value: reference.kind },
    reference: { value: reference },
    deserializer: { value: deserializer },
    [STORE_FACTORY]: { value: true },
  }) as unknown as StoreFactory<T>;
}

function describeKeyLoosely(key: unknown): string {
  if (typeof key === 'string') return key;
  const k = key as { page?: unknown; slot?: unknown; generation?: unknown } | null;
  if (typeof k === 'object' && k !== null && k.slot !== undefined) return `${String(k.page)}.${String(k.slot)}.${String(k.generation)}`;
  return String(key);
}

export function isStoreFactory(value: unknown): value is StoreFactory<unknown> {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[STORE_FACTORY] === true;
}
