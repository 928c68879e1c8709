import { types } from 'node:util';
import { describeValue } from '../core/errors.js';
import { isProxy } from '../proxy/index.js';
import { FileStore, SharedMemoryStore, isStoreReference, type Store, type StoreReference } from './index.js';
import { kindOf } from './store.js';
import type { FunctionInstanceWire } from '../core/wire.js';
import { encodeReferences } from './travel.js';
import { estimateBytes } from '../serialize/estimate.js';
import { Delayed } from '../task/delayed.js';
import { encodeInstances } from '../task/instances.js';
import { classCollector } from '../task/ship.js';
import { POOL_TAIL_BYTES } from '../core/pool-tail.js';
import { isPlainObject } from '../core/values.js';

/** Where `Parallel` puts large arguments: a kind of store it makes and owns, or a store of yours. */
export type OffloadStore = 'shared' | 'file' | Store<any>;

/** What a value left behind costs to clone once it is a reference (or shared memory). */
const REFERENCE_BYTES = 64;

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 };

/** `'1M'`, `'512K'`, `'2G'` or a number of bytes; `null` turns offloading off. */
export function parseNbytes(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*$/i.exec(value);
    if (m) return Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  }
  throw new RangeError(`Expected \`maxNbytes\` to be a number of bytes, a size like '1M', '512K' or '2G', or null, got ${describeValue(value)}`);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

function allPrimitive(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'object' ? v !== null : typeof v === 'function') return false;
  }
  return true;
}


export interface OffloadReport {
  /** Values stored by the run (each distinct object once). */
  readonly values: number;
  /** Their estimated size in bytes. */
  readonly bytes: number;
  /** The store's name. */
  readonly store: string;
}

/**
 * Replaces the large values in a run's arguments (and captured values) with
 * proxies of a store, as joblib auto-memmaps arrays above `max_nbytes`. One
 * Offloader per run: the same object passed to many tasks is stored once
 * (identity, as joblib does), and `free()` evicts everything the run stored.
 */
export class Offloader {
  readonly #threshold: number;
  readonly #store: Store<any>;
  // Made on first use: most runs have nothing large, and these cost even empty.
  #references: WeakMap<object, StoreReference> | undefined;
  /** Containers that travel as copies with some members replaced, and their remaining size. */
  #rebuilt: WeakMap<object, { value: unknown; bytes: number }> | undefined;
  /** Values judged small enough to travel as they are, and their size: repeat tasks skip the walk. */
  #inline: WeakMap<object, number> | undefined;
  #size = 0;
  #wires: Map<FunctionInstanceWire, FunctionInstanceWire> | undefined;
  readonly #keys: unknown[] = [];
  #bytes = 0;
  readonly #pool: SharedBufferPool | undefined;
  readonly #borrowed: SharedArrayBuffer[] = [];

  readonly #released: ((bytes: number) => void) | undefined;
  /** Puts still under way, for a store without `sync`: what travels must wait for their keys. */
  readonly #waiting = new Set<Promise<void>>();

  /**
   * `pool`: shared memory to copy binary values into, for a store that adopts
   * shared bytes as they are. `released`: called once the run's values are
   * evicted, with the bytes of memory no longer held here, so that workers
   * let go of them too.
   */
  constructor(threshold: number, store: Store<any>, pool?: SharedBufferPool, released?: (bytes: number) => void) {
    this.#threshold = threshold;
    this.#store = store;
    this.#pool = pool;
    this.#released = released;
  }

  /** Values estimated above this many bytes travel by reference. */
  /** Where offloaded values go. */
  get store(): Store<any> {
    return this.#store;
  }

  get threshold(): number {
    return this.#threshold;
  }

