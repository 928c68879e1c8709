import { extract, isProxy } from '../proxy/index.js';
import { isStoreReference, proxyFromReference, storeReference } from './reference.js';
import { isPlainObject } from '../values.js';


/**
 * Replaces store proxies inside a value (top level, or nested in arrays and
 * plain objects) with their references, so only `{ key, storeConfig }`
 * crosses the thread and the caller's proxies stay unresolved. Containers on
 * the way are copied, never mutated. A proxy of a plain factory cannot travel
 * by reference: its target is sent instead.
 */
export function encodeReferences(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isProxy(value)) return storeReference(value) ?? extract(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const encoded = encodeReferences(item);
      if (encoded !== item) {
        copy ??= value.slice();
        copy[i] = encoded;
      }
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[k];
    const encoded = encodeReferences(item);
    if (encoded !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[k] = encoded;
    }
  }
  return copy ?? value;
}

/**
 * The receiving side of `encodeReferences`: each reference becomes a lazy
 * proxy resolved through this thread's store cache, or, marked `eager`, the
 * resolved value itself (still through the cache, so once per thread).
 * `onPooled` sees each eager value that lives in a Parallel's reused memory.
 */
export function reviveReferences(value: unknown, onPooled?: (value: unknown) => void): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isStoreReference(value)) {
    if (value.eager !== true) return proxyFromReference(value);
    const resolved = extract(proxyFromReference(value));
    if (value.pooled === true) onPooled?.(resolved);
    return resolved;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveReferences(value[i], onPooled);
  } else if (isPlainObject(value)) {
    for (const k of Object.keys(value)) (value as Record<string, unknown>)[k] = reviveReferences((value as Record<string, unknown>)[k], onPooled);
  }
  return value;
}
