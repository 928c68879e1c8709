import { Store, type StoreConfig } from './store.js';
// Loaded for their registration: a worker rebuilding a store from config
// needs the built-in connector types known, whatever the caller imported.
import '../connectors/local.js';
import '../connectors/shared-memory.js';
import '../connectors/file.js';

/*
 * The stores of this thread by id. Owners register on construction, so a
 * reference resolved in the thread that made it reaches the original store;
 * in a worker, `getOrCreateStore` adds the stores it rebuilds from config,
 * each with its own LRU cache, kept for the worker's lifetime (ProxyStore's
 * `get_or_create_store`).
 */
// Owners are held weakly: a store the program dropped without closing must
// not stay alive (with its shared memory) just because it is registered.
// Stores rebuilt here are held strongly: their cache is the point.
const stores = new Map<string, Store<unknown> | WeakRef<Store<unknown>>>();

function live(id: string): Store<unknown> | undefined {
  const entry = stores.get(id);
  const store = entry instanceof WeakRef ? entry.deref() : entry;
  if (store === undefined) stores.delete(id);
  return store;
}

/** Registers an owner (weakly); stores rebuilt from config are added by getOrCreateStore. */
export function registerStore(store: Store<unknown>): void {
  if (store.owner && live(store.id) === undefined) stores.set(store.id, new WeakRef(store));
}

export function unregisterStore(store: Store<unknown>): void {
  if (live(store.id) === store) stores.delete(store.id);
}

/**
 * The store `config` describes, as seen from this thread: the original when
 * it lives here, else one rebuilt from config on first use and then reused.
 */
export function getOrCreateStore(config: StoreConfig): Store<unknown> {
  const existing = live(config.id);
  if (existing !== undefined) return existing;
  const store = Store.fromConfig(config);
  stores.set(config.id, store);
  return store;
}

/** Prunes the caches of every store this thread rebuilt from config (see `Store.pruneCache`). */
export function pruneRebuiltCaches(): void {
  for (const entry of stores.values()) {
    if (!(entry instanceof WeakRef)) entry.pruneCache();
  }
}
