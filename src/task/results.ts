import { types } from 'node:util';
import type { BatchResultWire } from '../core/wire.js';
import { POOL_TAIL_BYTES } from '../core/pool-tail.js';
import { estimateBytes } from '../serialize/estimate.js';
import { isPlainObject } from '../core/values.js';

/** A large structured result, serialized by the registry in the worker and moved to the caller. */
export interface FramedResult {
  readonly __skeinFramedResult: 1;
  readonly frame: Uint8Array;
}

export function isFramedResult(value: unknown): value is FramedResult {
  return typeof value === 'object' && value !== null && (value as { __skeinFramedResult?: unknown }).__skeinFramedResult === 1;
}


/**
 * The registry's serialize, loaded with the first result that needs a frame:
 * the registry (and msgpackr) would otherwise be most of a worker's start.
 */
let serialize: ((value: unknown) => Uint8Array) | undefined;
let loading: Promise<void> | undefined;
const loadSerializer = (): Promise<void> =>
  (loading ??= import('../serialize/index.js').then((registry) => {
    serialize = (value) => registry.serialize(value);
  }));

/** Large binary parts found by the last `scan`, to be moved. */
let found: ArrayBuffer[] = [];
let binaries = 0;

/**
 * (Its own loop rather than core/values' walk, as every hot walk: see there.)
 * Estimated bytes of `value`, recording its binary parts above `threshold`
 * (in arrays and plain objects up to three levels down) for transfer. One
 * pass, and no allocation for the small results most tasks return.
 */
function scan(value: unknown, threshold: number, depth: number): number {
  if (typeof value !== 'object' || value === null) return typeof value === 'string' ? 16 + 2 * value.length : 8;
  // Shared memory crosses by reference, whatever its size; so does what a store reference holds of it.
  if (types.isSharedArrayBuffer(value) || (value as { __skeinStoreReference?: unknown }).__skeinStoreReference === 1) return 64;
  if (ArrayBuffer.isView(value) || types.isArrayBuffer(value)) {
    const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
    if (types.isSharedArrayBuffer(buffer)) return 8;
    if (types.isArrayBuffer(buffer) && value.byteLength > threshold) {
      binaries++;
      if (!found.includes(buffer)) found.push(buffer);
    }
    return value.byteLength;
  }
  if (depth >= 3) return estimateBytes(value);
  if (Array.isArray(value)) {
    if (value.length > 1024) return estimateBytes(value);
    let total = 16;
    for (let i = 0; i < value.length; i++) total += scan(value[i], threshold, depth + 1);
    return total;
  }
  if (!isPlainObject(value)) return estimateBytes(value);
  let total = 16;
  for (const k in value) total += k.length * 2 + scan((value as Record<string, unknown>)[k], threshold, depth + 1);
  return total;
}

/**
 * Worker side, for results above `threshold` bytes: binary data (at the top
 * of a result or inside its arrays and plain objects) is moved to the caller
 * rather than copied; other large values are serialized by the registry
 * (msgpack for records, much faster than structured clone's v8 format) and
 * the frame is moved. Returns what to transfer; `result.values` is updated.
 * A moved buffer is detached here: a task must not keep using what it returned.
 */
export function prepareResults(result: BatchResultWire, threshold: number): ArrayBuffer[] | Promise<ArrayBuffer[]> {
  return prepareValues(result.values, threshold);
}

/** `prepareResults` for values that travel on their own (settle-mode outcomes): `values` is updated in place. */
export function prepareValues(values: unknown[], threshold: number): ArrayBuffer[] | Promise<ArrayBuffer[]> {
  found = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'object' || value === null) continue;
    binaries = 0;
    const bytes = scan(value, threshold, 0);
    // Binary parts are cheaper moved as they are than re-encoded in a frame.
    if (bytes > threshold && binaries === 0 && !ArrayBuffer.isView(value) && !types.isAnyArrayBuffer(value)) {
      // Nothing is framed before the serializer is there: start again once it is.
      if (serialize === undefined) return loadSerializer().then(() => prepareValues(values, threshold));
      let frame = serialize(value);
      if (frame.byteOffset !== 0 || frame.byteLength !== frame.buffer.byteLength || !types.isArrayBuffer(frame.buffer)) frame = frame.slice();
      found.push(frame.buffer as ArrayBuffer);
      values[i] = { __skeinFramedResult: 1, frame } satisfies FramedResult;
    }
  }
  const transfer = found;
  found = [];
  return transfer;
}

