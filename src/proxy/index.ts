/**
 * Lazy, transparent proxies (ProxyStore's `proxy` package). Knows nothing of
 * stores: a proxy is a factory plus the object it made, once it made it.
 */
export { proxy, isProxy, isResolved, resolve, extract, resolveAsync, getFactory } from './proxy.js';
export type { Factory, ProxyKind, ProxyOptions } from './proxy.js';
export { ProxyResolveError, NonProxiableError, isProxyResolveError } from './errors.js';
