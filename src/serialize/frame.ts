/**
 * The frame every serialized value travels in. Little-endian, all offsets in bytes:
 *
 *   0  magic "SKNF"            4  format version (1)     5  flags
 *   6  serializer id length    7  reserved (0)
 *   8  payload length (u64)   16  raw length before compression (u64)
 *  24  payload CRC-32 (0 when flag bit 3 is clear)
 *  28  header CRC-32 over bytes [0, 28) and [32, headerLength)
 *  32  serializer id (ASCII), zero-padded so the payload starts 8-byte aligned
 *
 * flags: bits 0–2 compression code, bit 3 payload checksum, bits 4–7 zero.
 * The header checksum is always present: a damaged length, id or flag is
 * caught before anything trusts it.
 */
import { CorruptFrameError } from './errors.js';
import { crc32, crc32From, crc32Range } from './checksum.js';
import { COMPRESSION_BY_CODE } from './compression.js';
import type { Compression, FrameInfo } from './serializer.js';

export const MAGIC = [0x53, 0x4b, 0x4e, 0x46] as const; // "SKNF"
export const FORMAT_VERSION = 1;
export const FIXED_HEADER = 32;
const FLAG_CHECKSUM = 0b1000;
const FLAG_COMPRESSION = 0b0111;

/** Printable ASCII without spaces: ids are written in frames and shown in errors. */
export const SERIALIZER_ID = /^[\x21-\x7e]{1,64}$/;

export function headerLength(idLength: number): number {
  return FIXED_HEADER + ((idLength + 7) & ~7);
}

// Direct byte writes and reads: a DataView per frame costs more than the header itself on small values.
function writeU32(frame: Uint8Array, offset: number, n: number): void {
  frame[offset] = n;
  frame[offset + 1] = n >>> 8;
  frame[offset + 2] = n >>> 16;
  frame[offset + 3] = n >>> 24;
}

