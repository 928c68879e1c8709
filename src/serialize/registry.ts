import { types } from 'node:util';
import { describeValue } from '../core/errors.js';
import { CorruptFrameError, DeclinedError, SerializationError, UnknownSerializerError } from './errors.js';
import { COMPRESSION_CODES, availableCompressions, compress, decompress } from './compression.js';
import { SERIALIZER_ID, headerLength, parseFrame, writeHeader } from './frame.js';
import { locateUnserializable } from './locate.js';
import type { Compression, FrameInfo, Serializer } from './serializer.js';
import { arrowSerializer } from './builtins/arrow.js';
import { bytesSerializer, identitySerializer } from './builtins/bytes.js';
import { msgpackSerializer } from './builtins/msgpack.js';
import { stringSerializer } from './builtins/string.js';
import { typedArraySerializer } from './builtins/typed-array.js';
import { v8Serializer } from './builtins/v8.js';

/** A function that turns a value into bytes; its output is framed under the `identity` id. */
export type SerializeFunction = (value: unknown) => Uint8Array;
/** A function that turns a frame's payload (already checked and decompressed) back into a value. */
export type DeserializeFunction = (payload: Uint8Array) => unknown;

export interface SerializeOptions {
  /**
   * Compress the payload; recorded in the frame, so `deserialize` needs no
   * option. `'zstd'` only where `node:zlib` has it (see `availableCompressions()`).
   * @default 'none'
   */
  compression?: Compression;
  /**
   * Payloads smaller than this stay uncompressed, as does any payload that
   * compression would not make smaller.
   * @default 1024
   */
  minCompressBytes?: number;
  /** Codec level: gzip/deflate 0–9, brotli 0–11, zstd 1–22. @default the codec's default (brotli: 4) */
  compressionLevel?: number;
  /**
   * Bypass the registry's choice: a registered serializer's id, a `Serializer`
   * object (registered or not; the reader then needs it too), or a function
   * returning bytes, framed under `identity` so `deserialize` gives the bytes
   * back (or pass the matching `deserializer` function).
   * @example
   * const frame = serialize(model, { serializer: (m) => encodeModel(m as Model) });
   * const back = deserialize(frame, { deserializer: (b) => decodeModel(b) });
   */
  serializer?: string | Serializer | SerializeFunction;
  /**
   * CRC-32 over the payload, checked by `deserialize`. The header (magic,
   * version, serializer id, lengths) is always checked; without the payload
   * CRC a flipped payload byte can decode to another value, as with v8,
   * msgpackr or Arrow IPC. Turn it on for bytes that touch a disk or a
   * network (FileStore does); it costs ~0.07 ms per MB each way, about as
   * much as the copy itself for typed arrays and long strings.
   * @default false
   */
  checksum?: boolean;
  /** How error messages name the value, e.g. `args[1]` gives paths like `args[1].model.predict`. @default 'value' */
  path?: string;
}

export interface DeserializeOptions {
  /**
   * Decode the payload with this instead of the serializer the frame names:
   * a function (given the payload whatever the id) or a `Serializer` whose id
   * must match the frame's (for serializers that were never registered).
   */
  deserializer?: Serializer | DeserializeFunction;
}

export interface RegisterOptions {
  /** Insert just before the serializer with this id (a user one or a built-in) instead of after the other user serializers. */
  before?: string;
}

/** The built-in serializers, in the order they are tried. */
export const BUILTIN_SERIALIZERS: readonly Serializer[] = [
  bytesSerializer,
  stringSerializer,
  typedArraySerializer,
  arrowSerializer,
  msgpackSerializer,
  v8Serializer,
  identitySerializer,
] as Serializer[];

// Shared default: most calls pass no options, and an empty object per call is garbage on the small-value path.
const NO_OPTIONS: SerializeOptions & DeserializeOptions = Object.freeze({});

