import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { describeValue } from '../core/errors.js';
import { crc32 } from '../serialize/checksum.js';
import type { Connector, ConnectorConfigBase } from './connector.js';
import { IntegrityError, InvalidKeyError, StorageError } from './errors.js';
import { registerConnector } from './registry.js';

/** Where a connector reaches Redis: a URL, ioredis options, or a client the caller keeps (and closes). */
export type RedisConnection = string | RedisOptions | Redis;

export interface RedisConnectorOptions {
  /**
   * A URL, ioredis options, or a client you keep (and close). Required.
   * @example
   * new RedisConnector({ connection: 'redis://localhost:6379' });
   */
  readonly connection: RedisConnection;
  /**
   * Start of every key this store writes (`<prefix>:<random id>:…`), so
   * stores sharing a server never collide and one store's keys can be listed.
   * @default 'skein:store'
   * @example
   * new RedisStore({ connection, prefix: 'my-app:cache' });
   */
  readonly prefix?: string;
  /**
   * Every entry expires after this many ms even if nobody evicts it: the
   * backstop for an owner that dies before `close()`. `null`: never.
   * @default 86_400_000 (one day)
   * @example
   * new RedisStore({ connection, ttl: null }); // entries stay until evicted or closed
   */
  readonly ttl?: number | null;
  /**
   * Values are split into Redis strings of at most this many bytes (Redis
   * caps a string at 512 MB, and one huge reply blocks the server longer).
   * @default 67_108_864 (64 MB)
   * @example
   * new RedisStore({ connection, chunkBytes: 8 * 2 ** 20 });
   */
  readonly chunkBytes?: number;
}

/** Plain data: what `RedisConnector.fromConfig` needs in another thread or process. */
export interface RedisConnectorConfig extends ConnectorConfigBase {
  readonly type: 'redis';
  /** A URL, or the ioredis options of the owner's client (host, port, db, credentials, tls). */
  readonly connection: string | RedisOptions;
  readonly namespace: string;
  readonly ttl: number | null;
  readonly chunkBytes: number;
}

/*
 * An entry `<namespace>:<id>` is a 24-byte header key plus its chunks
 * `<namespace>:<id>:<i>`. Header:
 *   0 magic "SKRE"   4 version (1)   5..7 reserved
 *   8 crc32 of the whole value (u32 LE)   12 chunk count (u32 LE)
 *   16 value length (u64 LE)
 * The key handed out (`<id>-<chunks>`) carries the chunk count, so a get or
 * evict is one round trip; the header still says what must come back, so a
 * lost, truncated or altered chunk is an IntegrityError, never wrong bytes.
 */
const HEADER = 24;
const MAGIC = 0x45524b53; // "SKRE"
const VERSION = 1;
const KEY = /^([0-9a-f]{16})-([1-9][0-9]{0,6})$/;
const PREFIX = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/;
const MAX_CHUNK = 512 * 1024 * 1024 - 1;
const DEFAULT_TTL = 86_400_000;
const DEFAULT_CHUNK = 64 * 1024 * 1024;
/** Keys deleted per UNLINK when a store closes. */
const DELETE_BATCH = 1000;

function optionsOf(client: Redis): RedisOptions {
  // Only what reaches the same server: the rest (retry functions, event hooks) cannot travel.
  const { host, port, path, db, username, password, tls } = client.options;
  return { host, port, path, db, username, password, tls } as RedisOptions;
}

