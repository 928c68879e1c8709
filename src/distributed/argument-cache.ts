import { UnrecoverableError } from 'bullmq';
import type { BatchWire, FunctionInstanceWire } from '../core/wire.js';
import { isPlainObject } from '../core/values.js';
import { SharedMemoryConnector, type SharedMemoryKey } from '../connectors/shared-memory.js';
import type { RedisConnector, RedisConnectorConfig } from '../connectors/redis.js';
import { deserialize, inspectFrame } from '../serialize/index.js';
import { Store } from '../store/store.js';
import { isStoreReference } from '../store/reference.js';
import type { StoreReference } from '../store/factory.js';
import { plainTypedArrayName } from '../store/shared.js';

interface Entry {
  /** Its place in the cache: `<namespace> <key>`, the Redis entry it holds (unique for an ephemeral one). */
  readonly id: string;
  readonly ready: Promise<SharedMemoryKey>;
  /** Set once fetched. */
  key: SharedMemoryKey | undefined;
  bytes: number;
  /** Batches (one per place the reference occurs) using it now: never dropped while above 0. */
  users: number;
  /** Ephemeral references are resolved once: their entry goes when its batch is done. */
  readonly keep: boolean;
  readonly check: () => Promise<boolean>;
}

/** Where a reference to a Redis store sits in a batch, to be replaced in place. */
interface Site {
  readonly container: unknown[] | Record<string, unknown>;
  readonly at: number | string;
  readonly reference: StoreReference;
}

export interface LocalBatch {
  /** The batch with its Redis references turned into references to this process's shared memory. */
  readonly batch: BatchWire;
  /** Bytes fetched from Redis for it (0 when this process had them all). */
  readonly fetchedBytes: number;
  /** The batch is done with its entries. */
  release(): void;
}

/** How long an unused entry may outlive its Redis key, at most, before a sweep notices. */
const SWEEP_MS = 2000;

/**
 * The large arguments of the callers' runs, held once per worker process.
 * A batch's references to a Redis store are fetched once (batches arriving
 * together share the fetch), copied into shared memory, and replaced by
 * references to that: the pool's threads resolve them without a round trip,
 * typed arrays as zero-copy views. An entry goes when its Redis key does
 * (the run ended), or least recently used first beyond `maxBytes`.
 */
