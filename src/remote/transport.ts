/**
 * The comlink side of remote environments, shared by the caller and the
 * worker: the endpoint adapter and skein's `'throw'` transfer handler.
 *
 * Why comlink carries a protocol of ours instead of being the handle model
 * itself: a comlink proxy answers every property read or call with a promise
 * of a *copy*, or, for values marked `proxy()`, with a new MessageChannel
 * per value that the caller must await before using it. Neither gives
 * handles at once with caller-chosen ids and pipelined operations, so
 * comlink is the request/response transport for batches of operations
 * (`exec`) that the worker runs in order (see protocol.ts).
 */
import { transferHandlers, type Endpoint, type TransferHandler } from 'comlink/dist/esm/comlink.mjs';
import { types } from 'node:util';
import type { ErrorWire } from '../core/wire.js';
import { decodeError, encodeError } from '../core/error-wire.js';
import { isPlainObject } from '../core/values.js';
import type { Store, StoreConfig } from '../store/index.js';

interface NodePort {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: 'message', listener: (data: unknown) => void): unknown;
  off(event: 'message', listener: (data: unknown) => void): unknown;
}

/**
 * comlink's node-adapter, without its per-listener WeakMap: a Worker or a
 * MessagePort seen as the DOM-style endpoint comlink expects.
 */
export function nodeEndpoint(port: NodePort): Endpoint {
  type Handler = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };
  const listeners = new Map<Handler, (data: unknown) => void>();
  const endpoint = {
    postMessage: (message: unknown, transfer?: readonly unknown[]) => port.postMessage(message, transfer),
    addEventListener(_type: string, handler: Handler) {
      const listener = (data: unknown) => (typeof handler === 'function' ? handler({ data }) : handler.handleEvent({ data }));
      listeners.set(handler, listener);
      port.on('message', listener);
    },
    removeEventListener(_type: string, handler: Handler) {
      const listener = listeners.get(handler);
      if (listener === undefined) return;
      port.off('message', listener);
      listeners.delete(handler);
    },
  };
  // comlink types its endpoint with DOM names (EventListener, Transferable) that Node's types lack.
  return endpoint as unknown as Endpoint;
}

function isErrorLike(value: unknown): value is Error {
  return types.isNativeError(value) || (typeof value === 'object' && value !== null && 'message' in value && 'stack' in value);
}

/** comlink's own fields (`isError`, `value`) stay, so a stock comlink peer still reads what skein sends. */
type ThrownWire = { isError: true; value: { message: string; name: string; stack?: string }; skein: ErrorWire } | { isError: false; value: unknown };

let installed = false;

/**
 * Replaces comlink's `'throw'` handler, which keeps only an error's message,
 * name and stack, with skein's wire errors: class (for registered classes),
 * stack, `cause`, `code` and own fields survive; a thrown non-error is
 * rethrown as the value itself. Errors from stock comlink peers still decode.
 */
export function installThrowHandler(): void {
  if (installed) return;
  installed = true;
  const builtin = transferHandlers.get('throw') as TransferHandler<{ value: unknown }, unknown>;
  const handler: TransferHandler<{ value: unknown }, ThrownWire> = {
    canHandle: (value: unknown): value is { value: unknown } => builtin.canHandle(value),
    serialize({ value }) {
      if (!isErrorLike(value)) return [{ isError: false, value }, []];
      const wire = encodeError(value);
      return [{ isError: true, value: { message: wire.message, name: wire.name, ...(wire.stack === undefined ? {} : { stack: wire.stack }) }, skein: wire }, []];
    },
    deserialize(wire) {
      if (!wire.isError) throw wire.value;
      if (wire.skein !== undefined) throw decodeError(wire.skein);
      throw Object.assign(new Error(wire.value.message), wire.value);
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
}

/**
 * Large typed arrays and ArrayBuffers (top level, or one level inside an
 * array or plain object) replaced by a fresh copy that is transferred: one
 * memory copy where structured clone makes two. Shared memory is left alone.
 */
export function detachLarge(value: unknown, minBytes: number, transfer: unknown[], depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value)) {
    if (value.byteLength < minBytes || types.isSharedArrayBuffer(value.buffer)) return value;
    const copy = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
    transfer.push(copy);
    if (types.isDataView(value)) return new DataView(copy);
    const Ctor = value.constructor as new (buffer: ArrayBuffer) => ArrayBufferView;
    return new Ctor(copy);
  }
  if (types.isArrayBuffer(value)) {
    if (value.byteLength < minBytes) return value;
    const copy = value.slice(0);
    transfer.push(copy);
    return copy;
  }
  return depth > 0 ? value : mapMembers(value, (item) => detachLarge(item, minBytes, transfer, depth + 1));
}

