import v8 from 'node:v8';
import type { Serializer } from '../serializer.js';

// One zeroed buffer per header size (there are few): allocating it per call cost as much as a small value's serialization.
const zeroBuffers: Buffer[] = [];
function zeros(n: number): Buffer {
  return (zeroBuffers[n] ??= Buffer.alloc(n));
}

/**
 * The fallback: everything structured clone handles (Map, Set, BigInt,
 * RegExp, Errors, cycles, shared references, sparse arrays, -0, class
 * instances as plain objects). Refuses only what it can never clone at the
 * top level; deeper functions make `serialize` throw, and the registry
 * reports where.
 */
export const v8Serializer: Serializer<unknown> = {
  id: 'v8',
  canSerialize: (value): value is unknown => typeof value !== 'function' && typeof value !== 'symbol',
  serialize: (value) => v8.serialize(value),
  serializeReserving(value, reserved) {
    // What v8.serialize does, with the frame header's room written first so
    // the released buffer is the whole frame: no second copy.
    const ser = new v8.DefaultSerializer();
    if (reserved > 0) ser.writeRawBytes(zeros(reserved));
    ser.writeHeader();
    ser.writeValue(value);
    const out = ser.releaseBuffer();
    if (out.byteOffset % 8 === 0) return out;
    const aligned = new Uint8Array(out.byteLength);
    aligned.set(out);
    return aligned;
  },
  deserialize: (bytes) => v8.deserialize(bytes) as unknown,
};