function checkSerializer(s: unknown): asserts s is Serializer {
  const c = s as Partial<Serializer> | null;
  if (typeof c !== 'object' || c === null) throw new TypeError(`Expected a serializer object, got ${describeValue(s)}`);
  if (typeof c.id !== 'string' || !SERIALIZER_ID.test(c.id)) {
    throw new TypeError(`Expected \`id\` to be 1–64 printable ASCII characters without spaces, got ${describeValue(c.id)}`);
  }
  for (const m of ['canSerialize', 'serialize', 'deserialize'] as const) {
    if (typeof c[m] !== 'function') throw new TypeError(`Expected serializer "${c.id}" to have a \`${m}\` method, got ${describeValue(c[m])}`);
  }
  if (c.serializeReserving !== undefined && typeof c.serializeReserving !== 'function') {
    throw new TypeError(`Expected \`serializeReserving\` of serializer "${c.id}" to be a function, got ${describeValue(c.serializeReserving)}`);
  }
}

function asBytes(value: unknown, who: string): Uint8Array {
  if (!types.isUint8Array(value)) throw new TypeError(`${who} returned ${describeValue(value)}, expected a Uint8Array`);
  return value;
}

function message(error: unknown): string {
  return types.isNativeError(error) || (typeof error === 'object' && error !== null && 'message' in error)
    ? `${(error as Error).name}: ${(error as Error).message}`
    : String(error);
}

/**
 * An ordered set of serializers. `serialize` tries them in order — user
 * serializers first, then the built-ins — and frames the first one that
 * succeeds; `deserialize` picks the serializer by the id in the frame.
 * Most code uses the default registry through the free functions
 * (`serialize`, `registerSerializer`, ...); a separate registry keeps a
 * library's serializers apart from the application's.
 *
 * @example
 * const registry = new SerializerRegistry();
 * registry.register(pointSerializer);
 * const p = registry.deserialize(registry.serialize(new Point(1, 2)));
 */
export class SerializerRegistry {
  #entries: Serializer[];
  // entries[0, #userCount) are tried before the built-ins.
  #userCount = 0;

  /** @param options.builtins start with the built-in serializers. @default true */
  constructor(options: { builtins?: boolean } = {}) {
    this.#entries = options.builtins === false ? [] : [...BUILTIN_SERIALIZERS];
  }

