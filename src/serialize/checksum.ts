import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, initial?: number) => number;

// zlib.crc32 arrived in Node 20.15 (~5 GB/s here); older 20.x get the
// table-driven version below, which yields the same values, only slower.
const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

// Below this many bytes the table loop beats zlib.crc32, whose fixed cost (argument checks, the native call) is ~0.2 µs.
const NATIVE_FROM = 256;

const table = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  table[n] = c >>> 0;
}

/** CRC-32 of `data[start, end)`, continuing from `initial`, by table lookup. */
export function crc32Range(data: Uint8Array, start: number, end: number, initial = 0): number {
  let c = ~initial;
  for (let i = start; i < end; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Portable CRC-32 (IEEE), used when `zlib.crc32` is missing; exported for tests. */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  return crc32Range(data, 0, data.length, initial);
}

/** CRC-32 (IEEE, as zlib and gzip compute it), continuing from `initial`. */
export const crc32: Crc32 = native
  ? (data, initial = 0) => (data.length < NATIVE_FROM ? crc32Range(data, 0, data.length, initial) : native(data, initial) >>> 0)
  : crc32Portable;

/** CRC-32 of `data[start, data.length)`, without a subarray when the table loop does it. */
export function crc32From(data: Uint8Array, start: number): number {
  return native && data.length - start >= NATIVE_FROM ? native(data.subarray(start), 0) >>> 0 : crc32Range(data, start, data.length);
}

export const hasNativeCrc32 = native !== undefined;
