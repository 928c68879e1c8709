import { randomBytes } from 'node:crypto';
import { types } from 'node:util';
import type { Connector, SharedMemoryConnectorConfig, SyncConnector, ViewConnector } from './connector.js';
import { InvalidKeyError } from './errors.js';
import { registerConnector } from './registry.js';

/**
 * A key of a SharedMemoryConnector. It carries the SharedArrayBuffers
 * themselves: structured clone shares a SAB by reference, so a worker that
 * receives the key reads the bytes where they are, without a copy.
 *
 * Liveness lives in a small shared status table: `table[slot]` holds the
 * entry's generation while it is stored and 0 once evicted (or the store is
 * closed), so every thread sees an eviction at once (`Atomics`), and a reused
 * slot never revives an old key (the generation differs).
 */
export interface SharedMemoryKey {
  /** Id of the connector that stored it. */
  readonly store: string;
  readonly table: SharedArrayBuffer;
  readonly page: number;
  readonly slot: number;
  readonly generation: number;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  /** Set for the raw bytes of a typed array (`views.put`): the name of its constructor. */
  readonly view?: string;
}

const PAGE_SLOTS = 1024;
const MAX_GENERATION = 0x7fffffff;
// The shared state of one store, in every thread: [closed flag, last generation].
const CLOSED = 0;
const GENERATION = 1;

/**
 * Bytes in SharedArrayBuffers, readable from every worker without copying.
 * A connector rebuilt from config in a worker can store too: its entries
 * are new SharedArrayBuffers whose liveness lives in the same kind of
 * table, and they count as gone everywhere once the owner closes.
 */