function label(connection: string | RedisOptions): string {
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      return url.host === '' ? connection : url.host;
    } catch {
      return connection;
    }
  }
  return connection.path ?? `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
}

/** Set only by `fromConfig`: the namespace of the entries to reach (the connector then does not own them). */
const ATTACH = Symbol('attach');
type ConstructorOptions = RedisConnectorOptions & { readonly [ATTACH]?: string };

/**
 * Bytes in Redis: binary strings (never JSON), chunked, checksummed, with a
 * TTL on every key, batch operations pipelined. No `sync` capability: a
 * Redis round trip cannot happen inside a synchronous property access.
 * Registered as type `'redis'`, so stores on it rebuild from config anywhere
 * `skein/distributed` is loaded.
 */
export class RedisConnector implements Connector<string> {
  readonly type = 'redis' as const;
  readonly description: string;
  readonly #redis: Redis;
  readonly #ownsClient: boolean;
  readonly #owner: boolean;
  readonly #connection: string | RedisOptions;
  readonly #namespace: string;
  readonly #ttl: number | null;
  readonly #chunkBytes: number;
  #closed = false;

  constructor(options: RedisConnectorOptions) {
    const attach = (options as ConstructorOptions)[ATTACH];
    const prefix = options.prefix ?? 'skein:store';
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
      throw new TypeError(`Expected \`prefix\` to be colon-separated words of letters, digits, '_', '.', '-', got ${describeValue(prefix)}`);
    }
    this.#owner = attach === undefined;
    this.#connection = connectionConfig(options.connection);
    this.#ttl = checkTtl(options.ttl === undefined ? DEFAULT_TTL : options.ttl);
    this.#chunkBytes = checkChunk(options.chunkBytes ?? DEFAULT_CHUNK);
    this.#namespace = attach ?? `${prefix}:${randomBytes(8).toString('hex')}`;
    this.description = `redis:${label(this.#connection)}/${this.#namespace}`;
    [this.#redis, this.#ownsClient] = client(options.connection);
  }

  /** Reaches the entries of the connector `config` came from (in any process), without owning them; through `client` if given. */
  static fromConfig(config: RedisConnectorConfig, client?: Redis): RedisConnector {
    if (config?.type !== 'redis' || typeof config.namespace !== 'string' || !PREFIX.test(config.namespace)) {
      throw new TypeError(`Expected a redis connector config, got ${describeValue(config)}`);
    }
    // A process reaching many stores (a worker serving many runs) passes its one client rather than opening one per store.
    const options: ConstructorOptions = { connection: client ?? config.connection, ttl: config.ttl, chunkBytes: config.chunkBytes, [ATTACH]: config.namespace };
    return new RedisConnector(options);
  }

  /** The prefix of every Redis key this store writes (`<namespace>:…`). */
  get namespace(): string {
    return this.#namespace;
  }

  config(): RedisConnectorConfig {
    return { type: 'redis', connection: this.#connection, namespace: this.#namespace, ttl: this.#ttl, chunkBytes: this.#chunkBytes };
  }

  checkKey(key: unknown): string {
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new InvalidKeyError(key, this.description, 'expected `<16 hex digits>-<chunk count>` as made by a redis connector');
    }
    return key;
  }

  keyId(key: string): string {
    return key;
  }

  async put(bytes: Uint8Array): Promise<string> {
    return (await this.putMany([bytes]))[0]!;
  }

  async putMany(values: readonly Uint8Array[]): Promise<string[]> {
    this.#open();
    const pipeline = this.#redis.pipeline();
    const keys: string[] = [];
    for (const bytes of values) {
      if (!ArrayBuffer.isView(bytes)) throw new TypeError(`Expected bytes (a Uint8Array), got ${describeValue(bytes)}`);
      const chunks = Math.max(1, Math.ceil(bytes.byteLength / this.#chunkBytes));
      const id = randomBytes(8).toString('hex');
      const header = Buffer.alloc(HEADER);
      header.writeUInt32LE(MAGIC, 0);
      header[4] = VERSION;
      header.writeUInt32LE(crc32(bytes), 8);
      header.writeUInt32LE(chunks, 12);
      header.writeBigUInt64LE(BigInt(bytes.byteLength), 16);
      this.#set(pipeline, `${this.#namespace}:${id}`, header);
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < chunks; i++) {
        this.#set(pipeline, `${this.#namespace}:${id}:${i}`, view.subarray(i * this.#chunkBytes, (i + 1) * this.#chunkBytes));
      }
      keys.push(`${id}-${chunks}`);
    }
    await this.#exec(pipeline, 'store', undefined);
    return keys;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getMany([key]))[0];
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    const pipeline = this.#redis.pipeline();
    const counts = keys.map((key) => {
      const [id, chunks] = this.#parse(key);
      pipeline.getBuffer(`${this.#namespace}:${id}`);
      for (let i = 0; i < chunks; i++) pipeline.getBuffer(`${this.#namespace}:${id}:${i}`);
      return chunks;
    });
    const replies = await this.#exec(pipeline, 'read', keys.length === 1 ? keys[0] : undefined);
    let at = 0;
    return keys.map((key, k) => {
      const parts = replies.slice(at, at + 1 + counts[k]!) as (Buffer | null)[];
      at += 1 + counts[k]!;
      return this.#assemble(key, parts);
    });
  }

  async exists(key: string): Promise<boolean> {
    this.#open();
    const [id] = this.#parse(key);
    return (await this.#redis.exists(`${this.#namespace}:${id}`)) === 1;
  }

  async evict(key: string): Promise<void> {
    this.#open();
    const [id, chunks] = this.#parse(key);
    const names = [`${this.#namespace}:${id}`];
    for (let i = 0; i < chunks; i++) names.push(`${this.#namespace}:${id}:${i}`);
    await this.#redis.unlink(...names);
  }

  /**
   * The owner deletes every key of its namespace (also those put by
   * connectors rebuilt from its config); with `clear: false` they stay until
   * their TTL, for a later connector on the same namespace. When Redis is
   * unreachable they also stay until their TTL: closing never waits for a
   * server that may not come back.
   */
  async close(options: { readonly clear?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const gone = this.#redis.status === 'reconnecting' || this.#redis.status === 'close' || this.#redis.status === 'end';
    try {
      if (this.#owner && options.clear !== false && !gone) await this.#deleteAll();
    } finally {
      if (this.#ownsClient) await this.#redis.quit().catch(() => this.#redis.disconnect());
    }
  }

  async #deleteAll(): Promise<void> {
    let cursor = '0';
    do {
      const [next, found] = await this.#redis.scan(cursor, 'MATCH', `${this.#namespace}:*`, 'COUNT', DELETE_BATCH);
      cursor = next;
      if (found.length > 0) await this.#redis.unlink(...found);
    } while (cursor !== '0');
  }

  #set(pipeline: ReturnType<Redis['pipeline']>, name: string, value: Buffer): void {
    if (this.#ttl === null) pipeline.set(name, value);
    else pipeline.set(name, value, 'PX', this.#ttl);
  }

  #parse(key: string): [string, number] {
    const match = KEY.exec(this.checkKey(key))!;
    return [match[1]!, Number(match[2])];
  }

  #assemble(key: string, parts: (Buffer | null)[]): Uint8Array | undefined {
    const [header, ...chunks] = parts;
    if (header === null || header === undefined) return undefined;
    const fail = (reason: string): never => {
      throw new IntegrityError(key, this.description, reason);
    };
    if (header.length !== HEADER || header.readUInt32LE(0) !== MAGIC) fail('its header is not a skein redis entry header');
    if (header[4] !== VERSION) fail(`unknown entry version ${header[4]}`);
    const expected = header.readUInt32LE(8);
    const count = header.readUInt32LE(12);
    const length = Number(header.readBigUInt64LE(16));
    if (count !== chunks.length) fail(`the header says ${count} chunks, the key ${chunks.length}`);
    if (chunks.some((c) => c === null)) fail('a chunk is missing (expired or deleted)');
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[]);
    if (bytes.length !== length) fail(`expected ${length} bytes, found ${bytes.length}`);
    if (crc32(bytes) !== expected) fail('checksum mismatch');
    return bytes;
  }

  async #exec(pipeline: ReturnType<Redis['pipeline']>, what: string, key: string | undefined): Promise<unknown[]> {
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw this.#storageError(what, key, error);
    }
    const values: unknown[] = [];
    for (const [error, value] of replies ?? []) {
      if (error) throw this.#storageError(what, key, error);
      values.push(value);
    }
    return values;
  }

  #storageError(what: string, key: string | undefined, cause: unknown): StorageError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new StorageError(`Could not ${what} ${key === undefined ? 'entries' : `entry \`${key}\``} in ${this.description}: ${reason}`, {
      ...(key === undefined ? {} : { key }),
      connector: this.description,
      path: this.#namespace,
      cause,
    });
  }

  #open(): void {
    if (this.#closed) throw new StorageError(`${this.description} is closed`, { connector: this.description, path: this.#namespace });
  }
}

