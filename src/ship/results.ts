import { types } from 'node:util';
import type { BatchResultWire } from '../protocol/messages.js';
import { estimateBytes } from '../serialize/estimate.js';
import { deserialize, serialize } from '../serialize/index.js';

/** A large structured result, serialized by the registry in the worker and moved to the caller. */
export interface FramedResult {
  readonly __skeinFramedResult: 1;
  readonly frame: Uint8Array;
}

export function isFramedResult(value: unknown): value is FramedResult {
  return typeof value === 'object' && value !== null && (value as { __skeinFramedResult?: unknown }).__skeinFramedResult === 1;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
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
  const transfer = new Set<ArrayBuffer>();
  /** Lists the large binary parts of `value` for transfer; returns how many it found. */
  const collect = (value: unknown, depth: number): number => {
    if (typeof value !== 'object' || value === null) return 0;
    if (ArrayBuffer.isView(value) || types.isArrayBuffer(value)) {
      const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
      if (!types.isArrayBuffer(buffer) || value.byteLength <= threshold) return 0;
      transfer.add(buffer);
      return 1;
    }
    if (depth >= 3) return 0;
    let found = 0;
    if (Array.isArray(value)) {
      if (value.length <= 1024) for (const item of value) found += collect(item, depth + 1);
    } else if (isPlainObject(value)) {
      for (const k of Object.keys(value)) found += collect((value as Record<string, unknown>)[k], depth + 1);
    }
    return found;
  };
  const { values } = result;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'object' || value === null) continue;
    const binary = ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value);
    if (!binary && (Array.isArray(value) || isPlainObject(value)) && estimateBytes(value) > threshold) {
      // Binary parts are cheaper moved as they are than re-encoded in a frame.
      if (collect(value, 0) === 0) {
        let frame = serialize(value);
        if (frame.byteOffset !== 0 || frame.byteLength !== frame.buffer.byteLength || !types.isArrayBuffer(frame.buffer)) frame = frame.slice();
        transfer.add(frame.buffer as ArrayBuffer);
        values[i] = { __skeinFramedResult: 1, frame } satisfies FramedResult;
      }
      continue;
    }
    collect(value, 0);
  }
  return [...transfer];
}

/** Caller side: turns framed results back into ordinary values. */
export function restoreResults(values: unknown[]): unknown[] {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (isFramedResult(value)) values[i] = deserialize(value.frame);
  }
  return values;
}
