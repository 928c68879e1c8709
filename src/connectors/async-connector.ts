/**
 * The connector contract planned for the redesign (issue 10, seam A): async
 * only, batch operations, rebuilt anywhere with `fromConfig`. Types only.
 * Until `Connector` in connector.ts takes this shape (and the open registry
 * lands), connectors that cannot be synchronous (Redis) implement this one.
 */
export interface AsyncConnectorConfig {
  readonly type: string;
  readonly [setting: string]: unknown;
}

export interface AsyncConnector<K> {
  /** Which kind of connector; also the `type` of its config. */
  readonly type: string;
  /** A short description for messages, e.g. `redis:127.0.0.1:6379/skein:store:1f2e…`. */
  readonly description: string;
  put(bytes: Uint8Array): Promise<K>;
  /** The bytes under `key`, or `undefined` when there are none (evicted, expired, closed, never stored). */
  get(key: K): Promise<Uint8Array | undefined>;
  exists(key: K): Promise<boolean>;
  /** Removes the entry; evicting a missing key is not an error. */
  evict(key: K): Promise<void>;
  /** Stores every value in one round trip where the medium allows it; keys in the same order. */
  putMany(values: readonly Uint8Array[]): Promise<K[]>;
  getMany(keys: readonly K[]): Promise<(Uint8Array | undefined)[]>;
  /** Returns `key` typed, or throws InvalidKeyError when it cannot be one of this connector's keys. */
  checkKey(key: unknown): K;
  /** A string naming the key uniquely within this connector. */
  keyId(key: K): string;
  /** Structured-cloneable: `fromConfig(config)` in any thread or process reaches the same bytes. */
  config(): AsyncConnectorConfig;
  /** The owner (made with `new`) deletes everything it put; one rebuilt from config only lets go of its resources. */
  close(): Promise<void>;
}
