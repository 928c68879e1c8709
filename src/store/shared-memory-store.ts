import { SharedMemoryConnector } from '../connectors/shared-memory.js';
import type { SharedMemoryKey } from '../connectors/shared-memory.js';
import { STORE_OPTION_KEYS, Store } from './store.js';
import { checkKnownOptions } from '../core/options.js';
import type { StoreOptions } from './store.js';

/** A shared-memory key; `view` marks an entry stored as the raw bytes of a typed array of that kind. */
export type SharedMemoryStoreKey = SharedMemoryKey;

export type SharedMemoryStoreOptions = StoreOptions;

/**
 * A store in SharedArrayBuffers: `new Store(new SharedMemoryConnector(), options)`.
 * Its keys carry the memory itself, so a worker given a proxy reads the
 * bytes in place; typed arrays resolve as views of that memory (zero copy,
 * and writes are seen by every thread).
 *
 * @example
 * await using store = new SharedMemoryStore();
 * const p = store.proxy(new Float64Array(1e6)); // one copy, into shared memory
 * const q = store.proxy(shared(Float64Array, 1e6)); // no copy at all
 */
export class SharedMemoryStore extends Store<SharedMemoryStoreKey> {
  constructor(options: SharedMemoryStoreOptions = {}) {
    if (typeof options === 'object' && options !== null) checkKnownOptions(options, STORE_OPTION_KEYS);
    super(new SharedMemoryConnector(), options);
  }
}
