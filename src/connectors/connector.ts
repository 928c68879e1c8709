/**
 * Connectors move bytes and nothing else (ProxyStore's `connectors`): no
 * serialization, no caching. Every operation has a synchronous form because
 * proxies resolve inside synchronous property-access traps.
 */
export interface Connector<K> {
  /** Which kind of connector; also the `type` of its config. */
  readonly type: ConnectorConfig['type'];
  /** A short description for messages, e.g. `file:/tmp/skein-x1`. */
  readonly description: string;
  /**
   * Whether stores on this connector checksum each frame's payload unless
   * told otherwise: true where the bytes leave the process (a disk, a
   * network), absent or false in memory.
   */
  readonly checksumByDefault?: boolean;
  put(bytes: Uint8Array): Promise<K>;
  putSync(bytes: Uint8Array): K;
  /** The bytes under `key`, or `undefined` when there are none (evicted, closed, never stored). */
  get(key: K): Promise<Uint8Array | undefined>;
  getSync(key: K): Uint8Array | undefined;
  exists(key: K): Promise<boolean>;
  existsSync(key: K): boolean;
  /** Removes the entry; evicting a missing key is not an error. */
  evict(key: K): Promise<void>;
  evictSync(key: K): void;
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
}

export interface LocalConnectorConfig {
  readonly type: 'local';
  readonly id: string;
}

export interface SharedMemoryConnectorConfig {
  readonly type: 'shared-memory';
  readonly id: string;
}

export interface FileConnectorConfig {
  readonly type: 'file';
  readonly dir: string;
  /**
   * Random per store instance: names every file it writes, so stores sharing
   * a directory never collide and each deletes only its own files. Keys of
   * any prefix are read: the directory is the store.
   */
  readonly prefix: string;
}

export type ConnectorConfig = LocalConnectorConfig | SharedMemoryConnectorConfig | FileConnectorConfig;
