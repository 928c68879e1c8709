import { SkeinError, registerErrorClass } from '../core/errors.js';

/** `get` of a key that is not (or no longer) in the store: evicted, never put, or the store was closed. */
export class KeyNotFoundError extends SkeinError {
  readonly key: string;
  readonly store: string;

  constructor(key: string, store: string) {
    super(`Key \`${key}\` is not in store \`${store}\` (evicted, never stored, or the store was closed)`, {
      code: 'ERR_SKEIN_KEY_NOT_FOUND',
    });
    this.key = key;
    this.store = store;
  }
}

/** An operation on a store after `close()`. */
export class StoreClosedError extends SkeinError {
  readonly store: string;

  constructor(store: string, operation: string) {
    super(`Cannot ${operation}: store \`${store}\` is closed`, { code: 'ERR_SKEIN_STORE_CLOSED' });
    this.store = store;
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(KeyNotFoundError, 'ERR_SKEIN_KEY_NOT_FOUND');
registerErrorClass(StoreClosedError, 'ERR_SKEIN_STORE_CLOSED');
