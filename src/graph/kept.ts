import { getOrCreateStore, isStoreReference, type Store, type StoreReference } from '../store/index.js';

/**
 * Graph results that stayed in the store where a worker made them (a
 * reference came back instead of the value). Each is held by the computes
 * that still need it and by the result cache; its entry is evicted as soon
 * as neither does.
 */
interface Holding {
  holders: number;
  cached: boolean;
}

const held = new WeakMap<StoreReference, Holding>();

/** A result a worker left in its store. */
export function isKept(value: unknown): value is StoreReference {
  return isStoreReference(value) && value.eager === true && typeof value.bytes === 'number';
}

function holding(reference: StoreReference): Holding {
  let h = held.get(reference);
  if (h === undefined) held.set(reference, (h = { holders: 0, cached: false }));
  return h;
}

function storeOf(reference: StoreReference): Store<unknown> | undefined {
  try {
    const store = getOrCreateStore(reference.storeConfig);
    return store.closed ? undefined : store;
  } catch {
    return undefined;
  }
}

function free(reference: StoreReference): void {
  const store = storeOf(reference);
  if (store === undefined) return;
  // An entry already gone (its store's owner closed) is what we wanted anyway.
  if (store.sync) {
    try {
      store.evictSync(reference.key);
    } catch {
      // Gone already.
    }
  } else {
    store.evict(reference.key).catch(() => undefined);
  }
}

export function hold(value: unknown): void {
  if (isKept(value)) holding(value).holders++;
}

export function letGo(value: unknown): void {
  if (!isKept(value)) return;
  const h = holding(value);
  h.holders--;
  if (h.holders <= 0 && !h.cached) free(value);
}

/** The cache took (`true`) or dropped (`false`) a kept result. */
export function setCached(value: unknown, cached: boolean): void {
  if (!isKept(value)) return;
  const h = holding(value);
  h.cached = cached;
  if (!cached && h.holders <= 0) free(value);
}

/** Still readable: its store is open and has the entry (a closed executor takes its store's entries with it). */
export function isReadable(value: unknown): boolean {
  if (!isKept(value)) return true;
  const store = storeOf(value);
  if (store === undefined) return false;
  return !store.sync || store.existsSync(value.key);
}

/** The value itself, read from the store in the calling thread. */
export function fetchKept(value: StoreReference): Promise<unknown> {
  const store = storeOf(value);
  if (store === undefined) return Promise.reject(new Error(`the store \`${value.storeConfig.name}\` holding the result is closed`));
  return store.get(value.key);
}
