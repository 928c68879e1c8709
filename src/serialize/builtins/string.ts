import type { Serializer } from '../serializer.js';

const enum Encoding {
  Utf8 = 0,
  Utf16le = 1,
  /** UTF-8 that is known to be 7-bit, so it decodes as a plain byte copy. */
  Ascii = 2,
}

const encoder = new TextEncoder();

// Below this, UTF-8 always: the encoding choice is noise and UTF-8 is smallest.
const UTF16_THRESHOLD = 4096;

// String.prototype.isWellFormed is ES2024 (Node 20 has it); the regex is for runtimes without it.
const LONE_SURROGATE = /\p{Surrogate}/u;
const nativeWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** False for strings with lone surrogates, which no UTF encoding can carry unchanged. */
export const isWellFormed: (s: string) => boolean = nativeWellFormed
  ? (s) => nativeWellFormed.call(s)
  : (s) => !LONE_SURROGATE.test(s);

/**
 * Strings as UTF-8, tagged with a 1-byte encoding. Long non-ASCII text is
 * stored as UTF-16LE instead: decoding long UTF-8 is ~4x slower than v8's
 * copy of its two-byte string, and the tag keeps the format explicit.
 * Strings with lone surrogates are refused (they fall through to v8).
 */
export const stringSerializer: Serializer<string> = {
  id: 'string',
  canSerialize: (value): value is string => typeof value === 'string' && isWellFormed(value),
  serialize(value) {
    return this.serializeReserving!(value, 0);
  },
  serializeReserving(value, reserved) {
    let encoding: Encoding;
    let length: number;
    if (value.length < UTF16_THRESHOLD) {
      length = Buffer.byteLength(value, 'utf8');
      encoding = length === value.length ? Encoding.Ascii : Encoding.Utf8;
    } else {
      // Long text is usually ASCII: encodeInto copies and checks it in one pass (it fills exactly
      // value.length bytes only when every character takes one), where byteLength would scan first.
      const ascii = Buffer.allocUnsafe(reserved + 1 + value.length);
      const { read, written } = encoder.encodeInto(value, ascii.subarray(reserved + 1));
      if (read === value.length && written === value.length) {
        ascii[reserved] = Encoding.Ascii;
        return ascii;
      }
      [encoding, length] = [Encoding.Utf16le, value.length * 2];
    }
    const out = Buffer.allocUnsafe(reserved + 1 + length);
    out[reserved] = encoding;
    out.write(value, reserved + 1, length, encoding === Encoding.Utf16le ? 'utf16le' : encoding === Encoding.Ascii ? 'latin1' : 'utf8');
    return out;
  },
  deserialize(bytes) {
    if (bytes.byteLength < 1) throw new RangeError('string payload is missing its encoding byte');
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.byteLength - 1);
    switch (bytes[0]) {
      case Encoding.Ascii:
        return buf.toString('latin1');
      case Encoding.Utf8:
        return buf.toString('utf8');
      case Encoding.Utf16le:
        if (buf.byteLength % 2 !== 0) throw new RangeError('UTF-16LE payload has an odd byte count');
        return buf.toString('utf16le');
      default:
        throw new RangeError(`unknown string encoding ${bytes[0]}`);
    }
  },
};
