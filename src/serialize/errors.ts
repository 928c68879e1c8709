import { SkeinError, registerErrorClass } from '../core/errors.js';

/**
 * A value that cannot be turned into bytes (or sent to a worker), or bytes
 * that cannot be turned back into a value. `path` locates the offending part
 * of an argument list, e.g. `args[1].model.predict`.
 */
export class SerializationError extends SkeinError {
  readonly path: string | undefined;

  constructor(message: string, options: { cause?: unknown; path?: string } = {}) {
    super(message, { code: 'ERR_SKEIN_SERIALIZATION', cause: options.cause });
    this.path = options.path;
  }
}

/** A frame names a serializer this registry does not have (not registered here, or unregistered since). */
export class UnknownSerializerError extends SerializationError {
  readonly serializerId: string;

  constructor(message: string, options: { serializerId: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.serializerId = options.serializerId;
  }
}

/** Why a byte string is not a valid frame. */
export type FrameDefect =
  | 'not-bytes'
  | 'empty'
  | 'bad-magic'
  | 'truncated'
  | 'trailing-bytes'
  | 'header-checksum'
  | 'payload-checksum'
  | 'unsupported-version'
  | 'bad-header'
  | 'decompression'
  | 'payload';

/** Bytes that are not an intact skein frame: `defect` says what was wrong, never garbage out. */
export class CorruptFrameError extends SerializationError {
  readonly defect: FrameDefect;
  readonly serializerId: string | undefined;

  constructor(message: string, options: { defect: FrameDefect; serializerId?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.defect = options.defect;
    this.serializerId = options.serializerId;
  }
}

/**
 * Thrown by a serializer's `serialize` when the value turns out, as it is
 * written, not to be one it takes (msgpack meets a Map deep inside a record):
 * the registry then tries the next serializer as if `canSerialize` had said
 * no, and leaves it out of the serializers an error says it tried.
 */
export class DeclinedError extends SerializationError {
  readonly serializerId: string;

  constructor(serializerId: string) {
    super(`Serializer "${serializerId}" declined the value`);
    this.serializerId = serializerId;
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(SerializationError, 'ERR_SKEIN_SERIALIZATION');
registerErrorClass(UnknownSerializerError, 'ERR_SKEIN_SERIALIZATION');
registerErrorClass(CorruptFrameError, 'ERR_SKEIN_SERIALIZATION');