/** Reused memory the batch running now was given (see `StoreReference.pooled`); only then are its results searched. */
const pooled: SharedArrayBuffer[] = [];

/** Worker side: notes a task argument that lives in a Parallel's reused memory. */
export function notePooled(value: unknown): void {
  if (!ArrayBuffer.isView(value) || !types.isSharedArrayBuffer(value.buffer)) return;
  if (!pooled.includes(value.buffer)) pooled.push(value.buffer);
}

/**
 * The reused buffer `buffer` shares memory with, if any. The same memory may
 * come under another object (structured clone in this thread makes a new
 * one, as error encoding does): a buffer of the same size is then asked
 * whether it sees an increment of the pooled one's spare tail word. Other
 * threads incrementing at once cannot hide it; a buffer whose tail changes
 * by itself only costs a buffer not reused.
 */
function pooledSharing(buffer: SharedArrayBuffer): SharedArrayBuffer | undefined {
  for (const candidate of pooled) {
    if (candidate === buffer) return candidate;
    if (candidate.byteLength !== buffer.byteLength) continue;
    const theirs = new Int32Array(buffer, buffer.byteLength - POOL_TAIL_BYTES / 2, 1);
    const before = Atomics.load(theirs, 0);
    Atomics.add(new Int32Array(candidate, candidate.byteLength - POOL_TAIL_BYTES / 2, 1), 0, 1);
    if (Atomics.load(theirs, 0) !== before) return candidate;
  }
  return undefined;
}

/**
 * Worker side, once a batch's results are final: flags every reused buffer
 * that the results (or errors) still show, so the caller never reuses it
 * while the user can see it. Runs only for batches given reused memory, and
 * searches what structured clone will copy: arrays, objects, Maps, Sets,
 * views. A framed result is already a copy.
 */
export function flagPooledResults(result: BatchResultWire): void {
  // An explicit stack, not core/values' recursive walk: results may nest deeper than the call stack.
  if (pooled.length === 0) return;
  const stack: object[] = [result.values, result.errors];
  // Only containers are remembered (for cycles): most results are records of primitives.
  const seen = new Set<object>();
  const push = (item: unknown): void => {
    if (typeof item === 'object' && item !== null) stack.push(item);
  };
  while (stack.length > 0) {
    const value = stack.pop()!;
    if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value)) {
      const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
      const shared = types.isSharedArrayBuffer(buffer) ? pooledSharing(buffer) : undefined;
      if (shared !== undefined) Atomics.store(new Int32Array(shared, shared.byteLength - POOL_TAIL_BYTES, 1), 0, 1);
      continue;
    }
    if (seen.has(value)) continue;
    if (Array.isArray(value)) {
      seen.add(value);
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    } else if (types.isMap(value)) {
      seen.add(value);
      for (const [k, v] of value as Map<unknown, unknown>) {
        push(k);
        push(v);
      }
    } else if (types.isSet(value)) {
      seen.add(value);
      for (const v of value as Set<unknown>) push(v);
    } else if (!types.isDate(value) && !types.isRegExp(value) && !types.isBoxedPrimitive(value)) {
      let container = false;
      for (const k in value) {
        const item = (value as Record<string, unknown>)[k];
        if (typeof item === 'object' && item !== null) {
          container = true;
          stack.push(item);
        }
      }
      // An error's cause is cloned with it, though not enumerable.
      if (types.isNativeError(value)) push((value as Error).cause);
      if (container) seen.add(value);
    }
  }
  pooled.length = 0;
}
