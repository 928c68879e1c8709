import { SkeinError, registerErrorClass, describeValue } from '../core/errors.js';

/**
 * A proxy could not produce its target: the factory threw, returned something
 * a proxy cannot stand in for, or the key behind it is gone. Raised on every
 * access until a factory call succeeds; nothing half-made is cached.
 */
export class ProxyResolveError extends SkeinError {
  /** The store key behind the proxy, when it came from a store. */
  readonly key: string | undefined;
  /** The name of that store, when known. */
  readonly store: string | undefined;

  constructor(message: string, options: { key?: string | undefined; store?: string | undefined; cause?: unknown } = {}) {
    super(message, { code: 'ERR_SKEIN_PROXY_RESOLVE', cause: options.cause });
    this.key = options.key;
    this.store = options.store;
  }
}

/**
 * A value a proxy cannot stand in for. A JS Proxy needs an object target, so
 * `typeof` of a stand-in is always 'object' or 'function': a proxy of `42`
 * could never behave as `42`.
 */
export class NonProxiableError extends SkeinError {
  /** `typeName` of the refused value, e.g. `number`. */
  readonly valueType: string;

  constructor(value: unknown, hint = 'pass `{ passthrough: true }` to get such values back as they are') {
    super(`Expected an object or a function to proxy, got ${describeValue(value)}: ${hint}`, {
      code: 'ERR_SKEIN_NON_PROXIABLE',
    });
    this.valueType = value === null ? 'null' : typeof value;
  }
}

/** Recognises our errors by code, which also holds for errors from another copy of the module. */
export function isProxyResolveError(error: unknown): error is ProxyResolveError {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ERR_SKEIN_PROXY_RESOLVE';
}

// Rebuilt as these classes when they come back from another thread.
registerErrorClass(ProxyResolveError, 'ERR_SKEIN_PROXY_RESOLVE');
registerErrorClass(NonProxiableError, 'ERR_SKEIN_NON_PROXIABLE');