  /** Adds a serializer; throws if its id is taken or malformed. */
  register<T>(serializer: Serializer<T>, options: RegisterOptions = {}): void {
    checkSerializer(serializer);
    if (this.get(serializer.id)) {
      throw new SerializationError(`A serializer with id "${serializer.id}" is already registered; unregister it first or choose another id`);
    }
    let at = this.#userCount;
    if (options.before !== undefined) {
      at = this.#entries.findIndex((s) => s.id === options.before);
      if (at < 0) {
        throw new SerializationError(
          `Expected \`before\` to name a registered serializer, got ${describeValue(options.before)}; registered: ${this.list().join(', ')}`,
        );
      }
    }
    this.#entries.splice(at, 0, serializer as Serializer);
    if (at <= this.#userCount) this.#userCount++;
  }

  /** Removes a serializer (built-ins too); frames naming it then fail to deserialize. Returns whether it was registered. */
  unregister(id: string): boolean {
    const at = this.#entries.findIndex((s) => s.id === id);
    if (at < 0) return false;
    this.#entries.splice(at, 1);
    if (at < this.#userCount) this.#userCount--;
    return true;
  }

  get(id: string): Serializer | undefined {
    for (const s of this.#entries) if (s.id === id) return s;
    return undefined;
  }

  /** Ids in the order `serialize` tries them. */
  list(): string[] {
    return this.#entries.map((s) => s.id);
  }

  /** The serializer `serialize` would try first for `value` (the next ones only if it throws). */
  serializerFor(value: unknown): Serializer | undefined {
    return this.#entries.find((s) => claims(s, value));
  }

  /**
   * Frames `value` with the first serializer that claims it and succeeds.
   * Throws `SerializationError` naming the value's type and path when none can.
   */
  serialize(value: unknown, options: SerializeOptions = NO_OPTIONS): Uint8Array {
    const compression = options.compression ?? 'none';
    if (compression !== 'none' && (COMPRESSION_CODES[compression] === undefined || !availableCompressions().includes(compression))) {
      throw new SerializationError(
        `Expected \`compression\` to be one of ${availableCompressions().map((c) => `'${c}'`).join(', ')}, got ${describeValue(compression)}`,
      );
    }
    const explicit = options.serializer;
    if (explicit !== undefined) {
      const s = this.#explicit(explicit);
      if (!claims(s, value)) {
        throw new SerializationError(`Serializer "${s.id}" cannot serialize ${describeValue(value)}`, { path: options.path ?? 'value' });
      }
      let payload: Payload;
      try {
        payload = this.#payload(s, value, compression);
      } catch (cause) {
        if (cause instanceof DeclinedError) {
          throw new SerializationError(`Serializer "${s.id}" cannot serialize ${describeValue(value)}`, { path: options.path ?? 'value' });
        }
        throw new SerializationError(`Serializer "${s.id}" failed on ${describeValue(value)}: ${message(cause)}`, { cause, path: options.path ?? 'value' });
      }
      return this.#frame(s.id, payload, options, compression);
    }
    let failures: [string, unknown][] | undefined;
    for (const s of this.#entries) {
      try {
        if (!s.canSerialize(value)) continue;
      } catch (cause) {
        (failures ??= []).push([s.id, cause]);
        continue;
      }
      let payload: Payload;
      try {
        payload = this.#payload(s, value, compression);
      } catch (cause) {
        // Fall through to the next candidate; a serializer that declined was not a failure.
        if (!(cause instanceof DeclinedError)) (failures ??= []).push([s.id, cause]);
        continue;
      }
      return this.#frame(s.id, payload, options, compression);
    }
    throw this.#noSerializer(value, failures ?? [], options.path ?? 'value');
  }

  /** Checks and decodes a frame made by `serialize` (here or in any thread or process with the same serializers). */
  deserialize(bytes: Uint8Array | ArrayBuffer | SharedArrayBuffer, options: DeserializeOptions = NO_OPTIONS): unknown {
    const frame = parseFrame(toView(bytes));
    const id = frame.serializerId;
    const custom = options.deserializer;
    let decoder: Serializer | undefined;
    if (typeof custom === 'function') {
      decoder = undefined;
    } else if (custom !== undefined) {
      if (custom.id !== id) throw new SerializationError(`The frame was written by serializer "${id}", but the given deserializer is "${custom.id}"`);
      decoder = custom;
    } else {
      decoder = this.get(id);
      if (!decoder) {
        throw new UnknownSerializerError(
          `The frame was written by serializer "${id}", which is not registered here (registered: ${this.list().join(', ')}); register it on the reading side too`,
          { serializerId: id },
        );
      }
    }
    let payload = frame.payload;
    if (frame.compression !== 'none') {
      try {
        payload = decompress(frame.compression, payload, frame.rawLength);
      } catch (cause) {
        throw new CorruptFrameError(`Corrupt frame: ${frame.compression} payload does not decompress: ${message(cause)}`, { defect: 'decompression', serializerId: id, cause });
      }
      if (payload.byteLength !== frame.rawLength) {
        throw new CorruptFrameError(`Corrupt frame: ${frame.compression} payload decompressed to ${payload.byteLength} bytes, header says ${frame.rawLength}`, {
          defect: 'decompression',
          serializerId: id,
        });
      }
    }
    try {
      return decoder ? decoder.deserialize(payload) : (custom as DeserializeFunction)(payload);
    } catch (cause) {
      throw new CorruptFrameError(`Serializer "${id}" could not decode its ${payload.byteLength}-byte payload: ${message(cause)}`, {
        defect: 'payload',
        serializerId: id,
        cause,
      });
    }
  }

  #explicit(explicit: string | Serializer | SerializeFunction): Serializer {
    if (typeof explicit === 'string') {
      const s = this.get(explicit);
      if (!s) throw new UnknownSerializerError(`No serializer "${explicit}" is registered (registered: ${this.list().join(', ')})`, { serializerId: explicit });
      return s;
    }
    if (typeof explicit === 'function') {
      return {
        id: identitySerializer.id,
        canSerialize: (_v): _v is unknown => true,
        serialize: (v) => asBytes(explicit(v), 'The serializer function'),
        deserialize: identitySerializer.deserialize,
      };
    }
    checkSerializer(explicit);
    return explicit;
  }

  #payload(s: Serializer, value: unknown, compression: Compression): Payload {
    if (compression === 'none' && s.serializeReserving) {
      const reserved = headerLength(s.id.length);
      const bytes = asBytes(s.serializeReserving(value, reserved), `serializeReserving of "${s.id}"`);
      if (bytes.byteLength < reserved) throw new RangeError(`serializeReserving of "${s.id}" returned fewer than the ${reserved} reserved bytes`);
      return { bytes, headerRoom: true };
    }
    return { bytes: asBytes(s.serialize(value), `serialize of "${s.id}"`), headerRoom: false };
  }

  #frame(id: string, { bytes: payload, headerRoom }: Payload, options: SerializeOptions, compression: Compression): Uint8Array {
    const hl = headerLength(id.length);
    const checksum = options.checksum ?? false;
    if (headerRoom) {
      writeHeader(payload, id, 0, checksum, payload.byteLength - hl);
      return plain(payload);
    }
    let stored = payload;
    let code = 0;
    if (compression !== 'none' && payload.byteLength >= (options.minCompressBytes ?? 1024)) {
      const packed = compress(compression, payload, options.compressionLevel);
      if (packed.byteLength < payload.byteLength) [stored, code] = [packed, COMPRESSION_CODES[compression]];
    }
    // Uninitialized (pooled below 4 KB): the header and the payload fill it.
    const frame = Buffer.allocUnsafe(hl + stored.byteLength);
    frame.set(stored, hl);
    writeHeader(frame, id, code, checksum, payload.byteLength);
    return plain(frame);
  }

