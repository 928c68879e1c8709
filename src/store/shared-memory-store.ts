import { types } from 'node:util';
import { SharedMemoryConnector } from '../connectors/shared-memory.js';
import type { SharedMemoryKey } from '../connectors/shared-memory.js';
import { InvalidKeyError } from '../connectors/errors.js';
import type { Connector } from '../connectors/connector.js';
import { registerStoreType } from './registry.js';
import { Store, attachStore, attachingConnector } from './store.js';
import type { PutOptions, StoreOptions } from './store.js';
import { TYPED_ARRAYS, plainTypedArrayName } from './shared.js';

/** A shared-memory key; `view` marks an entry stored as the raw bytes of a typed array of that kind. */
export type SharedMemoryStoreKey = SharedMemoryKey & { readonly view?: string };

export type SharedMemoryStoreOptions = StoreOptions;

/**
 * A store in SharedArrayBuffers. Its keys carry the memory itself, so a
 * worker given a proxy reads the bytes in place; typed arrays resolve as
 * views of that memory (zero copy, and writes are seen by every thread).
 *
 * @example
 * await using store = new SharedMemoryStore();
 * const p = store.proxy(new Float64Array(1e6)); // one copy, into shared memory
 * const q = store.proxy(shared(Float64Array, 1e6)); // no copy at all
 */
export class SharedMemoryStore extends Store<SharedMemoryStoreKey> {
  constructor(options: SharedMemoryStoreOptions = {}) {
    const attached = attachingConnector() as Connector<SharedMemoryStoreKey> | undefined;
    super(attached ?? new SharedMemoryConnector(), options, 'shared-memory');
  }

  /**
   * Typed arrays skip the serializer: their bytes go to shared memory as they
   * are (adopted without a copy when already shared) and the key records the
   * kind, so readers get a view at an aligned offset whatever the
   * serializer's frame layout.
   */
  override async put(value: unknown, options: PutOptions = {}): Promise<SharedMemoryStoreKey> {
    return this.putSync(value, options);
  }

  override putSync(value: unknown, options: PutOptions = {}): SharedMemoryStoreKey {
    const view = options.serializer === undefined ? plainTypedArrayName(value) : undefined;
    if (view === undefined) return super.putSync(value, options);
    if (this.closed) return super.putSync(value, options); // raises StoreClosedError
    const array = value as Uint8Array;
    const key: SharedMemoryStoreKey = {
      ...this.connector.putSync(new Uint8Array(array.buffer, array.byteOffset, array.byteLength)),
      view,
    };
    this.record(key, array.byteLength, 'object');
    return key;
  }

  protected override decode(key: SharedMemoryStoreKey, bytes: Uint8Array): unknown {
    if (key.view === undefined) return super.decode(key, bytes);
    const Ctor = Object.hasOwn(TYPED_ARRAYS, key.view) ? TYPED_ARRAYS[key.view] : undefined;
    if (Ctor === undefined || bytes.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0 || bytes.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
      throw new InvalidKeyError(key, this.connector.description, `cannot view its bytes as ${String(key.view)}`);
    }
    const buffer = bytes.buffer;
    if (!types.isSharedArrayBuffer(buffer)) throw new InvalidKeyError(key, this.connector.description, 'not in shared memory');
    const View = Ctor as unknown as new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => unknown;
    return new View(buffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
  }
}

registerStoreType('shared-memory', (config) => {
  if (config.connector.type !== 'shared-memory') throw new TypeError('shared-memory store config without a shared-memory connector');
  const connector = SharedMemoryConnector.fromConfig(config.connector);
  return attachStore(config, connector as Connector<unknown>, () => new SharedMemoryStore()) as Store<unknown>;
});
