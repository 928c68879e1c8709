import zlib from 'node:zlib';
import type { Compression } from './serializer.js';

type Codec = (data: Uint8Array, level: number | undefined) => Uint8Array;
type Decodec = (data: Uint8Array, maxOutputLength: number) => Uint8Array;

// zstd appeared in node:zlib in Node 22.15/23.8; feature-detect, never assume.
const z = zlib as unknown as {
  zstdCompressSync?: (d: Uint8Array, o?: object) => Uint8Array;
  zstdDecompressSync?: (d: Uint8Array, o?: object) => Uint8Array;
  constants: Record<string, number>;
};

/** Codes stored in the low 3 bits of the frame flags; never renumber. */
export const COMPRESSION_CODES: Readonly<Record<Compression, number>> = {
  none: 0,
  gzip: 1,
  deflate: 2,
  brotli: 3,
  zstd: 4,
};

export const COMPRESSION_BY_CODE: readonly (Compression | undefined)[] = ['none', 'gzip', 'deflate', 'brotli', 'zstd'];

const encoders: Partial<Record<Compression, Codec>> = {
  gzip: (d, level) => zlib.gzipSync(d, level === undefined ? {} : { level }),
  deflate: (d, level) => zlib.deflateSync(d, level === undefined ? {} : { level }),
  // Brotli's default quality (11) is minutes on large payloads; 4 is the usual speed/ratio balance.
  brotli: (d, level) =>
    zlib.brotliCompressSync(d, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: level ?? 4,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: d.byteLength,
      },
    }),
};

const decoders: Partial<Record<Compression, Decodec>> = {
  gzip: (d, max) => zlib.gunzipSync(d, { maxOutputLength: Math.max(max, 1) }),
  deflate: (d, max) => zlib.inflateSync(d, { maxOutputLength: Math.max(max, 1) }),
  brotli: (d, max) => zlib.brotliDecompressSync(d, { maxOutputLength: Math.max(max, 1) }),
};

if (z.zstdCompressSync && z.zstdDecompressSync) {
  const compress = z.zstdCompressSync;
  const decompress = z.zstdDecompressSync;
  const levelParam = z.constants['ZSTD_c_compressionLevel'];
  encoders.zstd = (d, level) =>
    compress(d, level === undefined || levelParam === undefined ? {} : { params: { [levelParam]: level } });
  decoders.zstd = (d, max) => decompress(d, { maxOutputLength: Math.max(max, 1) });
}

/** Compressions the running Node supports (zstd only where `node:zlib` has it). */
export function availableCompressions(): Compression[] {
  return ['none', ...(Object.keys(encoders) as Compression[])];
}

export function compress(kind: Compression, data: Uint8Array, level: number | undefined): Uint8Array {
  const encode = encoders[kind];
  if (!encode) throw new RangeError(`compression ${kind} is not available in Node ${process.version}`);
  return encode(data, level);
}

/** Throws when the codec is missing; `maxOutputLength` bounds a decompression bomb to the size the header promised. */
export function decompress(kind: Compression, data: Uint8Array, maxOutputLength: number): Uint8Array {
  const decode = decoders[kind];
  if (!decode) throw new RangeError(`compression ${kind} is not available in Node ${process.version}`);
  return decode(data, maxOutputLength);
}