export class SharedMemoryConnector implements Connector<SharedMemoryKey> {
  readonly type = 'shared-memory' as const;
  readonly #id: string;
  readonly #owner: boolean;
  readonly #state: Int32Array;
  readonly #pages: Int32Array[] = [];
  readonly #free: { page: number; slot: number }[] = [];
  /**
   * Entries this owner stored and has not seen evicted, by keyId. A
   * connector rebuilt from config keeps none: holding their memory alive in
   * a worker until it ends is what it must not do; its slots are not reused.
   */
  readonly #live = new Map<string, SharedMemoryKey>();
  #closed = false;
  readonly sync: SyncConnector<SharedMemoryKey> = {
    put: (bytes) => this.#put(bytes, undefined),
    get: (key) => (this.sync.exists(key) ? new Uint8Array(key.buffer, key.byteOffset, key.byteLength) : undefined),
    exists: (key) => Atomics.load(this.#state, CLOSED) === 0 && Atomics.load(new Int32Array(key.table), key.slot) === key.generation,
    evict: (key) => {
      const evicted = Atomics.compareExchange(new Int32Array(key.table), key.slot, key.generation, 0) === key.generation;
      if (evicted && this.#live.delete(this.keyId(key))) this.#free.push({ page: key.page, slot: key.slot });
    },
  };
  /** Typed arrays keep their kind in the key, so readers get a view at an aligned offset whatever a serializer's frame layout. */
  readonly views: ViewConnector<SharedMemoryKey> = {
    put: (bytes, view) => this.#put(bytes, view),
    viewOf: (key) => key.view,
  };

  constructor();
  // The second form is fromConfig's only: callers rebuild through fromConfig.
  constructor(attach?: SharedMemoryConnectorConfig) {
    this.#owner = attach === undefined;
    this.#id = attach?.id ?? randomBytes(8).toString('hex');
    this.#state = new Int32Array(attach?.state ?? new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  }

  static fromConfig(config: SharedMemoryConnectorConfig): SharedMemoryConnector {
    if (typeof config?.id !== 'string' || !types.isSharedArrayBuffer(config.state) || config.state.byteLength < 8) {
      throw new TypeError(`Invalid shared-memory connector config: ${JSON.stringify(config)}`);
    }
    return new (SharedMemoryConnector as new (attach: SharedMemoryConnectorConfig) => SharedMemoryConnector)(config);
  }

  get description(): string {
    return `shared-memory:${this.#id}`;
  }

  /**
   * Stores `bytes`. Bytes already in a SharedArrayBuffer are adopted as they
   * are (no copy; later writes to them show through); others are copied
   * once into a new SharedArrayBuffer.
   */
  #put(bytes: Uint8Array, view: string | undefined): SharedMemoryKey {
    if (this.#closed || Atomics.load(this.#state, CLOSED) !== 0) throw new Error(`${this.description} is closed`);
    let buffer: SharedArrayBuffer;
    let byteOffset = 0;
    if (types.isSharedArrayBuffer(bytes.buffer)) {
      buffer = bytes.buffer;
      byteOffset = bytes.byteOffset;
    } else {
      buffer = new SharedArrayBuffer(bytes.byteLength);
      new Uint8Array(buffer).set(bytes);
    }
    const { page, slot } = this.#allocate();
    // One counter for every thread that puts: keys of different writers never share a keyId.
    const generation = ((Atomics.add(this.#state, GENERATION, 1) + 1) & MAX_GENERATION) || 1;
    const table = this.#pages[page]!;
    Atomics.store(table, slot, generation);
    const key: SharedMemoryKey = {
      store: this.#id,
      table: table.buffer as SharedArrayBuffer,
      page,
      slot,
      generation,
      buffer,
      byteOffset,
      byteLength: bytes.byteLength,
      ...(view === undefined ? {} : { view }),
    };
    if (this.#owner) this.#live.set(this.keyId(key), key);
    return key;
  }

  async put(bytes: Uint8Array): Promise<SharedMemoryKey> {
    return this.sync.put(bytes);
  }

  async putMany(bytes: readonly Uint8Array[]): Promise<SharedMemoryKey[]> {
    return bytes.map((b) => this.sync.put(b));
  }

  #allocate(): { page: number; slot: number } {
    if (this.#free.length === 0 && this.#owner) this.#reclaim();
    const free = this.#free.pop();
    if (free !== undefined) return free;
    const page = this.#pages.length;
    this.#pages.push(new Int32Array(new SharedArrayBuffer(PAGE_SLOTS * Int32Array.BYTES_PER_ELEMENT)));
    for (let slot = PAGE_SLOTS - 1; slot > 0; slot--) this.#free.push({ page, slot });
    return { page, slot: 0 };
  }

  // Slots evicted by another thread (ephemeral proxies resolved in a worker)
  // are only noticed here, when the owner looks.
  #reclaim(): void {
    for (const [id, key] of this.#live) {
      if (!this.sync.exists(key)) {
        this.#live.delete(id);
        this.#free.push({ page: key.page, slot: key.slot });
      }
    }
  }

  /** A view of the stored bytes (no copy), or `undefined` once evicted. */
  async get(key: SharedMemoryKey): Promise<Uint8Array | undefined> {
    return this.sync.get(key);
  }

  async getMany(keys: readonly SharedMemoryKey[]): Promise<(Uint8Array | undefined)[]> {
    return keys.map((k) => this.sync.get(k));
  }

  async exists(key: SharedMemoryKey): Promise<boolean> {
    return this.sync.exists(key);
  }

  /** Marks the entry gone in every thread; the memory is freed once no thread holds a view of it. */
  async evict(key: SharedMemoryKey): Promise<void> {
    this.sync.evict(key);
  }

  checkKey(key: unknown): SharedMemoryKey {
    const k = key as Partial<SharedMemoryKey> | null;
    const valid =
      typeof k === 'object' &&
      k !== null &&
      typeof k.store === 'string' &&
      types.isSharedArrayBuffer(k.table) &&
      types.isSharedArrayBuffer(k.buffer) &&
      Number.isInteger(k.page) &&
      Number.isInteger(k.slot) &&
      Number.isInteger(k.generation) &&
      Number.isInteger(k.byteOffset) &&
      Number.isInteger(k.byteLength) &&
      (k.view === undefined || typeof k.view === 'string') &&
      k.slot! >= 0 &&
      k.slot! < k.table.byteLength / Int32Array.BYTES_PER_ELEMENT &&
      k.byteOffset! >= 0 &&
      k.byteLength! >= 0 &&
      k.byteOffset! + k.byteLength! <= k.buffer.byteLength;
    if (!valid) throw new InvalidKeyError(key, this.description, 'not a shared-memory key');
    if (k.store !== this.#id) throw new InvalidKeyError(key, this.description, `a key of shared-memory:${k.store}, not of this store`);
    return k as SharedMemoryKey;
  }

  keyId(key: SharedMemoryKey): string {
    return `${key.page}.${key.slot}.${key.generation}`;
  }

  config(): SharedMemoryConnectorConfig {
    return { type: 'shared-memory', id: this.#id, state: this.#state.buffer as SharedArrayBuffer };
  }

  /** The owner marks every entry gone, in every thread, including those connectors rebuilt from its config stored. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#free.length = 0;
    this.#pages.length = 0;
    if (!this.#owner) return;
    Atomics.store(this.#state, CLOSED, 1);
    for (const key of this.#live.values()) {
      Atomics.compareExchange(new Int32Array(key.table), key.slot, key.generation, 0);
    }
    this.#live.clear();
  }
}

registerConnector('shared-memory', (config: SharedMemoryConnectorConfig) => SharedMemoryConnector.fromConfig(config));
