/**
 * Stores: a connector, the serializer registry and a per-thread LRU cache
 * (ProxyStore's `store`), and the references that let store proxies travel.
 */
export { Store } from './store.js';
export type { StoreConfig, StoreOptions, PutOptions, GetOptions, StoreProxyOptions, ProxyFromKeyOptions, StoreStats, CloseOptions } from './store.js';
export { SharedMemoryStore } from './shared-memory-store.js';
export type { SharedMemoryStoreKey, SharedMemoryStoreOptions } from './shared-memory-store.js';
export { FileStore } from './file-store.js';
export type { FileStoreOptions } from './file-store.js';
export { shared } from './shared.js';
export type { TypedArray, TypedArrayConstructor } from './shared.js';
export { storeReference, proxyFromReference, isStoreReference, getOrCreateStore } from './reference.js';
export type { StoreReference, StoreFactory } from './factory.js';
export { isStoreFactory } from './factory.js';
export { KeyNotFoundError, StoreClosedError, SyncUnsupportedError } from './errors.js';
