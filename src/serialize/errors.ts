import { SkeinError } from '../errors.js';

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
