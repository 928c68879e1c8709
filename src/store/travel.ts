import { extract, isProxy, resolveAsync } from '../proxy/index.js';
import type { BatchWire, CapturedFunctionWire, FunctionInstanceWire, KeepWire, SpentWire } from '../core/wire.js';
import { estimateBytes } from '../serialize/estimate.js';
import type { StoreConfig } from './store.js';
import { getOrCreateStore, isStoreReference, proxyFromReference, storeReference } from './reference.js';
import { createStoreFactory, type StoreReference } from './factory.js';
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
 * Synchronous: a reference to a store without `sync` becomes a proxy that
 * must be resolved with `resolveAsync` first (see `reviveReferencesAsync`).
 */
export function reviveReferences(value: unknown, onPooled?: (value: unknown) => void): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return revive(value, new Walk<true>(value), onPooled, undefined);
}

/**
 * `reviveReferences`, resolving before it returns the references whose
 * store cannot resolve synchronously (its connector has no `sync`): eager
 * ones become their values, lazy ones resolved proxies. Returns at once,
 * without a promise, when no reference needed that.
 */
export function reviveReferencesAsync(value: unknown, onPooled?: (value: unknown) => void): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const box = [value];
  const pending: Promise<void>[] = [];
  revive(box, new Walk<true>(box), onPooled, pending);
  return pending.length === 0 ? box[0] : Promise.all(pending).then(() => box[0]);
}

function isCapturedFunction(value: unknown): value is CapturedFunctionWire {
  return typeof value === 'object' && value !== null && '__skeinFunction' in value;
}

function holdsReferences(inst: FunctionInstanceWire): boolean {
  return inst.refs === true || inst.values.some((v) => isCapturedFunction(v) && holdsReferences(v.__skeinFunction));
}

/**
 * What a worker runs instead of `batch`: its references (in arguments and
 * captured values) revived as `reviveReferencesAsync` does, and no longer
 * marked, so `runBatch` needs no `revive`. The batch itself when it holds
 * none; a promise only when some store has no `sync`.
 */
export function reviveBatch(batch: BatchWire, onPooled?: (value: unknown) => void): BatchWire | Promise<BatchWire> {
  const fnRefs = batch.fns.some(holdsReferences);
  if (batch.refs !== true && !fnRefs) return batch;
  const pending: Promise<void>[] = [];
  // Each list is a root of its own: its members are what get replaced in place.
  const revived = (list: readonly unknown[]): unknown[] => revive(list, new Walk<true>(list), onPooled, pending) as unknown[];
  const { refs: _refs, ...rest } = batch;
  const out: BatchWire = {
    ...rest,
    ...(batch.refs === true && batch.args !== undefined ? { args: batch.args.map(revived) } : {}),
    ...(batch.refs === true && batch.columns !== undefined ? { columns: batch.columns.map(revived) } : {}),
    ...(fnRefs ? { fns: batch.fns.map((f) => (holdsReferences(f) ? withoutRefs(f, revived(f.values)) : f)) } : {}),
  };
  return pending.length === 0 ? out : Promise.all(pending).then(() => out);
}

/** `inst` with its values revived, no longer marked as holding references (and keeping the rest, such as its classes). */
function withoutRefs(inst: FunctionInstanceWire, values: unknown[]): FunctionInstanceWire {
  const { refs: _refs, ...rest } = inst;
  return { ...rest, values };
}

function revive(
  value: object,
  walk: Walk<true>,
  onPooled: ((value: unknown) => void) | undefined,
  pending: Promise<void>[] | undefined,
): unknown {
  if (isStoreReference(value)) return reviveOne(value, onPooled);
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
      const revived = pending !== undefined && isStoreReference(item) ? reviveLater(item, onPooled, pending, value, i) : revive(item, walk, onPooled, pending);
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
      const revived =
        pending !== undefined && isStoreReference(item)
          ? reviveLater(item, onPooled, pending, value as Record<string, unknown>, keys[i]!)
          : revive(item, walk, onPooled, pending);
      if (revived !== item) (value as Record<string, unknown>)[keys[i]!] = revived;
    }
  }
  return value;
}

function reviveOne(reference: StoreReference, onPooled: ((value: unknown) => void) | undefined): unknown {
  if (reference.eager !== true) return proxyFromReference(reference);
  // Eager: the task gets the value itself, so no proxy is made only to be unwrapped.
  const resolved = createStoreFactory<unknown>(reference)();
  if (reference.pooled === true) onPooled?.(resolved);
  return resolved;
}

/**
 * A reference met by the async revive: as `reviveOne` when its store has
 * `sync` (the fast path); else fetched now, and `container[at]` set once it
 * is here. The reference stays in place until then.
 */
function reviveLater(
  reference: StoreReference,
  onPooled: ((value: unknown) => void) | undefined,
  pending: Promise<void>[],
  container: unknown[] | Record<string, unknown>,
  at: number | string,
): unknown {
  let sync: boolean;
  try {
    sync = getOrCreateStore(reference.storeConfig).sync;
  } catch {
    // Cannot be rebuilt here (unregistered type): the proxy raises why, as the sync path would.
    sync = true;
  }
  if (sync) return reviveOne(reference, onPooled);
  if (reference.eager === true) {
    const factory = createStoreFactory<unknown>(reference);
    pending.push(
      factory.resolveAsync!().then((value) => {
        (container as Record<string | number, unknown>)[at] = value;
        if (reference.pooled === true) onPooled?.(value);
      }),
    );
    return reference;
  }
  const p = proxyFromReference(reference);
  // Never rejects: a failure is raised by the task's first use of the proxy, as on the sync path.
  pending.push(resolveAsync(p));
  return p;
}

const SPENT: SpentWire = Object.freeze({ __skeinSpent: 1 });

/** A large result that only its own batch needed: neither kept nor sent (see `BatchWire.spent`). */
export function isSpent(value: unknown): value is SpentWire {
  return typeof value === 'object' && value !== null && (value as { __skeinSpent?: unknown }).__skeinSpent === 1;
}

/**
 * Executing side: a result worth keeping where it was made (`KeepWire`) is
 * put into the store and replaced by an eager reference to it. Values at or
 * below the size, and stores that cannot put synchronously, pass as they are.
 */
export function keepResult(value: unknown, keep: KeepWire, spent = false): unknown {
  if (typeof value !== 'object' || value === null || isStoreReference(value)) return value;
  const bytes = ArrayBuffer.isView(value) ? value.byteLength : estimateBytes(value, 0, isProxy);
  if (bytes <= keep.above) return value;
  if (spent) return SPENT;
  const store = getOrCreateStore(keep.store as StoreConfig);
  if (!store.sync) return value;
  const key = store.putSync(value);
  const reference: StoreReference = { ...store.referenceOf(key), eager: true, bytes };
  return reference;
}
