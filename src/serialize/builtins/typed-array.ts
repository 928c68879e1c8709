import os from 'node:os';
import { types } from 'node:util';
import type { Serializer } from '../serializer.js';

type TypedArrayConstructor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView;
  new (length: number): ArrayBufferView;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/** Any typed array or a `DataView`. */
export type ArrayView = ArrayBufferView;

// Codes are written in frames: append, never renumber.
const DTYPES: readonly (string | undefined)[] = [
  undefined,
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
  'Float16Array',
];
const CODE = new Map(DTYPES.flatMap((name, code) => (name === undefined ? [] : [[name, code] as const])));

const constructors = globalThis as unknown as Record<string, TypedArrayConstructor | undefined>;
const LITTLE_ENDIAN = os.endianness() === 'LE';
// Prefix: dtype code, endianness (1 = little), padding to 8 so the elements stay aligned in the frame.
const PREFIX = 8;

function dtypeName(value: unknown): string | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  // toStringTag is realm-independent, unlike instanceof (jest runs tests in their own realm).
  const tag = types.isDataView(value) ? 'DataView' : (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag];
  // Subclasses would come back as their base class: leave them to a custom serializer.
  return tag !== undefined && (value as { constructor?: { name?: string } }).constructor?.name === tag ? tag : undefined;
}

function swapBytes(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = bytes[i + width - 1 - k]!;
  }
  return out;
}

/**
 * Every typed array and `DataView`: dtype plus the raw element bytes, one
 * copy to serialize. Deserialized as a zero-copy view of the frame when the
 * elements are aligned there (always, for frames `serialize` made, unless
 * the caller moved them to an unaligned offset), otherwise as an aligned copy.
 */
export const typedArraySerializer: Serializer<ArrayView> = {
  id: 'typed-array',
  canSerialize: (value): value is ArrayView => {
    const name = dtypeName(value);
    return name !== undefined && CODE.has(name);
  },
  serialize(value) {
    return this.serializeReserving!(value, 0);
  },
  serializeReserving(value, reserved) {
    // Not zero-filled (calloc is a second pass over large arrays): every byte is written below or by the header.
    // Below 4 KB it comes from Node's Buffer pool (8-byte aligned), a tenth of the cost of an ArrayBuffer of its own.
    const out = Buffer.allocUnsafe(reserved + PREFIX + value.byteLength);
    out[reserved] = CODE.get(dtypeName(value)!)!;
    out[reserved + 1] = LITTLE_ENDIAN ? 1 : 0;
    out.fill(0, reserved + 2, reserved + PREFIX);
    out.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), reserved + PREFIX);
    return out;
  },
  deserialize(bytes) {
    if (bytes.byteLength < PREFIX) throw new RangeError(`typed-array payload of ${bytes.byteLength} bytes is shorter than its ${PREFIX}-byte prefix`);
    const name = DTYPES[bytes[0]!];
    const Ctor = name === undefined ? undefined : constructors[name];
    if (name === undefined || Ctor === undefined) throw new RangeError(`unknown or unsupported dtype code ${bytes[0]}`);
    const width = name === 'DataView' ? 1 : Ctor.BYTES_PER_ELEMENT;
    const byteLength = bytes.byteLength - PREFIX;
    if (byteLength % width !== 0) throw new RangeError(`${byteLength} bytes is not a whole number of ${name} elements`);
    let raw = bytes.subarray(PREFIX);
    if ((bytes[1] === 1) !== LITTLE_ENDIAN && width > 1) raw = swapBytes(raw, width);
    if (raw.byteOffset % width !== 0) raw = raw.slice();
    return new Ctor(raw.buffer, raw.byteOffset, byteLength / width);
  },
};
