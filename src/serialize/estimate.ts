/** Size guesses for deciding what to send by reference; no value is serialized to be measured. */
import { types } from 'node:util';

const SAMPLE = 64;

/**
 * (Samples rather than walks, so it keeps its own loop: see core/values.)
 * A cheap, bounded guess of what structured clone would copy: exact for
 * binary data, sampled for long arrays and wide objects, never a serialization.
 */
export function estimateBytes(value: unknown, depth = 0, opaque?: (value: object) => boolean): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length * 2;
    case 'number':
    case 'bigint':
      return 8;
    case 'boolean':
    case 'undefined':
      return 1;
    case 'object':
      break;
    default:
      return 8;
  }
  if (value === null) return 1;
  // What the caller says travels by reference (a store proxy) is not looked into: that could resolve it.
  if (opaque?.(value)) return 64;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (types.isAnyArrayBuffer(value)) return value.byteLength;
  if (depth > 6) return 64;
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return 16;
    if (n <= SAMPLE) {
      let total = 16;
      for (let i = 0; i < n; i++) total += estimateBytes(value[i], depth + 1, opaque);
      return total;
    }
    let sampled = 0;
    const step = n / SAMPLE;
    for (let k = 0; k < SAMPLE; k++) sampled += estimateBytes(value[Math.floor(k * step)], depth + 1, opaque);
    return 16 + (sampled / SAMPLE) * n;
  }
  if (types.isMap(value) || types.isSet(value)) {
    let sampled = 0;
    let k = 0;
    for (const entry of value as Iterable<unknown>) {
      sampled += estimateBytes(entry, depth + 1, opaque);
      if (++k === SAMPLE) break;
    }
    return 16 + (k === 0 ? 0 : (sampled / k) * value.size);
  }
  const keys = Object.keys(value);
  const n = keys.length;
  let sampled = 0;
  const count = Math.min(n, SAMPLE);
  const step = n / Math.max(count, 1);
  for (let k = 0; k < count; k++) {
    const key = keys[Math.floor(k * step)]!;
    sampled += key.length * 2 + estimateBytes((value as Record<string, unknown>)[key], depth + 1, opaque);
  }
  return 16 + (count === 0 ? 0 : (sampled / count) * n);
}

