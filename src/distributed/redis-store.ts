import { RedisConnector, type RedisConnectorOptions } from '../connectors/redis.js';
import { Store, kindOf, type StoreOptions } from '../store/store.js';
import { StoreClosedError } from '../store/errors.js';

export interface RedisStoreOptions extends Omit<StoreOptions, 'checksum'>, RedisConnectorOptions {}

/**
 * Values in Redis: `new Store(new RedisConnector(options), options)`, the
 * serializer registry's frames as binary strings, chunked, CRC-checked,
 * with a TTL on every key. No `sync`: read with `await store.get(key)`, and
 * resolve its proxies with `await resolveAsync(p)` before use. Rebuilt from
 * `store.config()` in any process that loaded `skein/distributed`.
 *
 * @example
 * await using store = new RedisStore({ connection: 'redis://127.0.0.1:6379' });
 * const key = await store.put(new Float64Array(1e7));
 * const back = await store.get(key);
 * // store.close() deletes every key it (or a store rebuilt from its config) wrote
 */
export class RedisStore extends Store<string> {
  readonly #namespace: string;

  constructor(options: RedisStoreOptions) {
    const connector = new RedisConnector(options);
    // The connector checksums each entry whole: a payload checksum in the frame too would be a second pass for nothing.
    super(connector, { ...options, checksum: false });
    this.#namespace = connector.namespace;
  }

  /** The prefix of every Redis key this store writes (`<prefix>:<random id>`). */
  get namespace(): string {
    return this.#namespace;
  }

  /** `put` of each value, stored in one pipeline; keys in the same order. */
  async putMany(values: readonly unknown[]): Promise<string[]> {
    if (this.closed) throw new StoreClosedError(this.name, 'put');
    const frames = values.map((v) => this.encode(v, {}));
    const keys = await this.connector.putMany(frames);
    keys.forEach((key, i) => this.record(key, frames[i]!.byteLength, kindOf(values[i])));
    return keys;
  }

  /** `get` of each key, sent together (ioredis does not wait for one reply before the next command). */
  getMany<T = unknown>(keys: readonly string[]): Promise<T[]> {
    return Promise.all(keys.map((key) => this.get<T>(key)));
  }
}
