import { randomBytes } from 'node:crypto';
import { types } from 'node:util';
import { LRUCache } from 'lru-cache';
import type { Connector, ConnectorConfig, SyncConnector } from '../connectors/connector.js';
import { NonProxiableError, proxy as makeProxy } from '../proxy/index.js';
import type { ProxyKind } from '../proxy/index.js';
import { deserialize, serialize } from '../serialize/index.js';
import type { Compression } from '../serialize/serializer.js';
import { describeValue } from '../core/errors.js';
import { SerializationError } from '../serialize/errors.js';
import { InvalidKeyError } from '../connectors/errors.js';
import { KeyNotFoundError, StoreClosedError, SyncUnsupportedError } from './errors.js';
import { createStoreFactory } from './factory.js';
import type { StoreReference } from './factory.js';
import { registerStore, unregisterStore } from './registry.js';
import { connectorFromConfig } from '../connectors/registry.js';
import { TYPED_ARRAYS, plainTypedArrayName } from './shared.js';
import { checkKnownOptions } from '../core/options.js';

/**
 * Everything needed to rebuild a store in another thread: plain data that
 * structured clone copies (a SharedArrayBuffer inside is shared, not copied).
 */
export interface StoreConfig {
  /** Unique per store instance; the per-thread registry key. */
  readonly id: string;
  readonly name: string;
  readonly cacheSize: number;
  readonly cacheBytes: number;
  /** The store's payload-checksum setting, so a store rebuilt in another thread writes frames alike. */
  readonly checksum?: boolean;
  /** What `put` compresses with unless a call says otherwise; `undefined` is the serializer's default. */
  readonly compression: Compression | undefined;
  /** Rebuilt with `connectorFromConfig`: its `type` must be registered in the thread that rebuilds the store. */
  readonly connector: ConnectorConfig;
}

export interface StoreOptions {
  /**
   * Shown in errors and stats.
   * @default `<type>-<random id>`
   * @example
   * new FileStore({ name: 'models', dir: '/var/tmp/models' });
   */
  readonly name?: string;
  /**
   * Deserialized objects kept per thread in an LRU cache (0 disables it).
   * @default 16
   * @example
   * new SharedMemoryStore({ cacheSize: 0 }); // every get reads and decodes
   */
  readonly cacheSize?: number;
  /**
   * Upper bound on the stored size of what the cache holds, per thread.
   * @default 268435456 (256 MiB)
   * @example
   * new FileStore({ cacheBytes: 64 * 2 ** 20 }); // 64 MiB per thread
   */
  readonly cacheBytes?: number;
  /**
   * Compression of what `put` serializes, unless a call says otherwise.
   * @default 'none'
   * @example
   * new FileStore({ dir: '/var/tmp/cache', compression: 'zstd' });
   */
  readonly compression?: Compression;
  /**
   * A CRC-32 over each frame's payload, checked when the entry is read, so
   * a flipped byte in the stored value raises instead of decoding to another
   * value (the frame header is checked either way). On by default where the
   * bytes leave the process, off in memory; a call can say otherwise.
   * @default the connector's: true for FileStore, false for SharedMemoryStore and the local connector
   * @example
   * new SharedMemoryStore({ checksum: true });
   */
  readonly checksum?: boolean;
}

/** The keys of `StoreOptions`; a subclass checks them plus its own. */
export const STORE_OPTION_KEYS: readonly string[] = Object.keys({
  name: 1,
  cacheSize: 1,
  cacheBytes: 1,
  compression: 1,
  checksum: 1,
} satisfies Record<keyof StoreOptions, 1>);

export interface PutOptions {
  /**
   * Turns the value into bytes instead of skein's serializer registry; `get` then needs the matching `deserializer`.
   * @default undefined (the serializer registry)
   * @example
   * const key = await store.put(model, { serializer: (m) => encodeModel(m as Model) });
   */
  readonly serializer?: (value: unknown) => Uint8Array;
  /**
   * Compression for the serializer registry (ignored with a custom `serializer`).
   * @default the store's `compression`
   * @example
   * await store.put(records, { compression: 'gzip' });
   */
  readonly compression?: Compression;
  /**
   * Payload checksum for the serializer registry (ignored with a custom `serializer`).
   * @default the store's `checksum`
   * @example
   * await store.put(value, { checksum: true });
   */
  readonly checksum?: boolean;
}