function connectionConfig(connection: RedisConnection): string | RedisOptions {
  if (connection instanceof Redis) return optionsOf(connection);
  if (typeof connection === 'string' || (typeof connection === 'object' && connection !== null)) return connection;
  throw new TypeError(`Expected \`connection\` to be a redis URL, ioredis options or an ioredis client, got ${describeValue(connection)}`);
}

function client(connection: RedisConnection): [Redis, boolean] {
  if (connection instanceof Redis) return [connection, false];
  return [redisClient(connection), true];
}

/**
 * A client of our own for a URL or options. A request made while Redis is
 * unreachable fails after a few retries instead of waiting forever. (The
 * casts: ioredis's `RedisOptions` is not assignable to its own constructor
 * under `exactOptionalPropertyTypes`.)
 */
export function redisClient(connection: string | RedisOptions): Redis {
  if (typeof connection === 'string') return new Redis(connection, { maxRetriesPerRequest: 3 });
  return new Redis({ maxRetriesPerRequest: 3, ...connection } as never);
}

function checkTtl(ttl: unknown): number | null {
  if (ttl === null) return null;
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new TypeError(`Expected \`ttl\` to be a positive integer (ms) or null, got ${describeValue(ttl)}`);
  }
  return ttl;
}

function checkChunk(bytes: unknown): number {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0 || bytes > MAX_CHUNK) {
    throw new TypeError(`Expected \`chunkBytes\` to be an integer from 1 to ${MAX_CHUNK} (Redis caps strings at 512 MB), got ${describeValue(bytes)}`);
  }
  return bytes;
}

registerConnector('redis', (config: RedisConnectorConfig) => RedisConnector.fromConfig(config));