/** A large value put in the environment's store: the receiver gets it from there and evicts it. */
export interface StoredWire {
  readonly __skeinStored: unknown;
  readonly storeConfig: StoreConfig;
}

/** A plain object of any realm: what postMessage makes arrives in the realm of the port, not of this module. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || (Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(value) === '[object Object]');
}

function isStored(value: unknown): value is StoredWire {
  return isRecord(value) && Object.hasOwn(value, '__skeinStored') && typeof (value as { storeConfig?: unknown }).storeConfig === 'object';
}

/**
 * `detachLarge` through a store: large typed arrays and ArrayBuffers (same
 * places, same size bound; shared memory left alone, postMessage shares it)
 * are put in `store` and replaced by their key, which `keys` collects.
 */
export function storeLarge(value: unknown, minBytes: number, store: Store<unknown>, keys: unknown[]): unknown {
  return replaceLarge(value, minBytes, (large) => {
    const key = store.putSync(large);
    keys.push(key);
    return { __skeinStored: key, storeConfig: store.config() } satisfies StoredWire;
  });
}

/**
 * What a thread that cannot allocate in a shared-memory store (one rebuilt
 * from its config) sends instead: large typed arrays copied once into new
 * shared memory, which postMessage shares rather than copies.
 */
export function shareLarge(value: unknown, minBytes: number): unknown {
  return replaceLarge(value, minBytes, (large) => {
    if (!ArrayBuffer.isView(large)) return large;
    const shared = new SharedArrayBuffer(large.byteLength);
    new Uint8Array(shared).set(new Uint8Array(large.buffer, large.byteOffset, large.byteLength));
    if (types.isDataView(large)) return new DataView(shared);
    const Ctor = large.constructor as new (buffer: SharedArrayBuffer) => ArrayBufferView;
    return new Ctor(shared);
  });
}

function replaceLarge(value: unknown, minBytes: number, replace: (large: ArrayBufferView | ArrayBuffer) => unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value) || types.isArrayBuffer(value)) {
    if (value.byteLength < minBytes || (ArrayBuffer.isView(value) && types.isSharedArrayBuffer(value.buffer))) return value;
    return replace(value);
  }
  return depth > 0 ? value : mapMembers(value, (item) => replaceLarge(item, minBytes, replace, depth + 1));
}

/**
 * The value `storeLarge` stood for: each stored part fetched from its store
 * (as `storeOf` gives it for the config) and evicted, whether or not the get
 * succeeded, so entries last only while in transit.
 */
export async function takeStored(value: unknown, storeOf: (config: StoreConfig) => Store<unknown> | Promise<Store<unknown>>, depth = 0): Promise<unknown> {
  if (isStored(value)) {
    const store = await storeOf(value.storeConfig);
    try {
      return await store.get(value.__skeinStored);
    } finally {
      await store.evict(value.__skeinStored).catch(() => {});
    }
  }
  if (depth > 0 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    if (value.length > 1024) return value;
    for (let i = 0; i < value.length; i++) value[i] = await takeStored(value[i], storeOf, 1);
    return value;
  }
  if (!isRecord(value)) return value;
  for (const k of Object.keys(value)) value[k] = await takeStored(value[k], storeOf, 1);
  return value;
}

/**
 * `value` with `fn` applied to each member of an array or plain object (one
 * level; none past 1,024 members, where scanning costs more than it finds),
 * copied only where a member changed.
 */
function mapMembers(value: unknown, fn: (item: unknown) => unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length > 1024) return value;
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const out = fn(item);
      if (out !== item) (copy ??= value.slice())[i] = out;
    }
    return copy ?? value;
  }
  if (typeof value !== 'object' || value === null || !isPlainObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length > 1024) return value;
  let copy: Record<string, unknown> | undefined;
  for (const k of keys) {
    const item = (value as Record<string, unknown>)[k];
    const out = fn(item);
    if (out !== item) (copy ??= { ...(value as Record<string, unknown>) })[k] = out;
  }
  return copy ?? value;
}