export interface GetOptions<T = unknown> {
  /**
   * Turns the stored bytes back into a value, for entries put with a custom `serializer`. Bypasses the cache.
   * @default undefined (the serializer registry)
   * @example
   * const model = await store.get(key, { deserializer: (bytes) => decodeModel(bytes) });
   */
  readonly deserializer?: (bytes: Uint8Array) => T;
}

export interface StoreProxyOptions<T = unknown> extends PutOptions, GetOptions<T> {
  /**
   * Ephemeral: the entry is evicted as soon as the proxy (in whatever thread)
   * first resolves.
   * @default false
   * @example
   * const once = store.proxy(batch, { evict: true });
   */
  readonly evict?: boolean;
  /**
   * Return primitives (which no proxy can stand in for) as they are instead
   * of raising NonProxiableError.
   * @default false
   * @example
   * store.proxy(42, { passthrough: true }); // 42
   */
  readonly passthrough?: boolean;
}

export interface CloseOptions {
  /**
   * Delete the entries this store wrote (and the temporary directory it
   * made). `false` keeps them for a later store on the same directory, in
   * this process or another: FileStore only; shared memory and local stores
   * ignore it (their entries cannot outlive the process, so they are always
   * freed).
   * @default true
   * @example
   * await store.close({ clear: false }); // keep the files for the next run
   */
  readonly clear?: boolean;
}

export interface ProxyFromKeyOptions<T = unknown> extends GetOptions<T> {
  /**
   * Ephemeral: the entry is evicted once the proxy first resolves.
   * @default false
   * @example
   * const p = store.proxyFromKey(key, { evict: true });
   */
  readonly evict?: boolean;
  /**
   * The target's kind, so `Array.isArray(p)` or `typeof p === 'function'` hold before it resolves.
   * @default what was stored, when this store stored it; else 'object'
   * @example
   * const rows = store.proxyFromKey(key, { kind: 'array' });
   */
  readonly kind?: ProxyKind;
}

export interface StoreStats {
  /** Entries this store put that are still stored (not evicted here or elsewhere). */
  readonly entries: number;
  /** Bytes those entries take in the backend (serialized size). */
  readonly bytes: number;
  /** Deserialized objects in this thread's cache. */
  readonly cacheEntries: number;
  /** Stored size of the cached objects. */
  readonly cacheBytes: number;
  readonly hits: number;
  readonly misses: number;
}

interface Held<K> {
  readonly key: K;
  readonly bytes: number;
  readonly kind: ProxyKind;
}

const DEFAULT_CACHE_SIZE = 16;
const DEFAULT_CACHE_BYTES = 256 * 2 ** 20;

/**
 * A connector plus the serializer registry plus a per-thread LRU cache of
 * deserialized objects (ProxyStore's `Store`). `proxy(value)` stores the
 * value and returns a lazy stand-in whose factory holds only
 * `{ key, storeConfig }`, which is what travels to workers.
 *
 * @example
 * await using store = new Store(new LocalConnector());
 * const key = await store.put({ a: 1 });
 * await store.get(key); // { a: 1 }
 */
export class Store<K = unknown> {
  readonly id: string;
  readonly name: string;
  readonly #connector: Connector<K>;
  /** The connector's blocking forms, when it has them: the fast paths, and what proxies resolve with. */
  readonly #sync: SyncConnector<K> | undefined;
  readonly #owner: boolean;
  readonly #cacheSize: number;
  readonly #cacheBytes: number;
  readonly #compression: Compression | undefined;
  readonly #checksum: boolean;
  readonly #cache: LRUCache<string, { value: unknown; key: unknown }> | undefined;
  readonly #held = new Map<string, Held<K>>();
  #hits = 0;
  #misses = 0;
  #closed = false;

