import { types } from 'node:util';
import { describeValue } from '../errors.js';
import { isProxy } from '../proxy/index.js';
import { FileStore, SharedMemoryStore, storeReference, type Store, type StoreReference } from '../store/index.js';
import type { FunctionInstanceWire } from '../protocol/messages.js';
import { encodeReferences } from '../store/travel.js';
import { estimateBytes } from '../serialize/estimate.js';
import { Delayed } from './delayed.js';

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

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
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
  readonly #references = new WeakMap<object, StoreReference>();
  /** Containers that travel as copies with some members replaced, and their remaining size. */
  readonly #rebuilt = new WeakMap<object, { value: unknown; bytes: number }>();
  /** Values judged small enough to travel as they are, and their size: repeat tasks skip the walk. */
  readonly #inline = new WeakMap<object, number>();
  #size = 0;
  readonly #wires = new Map<FunctionInstanceWire, FunctionInstanceWire>();
  readonly #keys: unknown[] = [];
  #bytes = 0;

  constructor(threshold: number, store: Store<any>) {
    this.#threshold = threshold;
    this.#store = store;
  }

  get report(): OffloadReport {
    return { values: this.#keys.length, bytes: this.#bytes, store: this.#store.config().name };
  }

  /** The tasks with their large arguments replaced; tasks with nothing to replace are returned as they are. */
  tasks(tasks: Delayed[]): Delayed[] {
    let out: Delayed[] | undefined;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      if (task.shipped.wire.values.length === 0 && allPrimitive(task.args)) continue;
      const args = this.#replace(task.args, 0, true) as readonly unknown[];
      const wire = this.#captures(task.shipped.wire);
      if (args !== task.args || wire !== task.shipped.wire) {
        out ??= tasks.slice();
        const shipped = wire === task.shipped.wire ? task.shipped : { ...task.shipped, wire };
        out[i] = new Delayed(shipped, args, task.hasReferences || args !== task.args);
      }
    }
    return out ?? tasks;
  }

  #captures(wire: FunctionInstanceWire): FunctionInstanceWire {
    if (wire.values.length === 0) return wire;
    let replaced = this.#wires.get(wire);
    if (replaced === undefined) {
      const values = this.#replace(wire.values, 0, true) as readonly unknown[];
      replaced = values === wire.values ? wire : { fn: wire.fn, values: encodeReferences(values) as readonly unknown[], refs: true };
      this.#wires.set(wire, replaced);
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
    let reference = this.#references.get(value);
    if (reference === undefined) {
      const key: unknown = this.#store.putSync(value);
      this.#keys.push(key);
      reference = { ...storeReference(this.#store.proxyFromKey(key))!, eager: true };
      this.#references.set(value, reference);
      this.#bytes += bytes;
    }
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
    if (typeof value !== 'object' || value === null) {
      this.#size = typeof value === 'string' ? 16 + value.length * 2 : 8;
      return value;
    }
    this.#size = REFERENCE_BYTES;
    if (isProxy(value)) return value;
    const reference = this.#references.get(value);
    if (reference !== undefined) return reference;
    const inline = this.#inline.get(value);
    if (inline !== undefined) {
      this.#size = inline;
      return value;
    }
    const rebuilt = this.#rebuilt.get(value);
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
      this.#rebuilt.set(value, { value: copy, bytes: total });
      return copy;
    }
    // Argument lists are new for every task: remembering them would only cost.
    if (!root) this.#inline.set(value, total);
    return value;
  }

  /** Evicts everything this run stored. */
  async free(): Promise<void> {
    const keys = this.#keys.splice(0);
    if (this.#store.closed) return;
    await Promise.all(keys.map((k) => this.#store.evict(k).catch(() => {})));
  }
}

/** The store a Parallel owns for `'shared'`/`'file'`, made on first need and closed with it. */
export function makeOwnedStore(kind: 'shared' | 'file', tempFolder: string | undefined): Store<any> {
  if (kind === 'shared') return new SharedMemoryStore({ name: 'skein-offload' });
  return new FileStore({ ...(tempFolder === undefined ? {} : { dir: tempFolder }), name: 'skein-offload' });
}
