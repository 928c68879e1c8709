import { LRUCache } from 'lru-cache';
import { deserialize, serialize } from '../serialize/index.js';
import type { Compression } from '../serialize/serializer.js';
import { RedisConnector, type RedisConnectorConfig, type RedisConnectorOptions } from '../connectors/redis.js';

export interface RedisStoreOptions extends RedisConnectorOptions {
  /**
   * Compression of what `put` serializes.
   * @default 'none'
   * @example
   * new RedisStore({ connection: 'redis://localhost:6379', compression: 'zstd' });
   */
  readonly compression?: Compression;
  /**
   * Deserialized values kept per process by key, so a worker reading the same
   * large argument for many batches fetches it once (0 disables it).
   * @default 16
   * @example
   * new RedisStore({ connection: 'redis://localhost:6379', cacheSize: 0 });
   */
  readonly cacheSize?: number;
}

export interface RedisStoreConfig {
  readonly type: 'redis-store';
  readonly connector: RedisConnectorConfig;
  readonly compression: Compression;
  readonly cacheSize: number;
}

/**
 * Values in Redis: serializer-registry frames on a `RedisConnector`. Async
 * only. Becomes `new Store(new RedisConnector(...))` once `Store` takes async
 * connectors (issue 10, seam A); until then it is this small class.
 *
 * @example
 * const store = new RedisStore({ connection: 'redis://127.0.0.1:6379' });
 * const key = await store.put(new Float64Array(1e7));
 * const back = await store.get(key);
 * await store.close(); // deletes every key it wrote
 */
export class RedisStore {
  readonly connector: RedisConnector;
  readonly #compression: Compression;
  readonly #cacheSize: number;
  readonly #cache: LRUCache<string, { value: unknown }> | undefined;

  constructor(options: RedisStoreOptions, connector?: RedisConnector) {
    this.connector = connector ?? new RedisConnector(options);
    this.#compression = options.compression ?? 'none';
    this.#cacheSize = options.cacheSize ?? 16;
    this.#cache = this.#cacheSize > 0 ? new LRUCache({ max: this.#cacheSize }) : undefined;
  }

  /** The same store in another process: reads and writes its entries, deletes none on close. */
  static fromConfig(config: RedisStoreConfig): RedisStore {
    const connector = RedisConnector.fromConfig(config.connector);
    return new RedisStore({ connection: config.connector.connection, compression: config.compression, cacheSize: config.cacheSize }, connector);
  }

  config(): RedisStoreConfig {
    return { type: 'redis-store', connector: this.connector.config(), compression: this.#compression, cacheSize: this.#cacheSize };
  }

  // The connector checksums every entry, so the frame's own payload checksum would be a second pass for nothing.
  #frame(value: unknown): Uint8Array {
    return serialize(value, { compression: this.#compression, checksum: false });
  }

  async put(value: unknown): Promise<string> {
    return this.connector.put(this.#frame(value));
  }

  async putMany(values: readonly unknown[]): Promise<string[]> {
    return this.connector.putMany(values.map((v) => this.#frame(v)));
  }

  /** The value under `key`, or `undefined` when there is none. */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    return (await this.getMany<T>([key]))[0];
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    const out: (T | undefined)[] = new Array<T | undefined>(keys.length);
    const missing: number[] = [];
    keys.forEach((key, i) => {
      const hit = this.#cache?.get(key);
      if (hit) out[i] = hit.value as T;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const bytes = await this.connector.getMany(missing.map((i) => keys[i]!));
      missing.forEach((i, j) => {
        const frame = bytes[j];
        if (frame === undefined) return;
        const value = deserialize(frame) as T;
        this.#cache?.set(keys[i]!, { value });
        out[i] = value;
      });
    }
    return out;
  }

  exists(key: string): Promise<boolean> {
    return this.connector.exists(key);
  }

  async evict(key: string): Promise<void> {
    this.#cache?.delete(key);
    await this.connector.evict(key);
  }

  /** The owner deletes every entry it (or a store rebuilt from its config) wrote. */
  async close(): Promise<void> {
    this.#cache?.clear();
    await this.connector.close();
  }
}
