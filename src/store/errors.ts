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

/**
 * A blocking operation (`getSync`, `putSync`, `evictSync`, or touching an
 * unresolved proxy) on a store whose connector has no `sync` capability,
 * such as one over the network.
 */
export class SyncUnsupportedError extends SkeinError {
  readonly store: string;
  readonly connector: string;

  constructor(store: string, connector: string, what: string, instead: string) {
    super(`Store \`${store}\` (${connector}) cannot ${what}: its connector has no sync capability; use ${instead}`, {
      code: 'ERR_SKEIN_SYNC_UNSUPPORTED',
    });
    this.store = store;
    this.connector = connector;
  }
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(KeyNotFoundError, 'ERR_SKEIN_KEY_NOT_FOUND');
registerErrorClass(StoreClosedError, 'ERR_SKEIN_STORE_CLOSED');
registerErrorClass(SyncUnsupportedError, 'ERR_SKEIN_SYNC_UNSUPPORTED');
