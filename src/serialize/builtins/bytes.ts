import { types } from 'node:util';
import type { Serializer } from '../serializer.js';

type Bytes = Uint8Array | ArrayBuffer | SharedArrayBuffer;

// 8-byte prefix: kind, then padding that keeps the raw bytes 8-aligned in the frame.
const PREFIX = 8;
const enum Kind {
  Uint8Array = 0,
  Buffer = 1,
  ArrayBuffer = 2,
  SharedArrayBuffer = 3,
}

function kindOf(value: unknown): Kind | undefined {
  // Strings and numbers are asked first thing on every call: skip the three type checks (two are native calls).
  if (typeof value !== 'object' || value === null) return undefined;
  if (types.isUint8Array(value)) {
    if (Buffer.isBuffer(value)) return Kind.Buffer;
    // A user subclass of Uint8Array would come back as a plain one; leave it to a custom serializer.
    return (value as { constructor?: { name?: string } }).constructor?.name === 'Uint8Array' ? Kind.Uint8Array : undefined;
  }
  if (types.isArrayBuffer(value)) return Kind.ArrayBuffer;
  if (types.isSharedArrayBuffer(value)) return Kind.SharedArrayBuffer;
  return undefined;
}

function asView(value: Bytes): Uint8Array {
  return ArrayBuffer.isView(value) ? value : new Uint8Array(value);
}

/**
 * Raw bytes: `Uint8Array`, `Buffer`, `ArrayBuffer`, `SharedArrayBuffer`, each
 * restored as the same kind. Views come back as zero-copy views of the frame;
 * buffers are copied (an `ArrayBuffer` cannot be a view).
 */
export const bytesSerializer: Serializer<Bytes> = {
  id: 'bytes',
  canSerialize: (value): value is Bytes => kindOf(value) !== undefined,
  serialize(value) {
    return this.serializeReserving!(value, 0);
  },
  serializeReserving(value, reserved) {
    const raw = asView(value);
    // Uninitialized (pooled below 4 KB, like any small Buffer): every byte is written here or by the header.
    const out = Buffer.allocUnsafe(reserved + PREFIX + raw.byteLength);
    out[reserved] = kindOf(value)!;
    out.fill(0, reserved + 1, reserved + PREFIX);
    out.set(raw, reserved + PREFIX);
    return out;
  },
  deserialize(bytes) {
    if (bytes.byteLength < PREFIX) throw new RangeError(`bytes payload of ${bytes.byteLength} bytes is shorter than its ${PREFIX}-byte prefix`);
    const start = bytes.byteOffset + PREFIX;
    const length = bytes.byteLength - PREFIX;
    switch (bytes[0]) {
      case Kind.Uint8Array:
        return new Uint8Array(bytes.buffer, start, length);
      case Kind.Buffer:
        return Buffer.from(bytes.buffer, start, length);
      case Kind.ArrayBuffer: {
        const copy = new Uint8Array(length);
        copy.set(bytes.subarray(PREFIX));
        return copy.buffer;
      }
      case Kind.SharedArrayBuffer: {
        const shared = new SharedArrayBuffer(length);
        new Uint8Array(shared).set(bytes.subarray(PREFIX));
        return shared;
      }
      default:
        throw new RangeError(`unknown bytes kind ${bytes[0]}`);
    }
  },
};

/**
 * Bytes in, the same bytes out: the payload is the input, unchanged, and
 * comes back as a `Uint8Array` view. For data that is already bytes, e.g.
 * the output of a store's per-call `serializer` function. Never chosen
 * automatically (`bytes` takes every `Uint8Array` first); name it with
 * `serialize(x, { serializer: 'identity' })`.
 */
export const identitySerializer: Serializer<Uint8Array> = {
  id: 'identity',
  canSerialize: (value): value is Uint8Array => types.isUint8Array(value),
  serialize: (value) => value,
  serializeReserving(value, reserved) {
    const out = new Uint8Array(reserved + value.byteLength);
    out.set(value, reserved);
    return out;
  },
  deserialize: (bytes) => bytes,
};
