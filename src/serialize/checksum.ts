import { createRequire } from 'node:module';
import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, initial?: number) => number;

/**
 * The fastest CRC-32 (IEEE, the value zlib and gzip compute) this thread can
 * load. @node-rs/crc32 folds with carry-less multiplication (~15 GB/s here,
 * 2.3x zlib.crc32 on large payloads, and ahead of it from 64 bytes up), and
 * the checksum is the one pass over the data that v8.serialize does not make,
 * so its speed is the price of integrity checking. Its prebuilt binary may be
 * missing on an unusual platform: zlib.crc32 (Node 20.15+) takes over, then
 * the table loop below; all three give the same values, so frames stay readable
 * across them.
 */
function loadNative(): { crc32: Crc32; name: string } | undefined {
  try {
    const m = createRequire(import.meta.url)('@node-rs/crc32') as { crc32?: (data: Uint8Array, initial?: number) => number };
    if (typeof m.crc32 === 'function') return { crc32: m.crc32, name: '@node-rs/crc32' };
  } catch {
    // No binary for this platform: fall through to zlib.
  }
  const z = (zlib as unknown as { crc32?: Crc32 }).crc32;
  return z ? { crc32: z, name: 'node:zlib' } : undefined;
}

const native = loadNative();

// Below this many bytes the table loop beats a native call, whose fixed cost (argument checks, the call) is ~0.1 µs.
const NATIVE_FROM = 64;

// Slicing-by-4: t0 is the usual byte table, t1-t3 advance it by one, two, three more bytes,
// so four bytes take four lookups and one step (the frame header, 40 bytes, in ~1/3 the time).
const t0 = new Int32Array(256);
const t1 = new Int32Array(256);
const t2 = new Int32Array(256);
const t3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  t0[n] = c;
}
for (let n = 0; n < 256; n++) {
  t1[n] = t0[t0[n]! & 0xff]! ^ (t0[n]! >>> 8);
  t2[n] = t0[t1[n]! & 0xff]! ^ (t1[n]! >>> 8);
  t3[n] = t0[t2[n]! & 0xff]! ^ (t2[n]! >>> 8);
}

/** CRC-32 of `data[start, end)`, continuing from `initial`, by table lookup. */
export function crc32Range(data: Uint8Array, start: number, end: number, initial = 0): number {
  let c = ~initial;
  let i = start;
  for (const last = end - 3; i < last; i += 4) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c = t3[c & 0xff]! ^ t2[(c >>> 8) & 0xff]! ^ t1[(c >>> 16) & 0xff]! ^ t0[c >>> 24]!;
  }
  for (; i < end; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Portable CRC-32 (IEEE), used when no native one loads; exported for tests. */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  return crc32Range(data, 0, data.length, initial);
}

const nativeCrc = native?.crc32;

/** CRC-32 (IEEE, as zlib and gzip compute it), continuing from `initial`. */
export const crc32: Crc32 = nativeCrc
  ? (data, initial = 0) => (data.length < NATIVE_FROM ? crc32Range(data, 0, data.length, initial) : nativeCrc(data, initial) >>> 0)
  : crc32Portable;

/** CRC-32 of `data[start, data.length)`, without a subarray when the table loop does it. */
export function crc32From(data: Uint8Array, start: number): number {
  return nativeCrc && data.length - start >= NATIVE_FROM ? nativeCrc(data.subarray(start), 0) >>> 0 : crc32Range(data, start, data.length);
}

/** Which implementation `crc32` uses in this thread: '@node-rs/crc32', 'node:zlib' or 'portable'. */
export const crc32Implementation: string = native?.name ?? 'portable';