  get report(): OffloadReport {
    return { values: this.#keys.length, bytes: this.#bytes, store: this.#store.config().name };
  }

  /**
   * The tasks with their large arguments replaced; tasks with nothing to
   * replace are returned as they are. A promise only when the store has no
   * `sync` and something was stored: the references need their keys.
   */
  tasks(tasks: Delayed[]): Delayed[] | Promise<Delayed[]> {
    let out: Delayed[] | undefined;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      // Arguments measured below the threshold by delayed()'s check hold nothing to offload: no second walk.
      if (task.shipped.wire.values.length === 0 && (task.bytes <= this.#threshold || allPrimitive(task.args))) continue;
      // Class instances and errors are encoded before they are stored: a store keeps plain data (task/instances.ts).
      let source = task.args;
      let classes: Map<string, FunctionInstanceWire> | undefined;
      if (task.shipped.encodeArgs && task.shipped.argClasses === undefined) {
        classes = new Map();
        source = encodeInstances(task.args, classCollector(classes)) as readonly unknown[];
      }
      const args = this.#replace(source, 0, true) as readonly unknown[];
      const wire = this.#captures(task.shipped.wire);
      if (args !== task.args || wire !== task.shipped.wire) {
        out ??= tasks.slice();
        let shipped = wire === task.shipped.wire ? task.shipped : { ...task.shipped, wire };
        if (classes !== undefined) shipped = { ...shipped, argClasses: [...classes.values()] };
        out[i] = new Delayed(shipped, args, task.hasReferences || args !== source);
      }
    }
    if (this.#waiting.size === 0) return out ?? tasks;
    return Promise.all(this.#waiting).then(() => out ?? tasks);
  }

  #captures(wire: FunctionInstanceWire): FunctionInstanceWire {
    if (wire.values.length === 0) return wire;
    let replaced = this.#wires?.get(wire);
    if (replaced === undefined) {
      const values = this.#replace(wire.values, 0, true) as readonly unknown[];
      replaced = values === wire.values ? wire : { ...wire, values: encodeReferences(values) as readonly unknown[], refs: true };
      (this.#wires ??= new Map()).set(wire, replaced);
    }
    return replaced;
  }

  /**
   * Stores `value` once per run and returns what travels instead: a store
   * reference marked eager, so the task receives the real object (resolved
   * once per worker through its cache), exactly as if it had been cloned.
   */
  #offload(value: object, bytes: number): StoreReference {
    this.#size = REFERENCE_BYTES;
    let reference = this.#references?.get(value);
    if (reference === undefined) {
      const stored = this.#intoPooledMemory(value);
      if (this.#store.sync) {
        const key: unknown = this.#store.putSync(stored);
        this.#keys.push(key);
        reference = { ...this.#store.referenceOf(key), eager: true, ...(stored === value ? {} : { pooled: true }) };
      } else {
        reference = this.#putLater(stored);
      }
      (this.#references ??= new WeakMap()).set(value, reference);
      this.#bytes += bytes;
    }
    return reference;
  }

  /** A reference whose key is filled in when the store's async `put` is done (`tasks()` waits for it). */
  #putLater(value: object): StoreReference {
    const reference: { -readonly [F in keyof StoreReference]: StoreReference[F] } = {
      __skeinStoreReference: 1,
      key: undefined,
      storeConfig: this.#store.config(),
      evict: false,
      kind: kindOf(value),
      eager: true,
    };
    const put = this.#store.put(value).then((key: unknown) => {
      this.#keys.push(key);
      reference.key = key;
    });
    this.#waiting.add(put);
    const settled = (): void => {
      this.#waiting.delete(put);
    };
    put.then(settled, settled);
    return reference;
  }

  /**
   * Returns `value` with its large parts replaced: a large binary value or
   * other object is stored and becomes a reference; an array or plain object
   * first has its large members replaced (in a copy), and is stored whole if
   * what remains is still large. Leaves in `#size` what is left to clone, so
   * each value is measured once, on the way.
   */
  #replace(value: unknown, depth: number, root = false): unknown {
    // Its own loop rather than core/values' walk: it copies on write and measures as it goes (see there).
    if (typeof value !== 'object' || value === null) {
      this.#size = typeof value === 'string' ? 16 + value.length * 2 : 8;
      return value;
    }
    this.#size = REFERENCE_BYTES;
    // A reference already (a graph result left in a store) travels as it is.
    if (isProxy(value) || isStoreReference(value)) return value;
    const reference = this.#references?.get(value);
    if (reference !== undefined) return reference;
    const inline = this.#inline?.get(value);
    if (inline !== undefined) {
      this.#size = inline;
      return value;
    }
    const rebuilt = this.#rebuilt?.get(value);
    if (rebuilt !== undefined) {
      this.#size = rebuilt.bytes;
      return rebuilt.value;
    }
    if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value)) {
      // Already in shared memory: structured clone shares it, nothing to copy.
      if (types.isSharedArrayBuffer(ArrayBuffer.isView(value) ? value.buffer : value)) return value;
      if (value.byteLength <= this.#threshold) {
        this.#size = value.byteLength;
        return value;
      }
      return this.#offload(value, value.byteLength);
    }
    let total = 16;
    let copy: unknown[] | Record<string, unknown> | undefined;
    if (depth < 4 && Array.isArray(value) && value.length <= 1024) {
      let items: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        const next = this.#replace(item, depth + 1);
        if (next !== item) (items ??= value.slice())[i] = next;
        total += this.#size;
      }
      copy = items;
    } else if (depth < 4 && !Array.isArray(value) && isPlainObject(value)) {
      let fields: Record<string, unknown> | undefined;
      for (const k of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[k];
        const next = this.#replace(item, depth + 1);
        if (next !== item) (fields ??= { ...(value as Record<string, unknown>) })[k] = next;
        total += k.length * 2 + this.#size;
      }
      copy = fields;
    } else {
      // Long arrays and other objects are judged whole, by a sampled estimate:
      // scanning every element of every task is what offloading saves.
      total = estimateBytes(value, 0, isProxy);
    }
    // An argument list itself is spread into the call: only its members can travel by reference.
    if (total > this.#threshold && !root) return this.#offload(value, total);
    this.#size = total;
    if (copy !== undefined) {
      (this.#rebuilt ??= new WeakMap()).set(value, { value: copy, bytes: total });
      return copy;
    }
    // Argument lists are new for every task: remembering them would only cost.
    if (!root) (this.#inline ??= new WeakMap()).set(value, total);
    return value;
  }

  /**
   * A typed array copied into shared memory the pool already has, which the
   * store then adopts without a copy of its own. Memory this process touched
   * before is much cheaper to fill than fresh pages (on this project's VMs,
   * fresh pages cost up to 6x the copy itself).
   */
  #intoPooledMemory(value: object): object {
    if (this.#pool === undefined || !ArrayBuffer.isView(value) || types.isDataView(value)) return value;
    const view = value as unknown as Uint8Array;
    const buffer = this.#pool.take(view.byteLength);
    if (buffer === undefined) return value;
    this.#borrowed.push(buffer);
    new Uint8Array(buffer, 0, view.byteLength).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    const Ctor = view.constructor as new (buffer: SharedArrayBuffer, offset: number, length: number) => object;
    return new Ctor(buffer, 0, view.length);
  }

  /**
   * Evicts everything this run stored. `settled`: every batch of the run has
   * finished, so no task can still be reading the memory, and it may be
   * reused, except what a task returned: the caller holds that now.
   */
  async free(settled = false): Promise<void> {
    // A put still under way would store its key after the eviction below.
    if (this.#waiting.size > 0) await Promise.allSettled(this.#waiting);
    const keys = this.#keys.splice(0);
    const borrowed = this.#borrowed.splice(0);
    if (this.#store.closed || keys.length === 0) return;
    await Promise.all(keys.map((k) => this.#store.evict(k).catch(() => {})));
    const pooled = settled && this.#pool !== undefined && borrowed.length > 0 ? this.#pool.giveBack(borrowed) : 0;
    // What went back to the pool stays allocated whatever workers do; what the pool let go of is freed once they let go too.
    this.#released?.(Math.max(0, this.#bytes - pooled) + (this.#pool?.takeDropped() ?? 0));
  }
}

/**
 * Shared memory kept from finished runs for the next ones to copy into, so a
 * Parallel that sends large arrays run after run does not pay for fresh pages
 * each time. It keeps at most what the last run that used it borrowed (and
 * 4 buffers, 1 GiB): memory an earlier, larger run needed is not held for
 * good. A buffer a task returned (part of) is never taken back: the caller
 * sees it (its `POOL_TAIL_BYTES` flag says so). Emptied by `close()`.
 */
export class SharedBufferPool {
  readonly #buffers: SharedArrayBuffer[] = [];
  #dropped = 0;
  static readonly MAX_BUFFERS = 4;
  static readonly MAX_BYTES = 2 ** 30;

  /** A buffer with room for `bytes` (and not more than twice that), pooled or new; undefined above the size limit. */
  take(bytes: number): SharedArrayBuffer | undefined {
    if (bytes > SharedBufferPool.MAX_BYTES) return undefined;
    let best = -1;
    for (let i = 0; i < this.#buffers.length; i++) {
      const size = roomIn(this.#buffers[i]!);
      if (size >= bytes && size <= 2 * bytes && (best < 0 || size < roomIn(this.#buffers[best]!))) best = i;
    }
    if (best >= 0) return this.#buffers.splice(best, 1)[0];
    // Buffers too small for this value are let go before a new one is made:
    // sizes that grow run after run would otherwise each stay pooled.
    for (let i = this.#buffers.length - 1; i >= 0; i--) {
      if (roomIn(this.#buffers[i]!) < bytes) this.#drop(i);
    }
    return new SharedArrayBuffer(Math.ceil(bytes / POOL_TAIL_BYTES) * POOL_TAIL_BYTES + POOL_TAIL_BYTES);
  }

  /** Takes back what one run borrowed, once it has settled, and trims the pool to that much; returns the bytes taken back. */
  giveBack(borrowed: readonly SharedArrayBuffer[]): number {
    let limit = 0;
    let taken = 0;
    for (const buffer of borrowed) {
      limit += buffer.byteLength;
      if (SharedBufferPool.seen(buffer)) continue;
      this.#buffers.push(buffer);
      taken += buffer.byteLength;
    }
    limit = Math.min(limit, SharedBufferPool.MAX_BYTES);
    let total = this.bytes;
    while (this.#buffers.length > SharedBufferPool.MAX_BUFFERS || total > limit) total -= this.#drop(0);
    return taken;
  }

  /** Bytes of the buffers let go of since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  #drop(index: number): number {
    const bytes = this.#buffers.splice(index, 1)[0]!.byteLength;
    this.#dropped += bytes;
    return bytes;
  }

  /** Whether a task handed (part of) `buffer` back in a result: the caller may hold it. */
  static seen(buffer: SharedArrayBuffer): boolean {
    return Atomics.load(new Int32Array(buffer, buffer.byteLength - POOL_TAIL_BYTES, 1), 0) !== 0;
  }

  /** Pooled bytes. */
  get bytes(): number {
    return this.#buffers.reduce((n, b) => n + b.byteLength, 0);
  }

  /** Pooled buffers. */
  get size(): number {
    return this.#buffers.length;
  }

  clear(): void {
    this.#buffers.length = 0;
  }
}

/** Bytes of data a pooled buffer holds: all but its flag. */
function roomIn(buffer: SharedArrayBuffer): number {
  return buffer.byteLength - POOL_TAIL_BYTES;
}

/** The store a Parallel owns for `'shared'`/`'file'`, made on first need and closed with it. */
export function makeOwnedStore(kind: 'shared' | 'file', tempFolder: string | undefined): Store<any> {
  if (kind === 'shared') return new SharedMemoryStore({ name: 'skein-offload' });
  return new FileStore({ ...(tempFolder === undefined ? {} : { dir: tempFolder }), name: 'skein-offload' });
}
