import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, initial?: number) => number;

// zlib.crc32 arrived in Node 20.15 (hardware CRC, ~5 GB/s here); older 20.x
// get a table-driven fallback that yields the same values, only slower.
const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

let table: Uint32Array | undefined;

function crc32Table(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** Portable CRC-32 (IEEE), used when `zlib.crc32` is missing; exported for tests. */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  const t = crc32Table();
  let c = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE, as zlib and gzip compute it), continuing from `initial`. */
export const crc32: Crc32 = native ? (data, initial = 0) => native(data, initial) >>> 0 : crc32Portable;

export const hasNativeCrc32 = native !== undefined;
