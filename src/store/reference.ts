import { getFactory, proxy } from '../proxy/index.js';
import { SerializationError } from '../serialize/errors.js';
import { describeValue } from '../core/errors.js';
import { createStoreFactory, isStoreFactory } from './factory.js';
import type { StoreReference } from './factory.js';

export { getOrCreateStore } from './registry.js';

/** Whether `value` is a StoreReference (also after structured clone). */
export function isStoreReference(value: unknown): value is StoreReference {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { __skeinStoreReference?: unknown }).__skeinStoreReference === 1 &&
    typeof (value as { storeConfig?: unknown }).storeConfig === 'object'
  );
}

/**
 * What to send to another thread in place of a store proxy: `{ key,
 * storeConfig, ... }`, structured-cloneable. Never resolves the proxy.
 * `undefined` for anything that is not a store proxy (including proxies of
 * plain factories, which cannot travel).
 *
 * @example
 * const ref = storeReference(p); // in the caller
 * worker.postMessage(ref);
 * const q = proxyFromReference(ref); // in the worker
 */
export function storeReference(value: unknown): StoreReference | undefined {
  const factory = getFactory(value);
  if (!isStoreFactory(factory)) return undefined;
  if (factory.deserializer !== undefined) {
    throw new SerializationError(
      `A proxy of key \`${describeValue(factory.reference.key)}\` in store \`${factory.reference.storeConfig.name}\` was made with a custom deserializer, ` +
        'and functions cannot travel to another thread: resolve it first (`extract(p)`), or store the value with a registered Serializer instead.',
    );
  }
  return { ...factory.reference };
}

/**
 * A lazy proxy for a reference received from another thread. It resolves
 * through `getOrCreateStore(ref.storeConfig)`, so all proxies of one key in
 * this thread share one fetch and one deserialization (the store's LRU
 * cache). A missing key raises ProxyResolveError naming the key and store.
 */
export function proxyFromReference<T extends object = object>(reference: StoreReference): T {
  if (!isStoreReference(reference)) {
    throw new TypeError(`Expected a store reference (from storeReference()), got ${describeValue(reference)}`);
  }
  return proxy(createStoreFactory<T>(reference), { kind: reference.kind });
}
