/**
 * Connectors move bytes and nothing else (ProxyStore's `connectors`): no
 * serialization, no caching. The interface is asynchronous, so a connector
 * over the network (Redis, S3) fits; connectors that can answer at once
 * (memory, files) also offer `sync`, which proxies use inside their
 * synchronous property-access traps.
 */
export interface Connector<K> {
  /** Which kind of connector; also the `type` of its config, under which `registerConnector` knows it. */
  readonly type: string;
  /** A short description for messages, e.g. `file:/tmp/skein-x1`. */
  readonly description: string;
  /**
   * Whether stores on this connector checksum each frame's payload unless
   * told otherwise: true where the bytes leave the process (a disk, a
   * network), absent or false in memory.
   */
  readonly checksumByDefault?: boolean;
  put(bytes: Uint8Array): Promise<K>;
  /** `put` of each, in order; keys in the same order. */
  putMany(bytes: readonly Uint8Array[]): Promise<K[]>;
  /** The bytes under `key`, or `undefined` when there are none (evicted, closed, never stored). */
  get(key: K): Promise<Uint8Array | undefined>;
  /** `get` of each, in order. */
  getMany(keys: readonly K[]): Promise<(Uint8Array | undefined)[]>;
  exists(key: K): Promise<boolean>;
  /** Removes the entry; evicting a missing key is not an error. */
  evict(key: K): Promise<void>;
  /** Returns `key` typed, or throws InvalidKeyError when this connector (or one from the same config) did not make it. */
  checkKey(key: unknown): K;
  /** A string naming the key uniquely within this connector: cache key and what messages show. */
  keyId(key: K): string;
  /** Structured-cloneable: `connectorFromConfig(config)` in any thread reaches the same bytes. */
  config(): ConnectorConfig;
  /**
   * The owner (the connector made with `new`) frees everything it put; a
   * connector rebuilt from config only lets go of its own resources.
   * `clear: false` keeps the entries where they can outlive the connector
   * (files); connectors whose entries cannot (memory) ignore it.
   */
  close(options?: { readonly clear?: boolean }): Promise<void>;
  /** Blocking forms, for connectors that can answer without waiting (absent on network connectors). */
  readonly sync?: SyncConnector<K>;
  /**
   * Stores a typed array's bytes as they are, without a serializer, the key
   * recording its kind (shared memory: readers get a view of the same memory).
   */
  readonly views?: ViewConnector<K>;
}

/** The optional blocking capability of a connector: same meaning as the async methods. */
export interface SyncConnector<K> {
  put(bytes: Uint8Array): K;
  get(key: K): Uint8Array | undefined;
  exists(key: K): boolean;
  evict(key: K): void;
}

/** The optional typed-array capability of a connector (see `Connector.views`). */
export interface ViewConnector<K> {
  /** Stores `bytes` (the memory of a typed array) marked as a `view` (its constructor's name, e.g. `'Float64Array'`). */
  put(bytes: Uint8Array, view: string): K;
  /** The view name `key` was stored with, or `undefined` for an entry of serialized bytes. */
  viewOf(key: K): string | undefined;
}

/**
 * What every connector config has: a `type` naming its registered
 * `fromConfig`, and plain structured-cloneable data. Third-party connectors
 * declare their own config as an interface extending this one.
 *
 * @example
 * interface RedisConnectorConfig extends ConnectorConfigBase { readonly type: 'redis'; readonly url: string }
 */
export interface ConnectorConfigBase {
  readonly type: string;
  readonly [setting: string]: unknown;
}

export interface LocalConnectorConfig extends ConnectorConfigBase {
  readonly type: 'local';
  readonly id: string;
}

export interface SharedMemoryConnectorConfig extends ConnectorConfigBase {
  readonly type: 'shared-memory';
  readonly id: string;
  /**
   * Shared by every connector rebuilt from this config: whether the owner
   * has closed, and the generation counter that keeps keys unique across
   * the threads that put.
   */
  readonly state: SharedArrayBuffer;
}

export interface FileConnectorConfig extends ConnectorConfigBase {
  readonly type: 'file';
  readonly dir: string;
  /**
   * Random per store instance: names every file it writes, so stores sharing
   * a directory never collide and each deletes only its own files. Keys of
   * any prefix are read: the directory is the store.
   */
  readonly prefix: string;
}

/** A connector's config: a built-in one, or a third party's (any `type` registered with `registerConnector`). */
export type ConnectorConfig = LocalConnectorConfig | SharedMemoryConnectorConfig | FileConnectorConfig | ConnectorConfigBase;
