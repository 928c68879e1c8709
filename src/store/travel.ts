import { extract, isProxy } from '../proxy/index.js';
import { isStoreReference, proxyFromReference, storeReference } from './reference.js';
import { isPlainObject, Visited as Walk } from '../core/values.js';

/**
 * Replaces store proxies inside a value (top level, or nested in arrays and
 * plain objects) with their references, so only `{ key, storeConfig }`
 * crosses the thread and the caller's proxies stay unresolved. Containers on
 * the way are copied, never mutated, and a cycle closes on the copy. A proxy
 * of a plain factory cannot travel by reference: its target is sent instead.
 */
export function encodeReferences(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return encode(value, new Walk<object | null>(value));
}

function encode(value: object, walk: Walk<object | null>): unknown {
  if (isProxy(value)) return storeReference(value) ?? extract(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    let tracked = false;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'object' || item === null) continue;
      let encoded: unknown;
      if (isProxy(item)) {
        encoded = storeReference(item) ?? extract(item);
      } else {
        if (!tracked) {
          tracked = true;
          const met = walk.get(value);
          if (met !== undefined) return met ?? closeCycle(value, walk);
          walk.set(value, copy ?? null);
        }
        encoded = encode(item, walk);
      }
      if (encoded !== item) {
        if (copy === undefined) {
          // A cycle below may already have made this container's copy.
          copy = (tracked ? (walk.get(value) as unknown[] | null) : null) ?? value.slice();
          if (tracked) walk.set(value, copy);
        }
        copy[i] = encoded;
      }
    }
    return tracked ? finish(value, walk) : (copy ?? value);
  }
  if (!isPlainObject(value)) return value;
  const keys = Object.keys(value);
  let copy: Record<string, unknown> | undefined;
  let tracked = false;
  for (let i = 0; i < keys.length; i++) {
    const item = (value as Record<string, unknown>)[keys[i]!];
    if (typeof item !== 'object' || item === null) continue;
    let encoded: unknown;
    if (isProxy(item)) {
      encoded = storeReference(item) ?? extract(item);
    } else {
      if (!tracked) {
        tracked = true;
        const met = walk.get(value);
        if (met !== undefined) return met ?? closeCycle(value, walk);
        walk.set(value, copy ?? null);
      }
      encoded = encode(item, walk);
    }
    if (encoded !== item) {
      if (copy === undefined) {
        copy = (tracked ? (walk.get(value) as Record<string, unknown> | null) : null) ?? { ...(value as Record<string, unknown>) };
        if (tracked) walk.set(value, copy);
      }
      copy[keys[i]!] = encoded;
    }
  }
  return tracked ? finish(value, walk) : (copy ?? value);
}

/** A tracked container's result, remembered for every other way back to it. */
function finish(value: object, walk: Walk<object | null>): object {
  const result = walk.get(value) ?? value;
  walk.set(value, result);
  return result;
}

/** A container reached again while it is still being walked: its copy is made now, for the cycle to point at. */
function closeCycle(value: object, walk: Walk<object | null>): object {
  const copy = Array.isArray(value) ? value.slice() : { ...(value as Record<string, unknown>) };
  walk.set(value, copy);
  return copy;
}

/**
 * The receiving side of `encodeReferences`: each reference becomes a lazy
 * proxy resolved through this thread's store cache, or, marked `eager`, the
 * resolved value itself (still through the cache, so once per thread).
 * Works in place, so a cycle need only be stopped, not rebuilt.
 * `onPooled` sees each eager value that lives in a Parallel's reused memory.
 */
export function reviveReferences(value: unknown, onPooled?: (value: unknown) => void): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return revive(value, new Walk<true>(value), onPooled);
}

function revive(value: object, walk: Walk<true>, onPooled: ((value: unknown) => void) | undefined): unknown {
  if (isStoreReference(value)) {
    if (value.eager !== true) return proxyFromReference(value);
    const resolved = extract(proxyFromReference(value));
    if (value.pooled === true) onPooled?.(resolved);
    return resolved;
  }
  if (Array.isArray(value)) {
    let tracked = false;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'object' || item === null) continue;
      if (!tracked) {
        tracked = true;
        if (walk.get(value)) return value;
        walk.set(value, true);
      }
      const revived = revive(item, walk, onPooled);
      if (revived !== item) value[i] = revived;
    }
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value);
    let tracked = false;
    for (let i = 0; i < keys.length; i++) {
      const item = (value as Record<string, unknown>)[keys[i]!];
      if (typeof item !== 'object' || item === null) continue;
      if (!tracked) {
        tracked = true;
        if (walk.get(value)) return value;
        walk.set(value, true);
      }
      const revived = revive(item, walk, onPooled);
      if (revived !== item) (value as Record<string, unknown>)[keys[i]!] = revived;
    }
  }
  return value;
}
