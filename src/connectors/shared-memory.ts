import { randomBytes } from 'node:crypto';
import { types } from 'node:util';
import type { Connector, SharedMemoryConnectorConfig } from './connector.js';
import { InvalidKeyError } from './errors.js';

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
}

const PAGE_SLOTS = 1024;
const MAX_GENERATION = 0x7fffffff;

let attaching: SharedMemoryConnectorConfig | undefined;

/** Bytes in SharedArrayBuffers, readable from every worker without copying. */
export class SharedMemoryConnector implements Connector<SharedMemoryKey> {
  readonly type = 'shared-memory' as const;
  readonly #id: string;
  readonly #owner: boolean;
  readonly #pages: Int32Array[] = [];
  readonly #free: { page: number; slot: number }[] = [];
  /** Entries this (owner) connector stored and has not seen evicted, by keyId. */
  readonly #live = new Map<string, SharedMemoryKey>();
  #generation = 0;
  #closed = false;

  constructor() {
    const config = attaching;
    this.#owner = config === undefined;
    this.#id = config?.id ?? randomBytes(8).toString('hex');
  }

  static fromConfig(config: SharedMemoryConnectorConfig): SharedMemoryConnector {
    attaching = config;
    try {
      return new SharedMemoryConnector();
    } finally {
      attaching = undefined;
    }
  }

  get description(): string {
    return `shared-memory:${this.#id}`;
  }

  /**
   * Stores `bytes`. Bytes already in a SharedArrayBuffer are adopted as they
   * are (no copy; later writes to them show through); others are copied
   * once into a new SharedArrayBuffer.
   */
  putSync(bytes: Uint8Array): SharedMemoryKey {
    if (!this.#owner || this.#closed) {
      throw new Error(`${this.description} ${this.#closed ? 'is closed' : 'was rebuilt from config and cannot store'}`);
    }
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
    const generation = this.#nextGeneration();
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
    };
    this.#live.set(this.keyId(key), key);
    return key;
  }

  async put(bytes: Uint8Array): Promise<SharedMemoryKey> {
    return this.putSync(bytes);
  }

  #allocate(): { page: number; slot: number } {
    if (this.#free.length === 0) this.#reclaim();
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
      if (!this.existsSync(key)) {
        this.#live.delete(id);
        this.#free.push({ page: key.page, slot: key.slot });
      }
    }
  }

  #nextGeneration(): number {
    this.#generation = this.#generation >= MAX_GENERATION ? 1 : this.#generation + 1;
    return this.#generation;
  }

  /** A view of the stored bytes (no copy), or `undefined` once evicted. */
  getSync(key: SharedMemoryKey): Uint8Array | undefined {
    if (!this.existsSync(key)) return undefined;
    return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
  }

  async get(key: SharedMemoryKey): Promise<Uint8Array | undefined> {
    return this.getSync(key);
  }

  existsSync(key: SharedMemoryKey): boolean {
    return Atomics.load(new Int32Array(key.table), key.slot) === key.generation;
  }

  async exists(key: SharedMemoryKey): Promise<boolean> {
    return this.existsSync(key);
  }

  /** Marks the entry gone in every thread; the memory is freed once no thread holds a view of it. */
  evictSync(key: SharedMemoryKey): void {
    const evicted = Atomics.compareExchange(new Int32Array(key.table), key.slot, key.generation, 0) === key.generation;
    const id = this.keyId(key);
    if (evicted && this.#live.delete(id)) this.#free.push({ page: key.page, slot: key.slot });
  }

  async evict(key: SharedMemoryKey): Promise<void> {
    this.evictSync(key);
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
    return { type: 'shared-memory', id: this.#id };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owner) return;
    for (const key of this.#live.values()) {
      Atomics.compareExchange(new Int32Array(key.table), key.slot, key.generation, 0);
    }
    this.#live.clear();
    this.#free.length = 0;
    this.#pages.length = 0;
  }
}