export class ArgumentCache {
  readonly #connector = new SharedMemoryConnector();
  readonly #store = new Store(this.#connector, { name: `skein-worker-${process.pid}-arguments` });
  /** In order of last use: the first unused ones go first. */
  readonly #entries = new Map<string, Entry>();
  readonly #maxBytes: number;
  readonly #redisFor: (config: RedisConnectorConfig) => RedisConnector;
  #bytes = 0;
  #ephemeral = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(maxBytes: number, redisFor: (config: RedisConnectorConfig) => RedisConnector) {
    this.#maxBytes = maxBytes;
    this.#redisFor = redisFor;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  async localize(batch: BatchWire): Promise<LocalBatch> {
    const sites = redisReferences(batch);
    if (sites.length === 0) return { batch, fetchedBytes: 0, release() {} };
    const used: Entry[] = [];
    let fetchedBytes = 0;
    const release = (): void => {
      for (const entry of used.splice(0)) entry.users--;
      this.#trim();
      this.#schedule();
    };
    try {
      await Promise.all(
        sites.map(async ({ container, at, reference }) => {
          const [entry, fetched] = this.#acquire(reference);
          used.push(entry);
          const key = await entry.ready;
          if (fetched) fetchedBytes += entry.bytes;
          (container as Record<string | number, unknown>)[at] = {
            ...this.#store.referenceOf(key, { kind: reference.kind }),
            ...(reference.eager === true ? { eager: true } : {}),
          } satisfies StoreReference;
        }),
      );
    } catch (error) {
      release();
      throw error;
    }
    return { batch, fetchedBytes, release };
  }

  /** The entry for `reference`, and whether this call started its fetch. */
  #acquire(reference: StoreReference): [Entry, boolean] {
    const config = reference.storeConfig.connector as RedisConnectorConfig;
    const redis = this.#redisFor(config);
    const key = redis.checkKey(reference.key);
    const id = reference.evict ? `${config.namespace} ${key} ${++this.#ephemeral}` : `${config.namespace} ${key}`;
    const existing = this.#entries.get(id);
    if (existing !== undefined) {
      // Moved to the end: the most recently used.
      this.#entries.delete(id);
      this.#entries.set(id, existing);
      existing.users++;
      return [existing, false];
    }
    const entry: Entry = {
      id,
      users: 1,
      key: undefined,
      bytes: 0,
      keep: !reference.evict,
      check: () => redis.exists(key),
      ready: this.#fetch(redis, key, reference).then((shared) => {
        entry.key = shared;
        entry.bytes = shared.byteLength;
        this.#bytes += shared.byteLength;
        return shared;
      }),
    };
    // A failed fetch is not kept: the next batch tries again.
    entry.ready.catch(() => this.#drop(entry));
    this.#entries.set(id, entry);
    return [entry, true];
  }

  async #fetch(redis: RedisConnector, key: string, reference: StoreReference): Promise<SharedMemoryKey> {
    const bytes = await redis.get(key);
    if (bytes === undefined) {
      throw new UnrecoverableError(
        `A large argument of this batch (key \`${key}\` of store \`${reference.storeConfig.name}\`) is no longer in Redis: its run ended or its TTL passed`,
      );
    }
    if (reference.evict) redis.evict(key).catch(() => {});
    // A typed array is stored as its own bytes, which threads view in place; anything else as the frame, decoded there.
    const value = inspectFrame(bytes).serializerId === 'typed-array' ? deserialize(bytes) : undefined;
    const view = plainTypedArrayName(value);
    const array = value as Uint8Array;
    return view === undefined ? this.#connector.sync.put(bytes) : this.#connector.views.put(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), view);
  }

  #drop(entry: Entry): void {
    if (this.#entries.get(entry.id) === entry) this.#entries.delete(entry.id);
    if (entry.key === undefined) return;
    // Gone in every thread at once; a thread's cached view lets go of the memory at its next batch.
    this.#connector.sync.evict(entry.key);
    this.#bytes -= entry.bytes;
    entry.key = undefined;
  }

  /** Drops ephemeral entries no batch uses, then the least recently used ones beyond `maxBytes`. */
  #trim(): void {
    for (const entry of [...this.#entries.values()]) if (!entry.keep && entry.users === 0) this.#drop(entry);
    for (const entry of [...this.#entries.values()]) {
      if (this.#bytes <= this.#maxBytes) break;
      if (entry.users === 0) this.#drop(entry);
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#entries.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.sweep().finally(() => this.#schedule());
    }, SWEEP_MS);
    this.#timer.unref();
  }

  /** Drops the unused entries whose Redis key is gone: their run ended, and nothing will ask for them again. */
  async sweep(): Promise<void> {
    const idle = [...this.#entries.values()].filter((e) => e.users === 0);
    await Promise.all(
      idle.map(async (entry) => {
        const live = await entry.check().catch(() => true);
        if (!live && entry.users === 0 && this.#entries.get(entry.id) === entry) this.#drop(entry);
      }),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#entries.clear();
    this.#bytes = 0;
    await this.#store.close();
  }
}

/** Every reference to a Redis store in `batch`'s arguments and captured values. */
function redisReferences(batch: BatchWire): Site[] {
  const sites: Site[] = [];
  const seen = new Set<object>();
  if (batch.refs === true) {
    for (const list of batch.args ?? []) collect(list as unknown[], sites, seen);
    for (const list of batch.columns ?? []) collect(list as unknown[], sites, seen);
  }
  for (const f of batch.fns) if (holdsReferences(f)) collect(f.values as unknown[], sites, seen);
  return sites;
}

function holdsReferences(inst: FunctionInstanceWire): boolean {
  return (
    inst.refs === true ||
    inst.values.some((v) => typeof v === 'object' && v !== null && '__skeinFunction' in v && holdsReferences((v as { __skeinFunction: FunctionInstanceWire }).__skeinFunction))
  );
}

// The same containers the offloader and encodeReferences descend: arrays and plain objects.
function collect(value: object, sites: Site[], seen: Set<object>): void {
  if (seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) visit(value, i, sites, seen);
  } else if (isPlainObject(value)) {
    for (const k of Object.keys(value)) visit(value as Record<string, unknown>, k, sites, seen);
  }
}

function visit(container: unknown[] | Record<string, unknown>, at: number | string, sites: Site[], seen: Set<object>): void {
  const item = (container as Record<string | number, unknown>)[at];
  if (typeof item !== 'object' || item === null) return;
  if (!isStoreReference(item)) collect(item, sites, seen);
  else if ((item.storeConfig.connector as { type?: unknown } | undefined)?.type === 'redis') sites.push({ container, at, reference: item });
}