  constructor(connector: Connector<K>, options?: StoreOptions);
  // The third form is fromConfig's only: callers rebuild through fromConfig.
  constructor(connector: Connector<K>, options: StoreOptions = {}, attach?: StoreConfig) {
    this.#owner = attach === undefined;
    // Subclasses add options of their own and check them all themselves.
    if (new.target === Store && typeof options === 'object' && options !== null) checkKnownOptions(options, STORE_OPTION_KEYS);
    this.#connector = connector;
    this.#sync = connector.sync;
    this.id = attach?.id ?? randomBytes(8).toString('hex');
    this.name = attach?.name ?? options.name ?? `${connector.type}-${this.id}`;
    this.#cacheSize = attach?.cacheSize ?? checkCount('cacheSize', options.cacheSize, DEFAULT_CACHE_SIZE);
    this.#cacheBytes = attach?.cacheBytes ?? checkCount('cacheBytes', options.cacheBytes, DEFAULT_CACHE_BYTES);
    this.#compression = attach === undefined ? options.compression : attach.compression;
    this.#checksum = attach?.checksum ?? checkBoolean('checksum', options.checksum) ?? connector.checksumByDefault ?? false;
    this.#cache =
      this.#cacheSize > 0 && this.#cacheBytes > 0
        ? new LRUCache({ max: this.#cacheSize, maxSize: this.#cacheBytes })
        : undefined;
    registerStore(this as Store<unknown>);
  }

  /**
   * The store `config` describes, on a connector rebuilt from `config.connector`
   * (in this thread or another), as a non-owner: same id, name, cache and
   * compression settings; closing it frees nothing of the owner's.
   * Proxies and workers reach it through `getOrCreateStore(config)`.
   */
  static fromConfig(config: StoreConfig): Store<unknown> {
    if (typeof config !== 'object' || config === null || typeof config.id !== 'string' || typeof config.connector !== 'object') {
      throw new TypeError(`Expected a store config (from store.config()), got ${describeValue(config)}`);
    }
    const connector = connectorFromConfig(config.connector);
    return new (Store as new (c: Connector<unknown>, o: StoreOptions, a: StoreConfig) => Store<unknown>)(connector, {}, config);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether this instance made the store (true) or was rebuilt from its config in this thread (false). */
  get owner(): boolean {
    return this.#owner;
  }

  protected get connector(): Connector<K> {
    return this.#connector;
  }

  /** Whether `getSync`, `putSync`, `evictSync` and synchronous proxy access work (the connector has `sync`). */
  get sync(): boolean {
    return this.#sync !== undefined;
  }

  #needSync(what: string, instead: string): SyncConnector<K> {
    if (this.#sync === undefined) throw new SyncUnsupportedError(this.name, this.#connector.description, what, instead);
    return this.#sync;
  }

  #open(operation: string): void {
    if (this.#closed) throw new StoreClosedError(this.name, operation);
  }

  /** A string naming `key` in messages, e.g. the file store's key itself. */
  describeKey(key: K): string {
    return this.#connector.keyId(key);
  }

  /**
   * Serializes `value` and stores it; resolves to its key.
   * @example
   * const key = await store.put(new Float64Array(1e6));
   */
  async put(value: unknown, options: PutOptions = {}): Promise<K> {
    this.#open('put');
    const viewed = this.#putView(value, options);
    if (viewed !== undefined) return viewed;
    const bytes = this.encode(value, options);
    const key = await this.#connector.put(bytes);
    this.record(key, bytes.byteLength, kindOf(value));
    return key;
  }

  /**
   * `put`, blocking: what `proxy()` uses, since it returns the proxy
   * synchronously. Throws SyncUnsupportedError when the connector has no `sync`.
   */
  putSync(value: unknown, options: PutOptions = {}): K {
    this.#open('put');
    const viewed = this.#putView(value, options);
    if (viewed !== undefined) return viewed;
    const sync = this.#needSync('store synchronously', '`await store.put(value)`');
    const bytes = this.encode(value, options);
    const key = sync.put(bytes);
    this.record(key, bytes.byteLength, kindOf(value));
    return key;
  }

  /**
   * A connector that keeps typed arrays as they are (shared memory) gets
   * their bytes without the serializer, adopted without a copy when already
   * shared; readers get a view of the same memory.
   */
  #putView(value: unknown, options: PutOptions): K | undefined {
    const views = this.#connector.views;
    if (views === undefined || options.serializer !== undefined) return undefined;
    const view = plainTypedArrayName(value);
    if (view === undefined) return undefined;
    const array = value as Uint8Array;
    const key = views.put(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), view);
    this.record(key, array.byteLength, 'object');
    return key;
  }

  /** The bytes `put` stores for `value`. */
  protected encode(value: unknown, options: PutOptions): Uint8Array {
    if (options.serializer === undefined) {
      const compression = options.compression ?? this.#compression;
      const checksum = checkBoolean('checksum', options.checksum) ?? this.#checksum;
      return serialize(value, compression === undefined ? { checksum } : { compression, checksum });
    }
    // One error class for "this value did not become bytes", whichever serializer ran.
    let bytes: unknown;
    try {
      bytes = options.serializer(value);
    } catch (cause) {
      throw new SerializationError(`The custom serializer failed on ${describeValue(value)}: ${errorMessage(cause)}`, { cause });
    }
    if (!types.isUint8Array(bytes)) {
      throw new SerializationError(`Expected the custom serializer to return a Uint8Array, got ${describeValue(bytes)}`);
    }
    return bytes;
  }

  /** The value `bytes` (stored under `key`) stand for, with the registry's deserializer. */
  protected decode(key: K, bytes: Uint8Array): unknown {
    const view = this.#connector.views?.viewOf(key);
    if (view === undefined) return deserialize(bytes);
    const Ctor = Object.hasOwn(TYPED_ARRAYS, view) ? TYPED_ARRAYS[view] : undefined;
    if (Ctor === undefined || bytes.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0 || bytes.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
      throw new InvalidKeyError(key, this.#connector.description, `cannot view its bytes as ${String(view)}`);
    }
    const View = Ctor as unknown as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => unknown;
    return new View(bytes.buffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
  }

  /** Accounts an entry put by this store (for `stats()` and `proxyFromKey`'s kind). */
  protected record(key: K, bytes: number, kind: ProxyKind): void {
    this.#held.set(this.#connector.keyId(key), { key, bytes, kind });
  }

  /**
   * The value under `key`: from this thread's cache, else fetched and
   * deserialized (and cached). Throws KeyNotFoundError when it is gone.
   */
  async get<T = unknown>(key: K, options: GetOptions<T> = {}): Promise<T> {
    this.#open('get');
    const k = this.#connector.checkKey(key);
    const cached = this.#sync !== undefined ? this.#cached(k, options, this.#sync) : await this.#cachedAsync(k, options);
    if (cached !== undefined) return cached.value as T;
    const bytes = await this.#connector.get(k);
    return this.#finishGet(k, bytes, options);
  }

  /**
   * `get`, blocking: what proxies use inside their synchronous traps.
   * Throws SyncUnsupportedError when the connector has no `sync`.
   */
  getSync<T = unknown>(key: K, options: GetOptions<T> = {}): T {
    this.#open('get');
    const sync = this.#needSync('resolve synchronously', '`await resolveAsync(p)` before using a proxy, or `await store.get(key)`');
    const k = this.#connector.checkKey(key);
    const cached = this.#cached(k, options, sync);
    if (cached !== undefined) return cached.value as T;
    return this.#finishGet(k, sync.get(k), options);
  }

  /**
   * Drops cached values whose entries are gone (evicted here or in another
   * thread), so a long-lived thread does not keep their memory alive until
   * the LRU happens to push them out. Returns how many were dropped.
   */
  pruneCache(): number {
    const sync = this.#sync;
    if (sync === undefined) {
      // Liveness is a round trip here: checked in the background, dropped when known.
      for (const [id, entry] of this.#cache?.entries() ?? []) {
        this.#connector.exists(entry.key as K).then(
          (live) => {
            if (!live && this.#cache?.get(id) === entry) this.#cache.delete(id);
          },
          () => undefined,
        );
      }
      return 0;
    }
    let dropped = 0;
    for (const [id, entry] of this.#cache?.entries() ?? []) {
      if (!sync.exists(entry.key as K)) {
        this.#cache!.delete(id);
        dropped++;
      }
    }
    // Keys of entries gone (a worker's puts, once their owner closed) may hold their memory.
    for (const [id, held] of this.#held) if (!sync.exists(held.key)) this.#held.delete(id);
    return dropped;
  }

  #cached(key: K, options: GetOptions<unknown>, sync: Pick<SyncConnector<K>, 'exists'>): { value: unknown } | undefined {
    if (this.#cache === undefined || options.deserializer !== undefined) return undefined;
    const id = this.#connector.keyId(key);
    const hit = this.#cache.get(id);
    // Another thread may have evicted the key since it was cached here: a
    // cheap liveness check (an Atomics load, a stat) keeps "evicted means
    // gone" true in every thread.
    if (hit !== undefined && sync.exists(key)) {
      this.#hits++;
      return hit;
    }
    if (hit !== undefined) this.#cache.delete(id);
    this.#misses++;
    return undefined;
  }

  /** `#cached` for a connector without `sync`: the liveness check is one round trip, still cheaper than the bytes. */
  async #cachedAsync(key: K, options: GetOptions<unknown>): Promise<{ value: unknown } | undefined> {
    if (this.#cache === undefined || options.deserializer !== undefined) return undefined;
    const id = this.#connector.keyId(key);
    const hit = this.#cache.get(id);
    if (hit !== undefined && (await this.#connector.exists(key))) {
      this.#hits++;
      return hit;
    }
    if (hit !== undefined && this.#cache.get(id) === hit) this.#cache.delete(id);
    this.#misses++;
    return undefined;
  }

  #finishGet<T>(key: K, bytes: Uint8Array | undefined, options: GetOptions<T>): T {
    const id = this.#connector.keyId(key);
    if (bytes === undefined) throw new KeyNotFoundError(id, this.name);
    if (options.deserializer !== undefined) {
      try {
        return options.deserializer(bytes);
      } catch (cause) {
        throw new SerializationError(`The custom deserializer failed on entry \`${id}\` of store \`${this.name}\`: ${errorMessage(cause)}`, { cause });
      }
    }
    const value = this.decode(key, bytes);
    this.#cache?.set(id, { value, key }, { size: Math.max(1, bytes.byteLength) });
    return value as T;
  }

  async exists(key: K): Promise<boolean> {
    this.#open('check a key');
    return this.#connector.exists(this.#connector.checkKey(key));
  }

  /** `exists`, blocking. Throws SyncUnsupportedError when the connector has no `sync`. */
  existsSync(key: K): boolean {
    this.#open('check a key');
    return this.#needSync('check a key synchronously', '`await store.exists(key)`').exists(this.#connector.checkKey(key));
  }

  /** Removes the entry, in every thread; evicting a missing key is not an error. */
  async evict(key: K): Promise<void> {
    this.#open('evict');
    const k = this.#connector.checkKey(key);
    await this.#connector.evict(k);
    this.#forget(k);
  }

  /** `evict`, blocking. Throws SyncUnsupportedError when the connector has no `sync`. */
  evictSync(key: K): void {
    this.#open('evict');
    const sync = this.#needSync('evict synchronously', '`await store.evict(key)`');
    const k = this.#connector.checkKey(key);
    sync.evict(k);
    this.#forget(k);
  }

  #forget(key: K): void {
    const id = this.#connector.keyId(key);
    this.#cache?.delete(id);
    this.#held.delete(id);
  }

  /**
   * Stores `value` and returns a lazy proxy of it. Only the key and this
   * store's config travel with the proxy; it resolves through the cache of
   * whichever thread uses it.
   *
   * @example
   * const p = store.proxy(new Float64Array(1e6));
   * p instanceof Float64Array; // true (resolves here)
   * const q = store.proxy(bigObject, { evict: true }); // gone after first use
   */
  proxy<T extends object>(value: T, options?: StoreProxyOptions<T>): T;
  proxy<T>(value: T, options: StoreProxyOptions<T> & { readonly passthrough: true }): T;
  proxy<T>(value: T, options: StoreProxyOptions<T> = {}): T {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
      if (options.passthrough === true) return value;
      throw new NonProxiableError(value);
    }
    const key = this.putSync(value, options);
    return this.proxyFromKey<T & object>(key, {
      evict: options.evict === true,
      ...(options.deserializer === undefined ? {} : { deserializer: options.deserializer as (bytes: Uint8Array) => T & object }),
    });
  }

  /** `proxy` for each value, with the same options. */
  proxyBatch<T>(values: Iterable<T>, options: StoreProxyOptions<T> = {}): T[] {
    return Array.from(values, (v) => this.proxy(v, options as StoreProxyOptions<T> & { passthrough: true }));
  }

  /** A proxy of what is already stored under `key` (ProxyStore's `proxy_from_key`). */
  proxyFromKey<T extends object>(key: K, options: ProxyFromKeyOptions<T> = {}): T {
    this.#open('make a proxy');
    const reference = this.referenceOf(key, options);
    const { kind } = reference;
    const factory = createStoreFactory<T>(reference, {
      store: this as Store<unknown> as Store<K>,
      ...(options.deserializer === undefined ? {} : { deserializer: options.deserializer }),
    });
    return makeProxy(factory, { kind });
  }

  /**
   * What travels for `key`: the plain reference a proxy of it carries, for
   * code that sends keys to other threads without making a proxy first.
   */
  referenceOf(key: K, options: { kind?: ProxyKind; evict?: boolean } = {}): StoreReference<K> {
    this.#open('make a reference');
    const k = this.#connector.checkKey(key);
    return {
      __skeinStoreReference: 1,
      key: k,
      storeConfig: this.config(),
      evict: options.evict === true,
      kind: options.kind ?? this.#held.get(this.#connector.keyId(k))?.kind ?? 'object',
    };
  }

  config(): StoreConfig {
    return {
      id: this.id,
      name: this.name,
      cacheSize: this.#cacheSize,
      cacheBytes: this.#cacheBytes,
      checksum: this.#checksum,
      compression: this.#compression,
      connector: this.#connector.config(),
    };
  }

  stats(): StoreStats {
    let bytes = 0;
    for (const [id, held] of this.#held) {
      if (!this.#closed && (this.#sync?.exists(held.key) ?? true)) bytes += held.bytes;
      else this.#held.delete(id);
    }
    return {
      entries: this.#held.size,
      bytes,
      cacheEntries: this.#cache?.size ?? 0,
      cacheBytes: this.#cache?.calculatedSize ?? 0,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  /**
   * Frees what the store holds: an owner deletes its entries (files,
   * shared-memory slots) so their keys are missing in every thread; a store
   * rebuilt from config only drops its cache. Idempotent.
   *
   * @example
   * await store.close({ clear: false }); // a FileStore keeps its files for the next run
   */
  async close(options: CloseOptions = {}): Promise<void> {
    const clear = (options as CloseOptions | null | undefined)?.clear;
    if (clear !== undefined && typeof clear !== 'boolean') throw new TypeError(`Expected \`clear\` to be a boolean, got ${describeValue(clear)}`);
    if (this.#closed) return;
    this.#closed = true;
    unregisterStore(this as Store<unknown>);
    this.#cache?.clear();
    this.#held.clear();
    await this.#connector.close(clear === false ? { clear: false } : {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function kindOf(value: unknown): ProxyKind {
  return Array.isArray(value) ? 'array' : typeof value === 'function' ? 'function' : 'object';
}

function errorMessage(error: unknown): string {
  return error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)
    ? `${(error as Error).name}: ${(error as Error).message}`
    : String(error);
}

function checkBoolean(name: string, value: boolean | undefined): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describeValue(value)}`);
  return value;
}

function checkCount(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-negative integer, got ${describeValue(value)}`);
  }
  return value;
}
