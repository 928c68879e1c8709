import { types } from 'node:util';
import type { BatchResultWire } from '../protocol/messages.js';
import { estimateBytes } from '../serialize/estimate.js';
import { deserialize, serialize } from '../serialize/index.js';
import { isPlainObject } from '../values.js';

/** A large structured result, serialized by the registry in the worker and moved to the caller. */
export interface FramedResult {
  readonly __skeinFramedResult: 1;
  readonly frame: Uint8Array;
}

export function isFramedResult(value: unknown): value is FramedResult {
  return typeof value === 'object' && value !== null && (value as { __skeinFramedResult?: unknown }).__skeinFramedResult === 1;
}


/** Large binary parts found by the last `scan`, to be moved. */
let found: ArrayBuffer[] = [];
let binaries = 0;

/**
 * Estimated bytes of `value`, recording its binary parts above `threshold`
 * (in arrays and plain objects up to three levels down) for transfer. One
 * pass, and no allocation for the small results most tasks return.
 */
function scan(value: unknown, threshold: number, depth: number): number {
  if (typeof value !== 'object' || value === null) return typeof value === 'string' ? 16 + 2 * value.length : 8;
  if (ArrayBuffer.isView(value) || types.isArrayBuffer(value)) {
    const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
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
export function prepareResults(result: BatchResultWire, threshold: number): ArrayBuffer[] {
  return prepareValues(result.values, threshold);
}

/** `prepareResults` for values that travel on their own (settle-mode outcomes): `values` is updated in place. */
export function prepareValues(values: unknown[], threshold: number): ArrayBuffer[] {
  found = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'object' || value === null) continue;
    binaries = 0;
    const bytes = scan(value, threshold, 0);
    // Binary parts are cheaper moved as they are than re-encoded in a frame.
    if (bytes > threshold && binaries === 0 && !ArrayBuffer.isView(value) && !types.isAnyArrayBuffer(value)) {
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

/** Caller side: turns framed results back into ordinary values. */
export function restoreResults(values: unknown[]): unknown[] {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (isFramedResult(value)) values[i] = deserialize(value.frame);
  }
  return values;
}
