import { SkeinError, registerErrorClass, describeValue } from '../core/errors.js';

/**
 * A key this connector did not make: wrong shape, another store's key, or a
 * string that would name a path outside the store directory.
 */
export class InvalidKeyError extends SkeinError {
  /** How the refused key looked, for messages and logs. */
  readonly key: string;
  /** The connector that refused it, e.g. `file:/tmp/skein-x1`. */
  readonly connector: string;

  constructor(key: unknown, connector: string, reason: string) {
    super(`Refused key ${describeValue(key)} in ${connector}: ${reason}`, { code: 'ERR_SKEIN_INVALID_KEY' });
    this.key = typeof key === 'string' ? key : describeValue(key);
    this.connector = connector;
  }
}

/** Stored bytes that fail their integrity check (truncated, extended or corrupted); never returned. */
export class IntegrityError extends SkeinError {
  readonly key: string;
  readonly connector: string;
  /** The file that failed, for file-backed connectors. */
  readonly path: string | undefined;

  constructor(key: string, connector: string, reason: string, options: { path?: string; cause?: unknown } = {}) {
    super(`Entry \`${key}\` in ${connector} failed its integrity check: ${reason}`, {
      code: 'ERR_SKEIN_INTEGRITY',
      cause: options.cause,
    });
    this.key = key;
    this.connector = connector;
    this.path = options.path;
  }
}

/**
 * A file operation of a store failed for a reason other than a missing key:
 * its directory was deleted, an entry was replaced by a directory, the disk
 * is full. The system error is the `cause`.
 */
export class StorageError extends SkeinError {
  /** The entry, when the operation was on one (a `put` has no key yet). */
  readonly key: string | undefined;
  readonly connector: string;
  readonly path: string;

  constructor(message: string, options: { key?: string; connector: string; path: string; cause?: unknown }) {
    super(message, { code: 'ERR_SKEIN_STORAGE', cause: options.cause });
    this.key = options.key;
    this.connector = options.connector;
    this.path = options.path;
  }
}

/**
 * A store directory someone else could tamper with (another user owns it or
 * can write to it) or a symbolic link: refused before anything is read.
 */
export class UnsafeDirectoryError extends SkeinError {
  readonly path: string;

  constructor(dir: string, reason: string, fix: string) {
    super(`Refused store directory ${dir}: ${reason}; ${fix}`, { code: 'ERR_SKEIN_UNSAFE_DIRECTORY' });
    this.path = dir;
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(InvalidKeyError, 'ERR_SKEIN_INVALID_KEY');
registerErrorClass(IntegrityError, 'ERR_SKEIN_INTEGRITY');
registerErrorClass(StorageError, 'ERR_SKEIN_STORAGE');
registerErrorClass(UnsafeDirectoryError, 'ERR_SKEIN_UNSAFE_DIRECTORY');