function writeU64(frame: Uint8Array, offset: number, n: number): void {
  writeU32(frame, offset, n >>> 0);
  writeU32(frame, offset + 4, Math.floor(n / 2 ** 32));
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

function readU64(bytes: Uint8Array, offset: number): number {
  return readU32(bytes, offset) + readU32(bytes, offset + 4) * 2 ** 32;
}

/**
 * Fills the header in `frame[0, headerLength)` for the payload that follows
 * it; the payload must already be in place (it is checksummed here). Writes
 * every header byte, so `frame` may come from an uninitialized allocation.
 */
export function writeHeader(frame: Uint8Array, id: string, compressionCode: number, checksum: boolean, rawLength: number): void {
  // Positional, not an options object: this runs on every serialize, and small values feel each allocation.
  const hl = headerLength(id.length);
  frame[0] = MAGIC[0];
  frame[1] = MAGIC[1];
  frame[2] = MAGIC[2];
  frame[3] = MAGIC[3];
  frame[4] = FORMAT_VERSION;
  frame[5] = (compressionCode & FLAG_COMPRESSION) | (checksum ? FLAG_CHECKSUM : 0);
  frame[6] = id.length;
  frame[7] = 0;
  writeU64(frame, 8, frame.byteLength - hl);
  writeU64(frame, 16, rawLength);
  writeU32(frame, 24, checksum ? crc32From(frame, hl) : 0);
  let i = FIXED_HEADER;
  for (let k = 0; k < id.length; k++) frame[i++] = id.charCodeAt(k);
  while (i < hl) frame[i++] = 0;
  writeU32(frame, 28, headerChecksum(frame, hl));
}

// Over bytes [0, 28) and [32, hl): everything but the field that holds it. Tens of bytes, so no native call.
function headerChecksum(frame: Uint8Array, hl: number): number {
  return crc32Range(frame, FIXED_HEADER, hl, crc32Range(frame, 0, 28));
}

// Serializer ids repeat from frame to frame: the last one read (a string, so no
// alias of a caller's buffer) is compared first, to skip rebuilding and revalidating it.
let lastId = '';

function readId(bytes: Uint8Array, idLength: number): string {
  if (idLength === lastId.length) {
    let k = 0;
    while (k < idLength && bytes[FIXED_HEADER + k] === lastId.charCodeAt(k)) k++;
    if (k === idLength) return lastId;
  }
  let id = '';
  for (let k = 0; k < idLength; k++) id += String.fromCharCode(bytes[FIXED_HEADER + k]!);
  if (!SERIALIZER_ID.test(id)) throw corrupt('bad-header', `invalid serializer id ${JSON.stringify(id)}`);
  lastId = id;
  return id;
}

export interface ParsedFrame extends FrameInfo {
  /** The payload as stored (still compressed when `compression` is not `none`). */
  readonly payload: Uint8Array;
}

function corrupt(defect: CorruptFrameError['defect'], message: string, serializerId?: string): CorruptFrameError {
  return new CorruptFrameError(`Corrupt frame: ${message}`, serializerId === undefined ? { defect } : { defect, serializerId });
}

/**
 * Validates everything about a frame except what the serializer will make of
 * its payload; with `verifyPayload` false the payload CRC is skipped (used by
 * `inspectFrame`, which must stay cheap on large frames).
 */
export function parseFrame(bytes: Uint8Array, verifyPayload = true): ParsedFrame {
  const n = bytes.byteLength;
  if (n === 0) throw corrupt('empty', 'the input is empty (0 bytes)');
  for (let i = 0; i < MAGIC.length; i++) {
    if (i >= n) throw corrupt('truncated', `only ${n} byte(s), shorter than the ${FIXED_HEADER}-byte header`);
    if (bytes[i] !== MAGIC[i]) {
      const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(n, 4)).toString('hex');
      throw corrupt('bad-magic', `does not start with the skein magic "SKNF" (got 0x${head}); not a skein frame`);
    }
  }
  if (n < FIXED_HEADER) throw corrupt('truncated', `only ${n} bytes, shorter than the ${FIXED_HEADER}-byte header`);
  const idLength = bytes[6]!;
  const hl = headerLength(idLength);
  if (n < hl) throw corrupt('truncated', `only ${n} bytes, shorter than its ${hl}-byte header`);
  if (readU32(bytes, 28) !== headerChecksum(bytes, hl)) {
    throw corrupt('header-checksum', 'header checksum mismatch (the header bytes were altered)');
  }
  const version = bytes[4]!;
  if (version !== FORMAT_VERSION) {
    throw corrupt('unsupported-version', `format version ${version}, this build reads version ${FORMAT_VERSION}`);
  }
  const flags = bytes[5]!;
  const compression = COMPRESSION_BY_CODE[flags & FLAG_COMPRESSION];
  if (compression === undefined || (flags & ~(FLAG_COMPRESSION | FLAG_CHECKSUM)) !== 0 || bytes[7] !== 0) {
    throw corrupt('bad-header', `unknown flags 0x${flags.toString(16)}`);
  }
  const serializerId = readId(bytes, idLength);
  const payloadLength = readU64(bytes, 8);
  const rawLength = readU64(bytes, 16);
  if (compression === 'none' && rawLength !== payloadLength) {
    throw corrupt('bad-header', `uncompressed payload of ${payloadLength} bytes claims a raw length of ${rawLength}`, serializerId);
  }
  const actual = n - hl;
  if (actual < payloadLength) {
    throw corrupt('truncated', `expected ${payloadLength} payload bytes after the header, got ${actual}`, serializerId);
  }
  if (actual > payloadLength) {
    throw corrupt('trailing-bytes', `${actual - payloadLength} unexpected byte(s) after the ${payloadLength}-byte payload`, serializerId);
  }
  // A plain Uint8Array even when the frame is a Buffer: serializers get Uint8Array semantics (slice copies).
  const payload = new Uint8Array(bytes.buffer, bytes.byteOffset + hl, n - hl);
  const checksum = (flags & FLAG_CHECKSUM) !== 0;
  if (checksum && verifyPayload) {
    const expected = readU32(bytes, 24);
    const got = crc32(payload);
    if (got !== expected) {
      throw corrupt(
        'payload-checksum',
        `payload checksum mismatch (CRC-32 0x${got.toString(16)}, header says 0x${expected.toString(16)}); the payload was altered`,
        serializerId,
      );
    }
  }
  return { formatVersion: version, serializerId, compression: compression as Compression, checksum, headerLength: hl, payloadLength, rawLength, payload };
}