  #noSerializer(value: unknown, failures: [string, unknown][], root: string): SerializationError {
    const { path, part } = locateUnserializable(value, root);
    const tried =
      failures.length > 0
        ? `tried ${failures.map(([id, e]) => `${id} (${message(e)})`).join(', ')}`
        : `no registered serializer claims it (registered: ${this.list().join(', ')})`;
    const where = path === root ? describeValue(value) : `${describeValue(part)} at \`${path}\``;
    return new SerializationError(`Cannot serialize ${where}: ${tried}`, {
      path,
      cause: failures.length === 1 ? failures[0]![1] : failures.length > 1 ? new AggregateError(failures.map(([, e]) => e)) : undefined,
    });
  }
}

/** A serializer's output; with `headerRoom` its first bytes are reserved for the frame header. */
interface Payload {
  readonly bytes: Uint8Array;
  readonly headerRoom: boolean;
}

function claims(s: Serializer, value: unknown): boolean {
  try {
    return s.canSerialize(value);
  } catch {
    return false;
  }
}

/**
 * Frames are built in Buffers (pooled below 4 KB) but returned as plain
 * Uint8Arrays, as the signature says: Buffer's slice() is a view, not a copy,
 * and `frame.slice().buffer` must not hand out Node's shared pool.
 */
function plain(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}

function toView(bytes: unknown): Uint8Array {
  if (types.isUint8Array(bytes)) return bytes;
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (types.isArrayBuffer(bytes) || types.isSharedArrayBuffer(bytes)) return new Uint8Array(bytes);
  throw new CorruptFrameError(`Expected a frame as a Uint8Array, Buffer or ArrayBuffer, got ${describeValue(bytes)}`, { defect: 'not-bytes' });
}

/** Reads a frame's header (checked) without decoding or checksumming the payload. */
export function inspectFrame(bytes: Uint8Array | ArrayBuffer | SharedArrayBuffer): FrameInfo {
  const { payload: _payload, ...info } = parseFrame(toView(bytes), false);
  return info;
}
