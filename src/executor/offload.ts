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
  readonly #rebuilt = new WeakMap<object, unknown>();
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
   * other object becomes a proxy; an array or plain object first has its large
   * members replaced (in a copy), and is proxied whole if what remains is still large.
   */
  #replace(value: unknown, depth: number, root = false): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (isProxy(value)) return value;
    const known = this.#references.get(value) ?? this.#rebuilt.get(value);
    if (known !== undefined) return known;
    if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value)) {
      // Already in shared memory: structured clone shares it, nothing to copy.
      const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
      if (types.isSharedArrayBuffer(buffer) || value.byteLength <= this.#threshold) return value;
      return this.#offload(value, value.byteLength);
    }
    const container = Array.isArray(value) || isPlainObject(value);
    if (container && depth < 4) {
      let copy: unknown[] | Record<string, unknown> | undefined;
      let total = 16;
      if (Array.isArray(value)) {
        let items: unknown[] | undefined;
        // Long arrays are judged whole: scanning every element of every task is what offloading saves.
        if (value.length <= 1024) {
          for (let i = 0; i < value.length; i++) {
            const item: unknown = value[i];
            const next = this.#replace(item, depth + 1);
            if (next !== item) (items ??= value.slice())[i] = next;
            total += next !== item ? 64 : this.#cloneBytes(item);
          }
        } else {
          total = estimateBytes(value, 0, isProxy);
        }
        copy = items;
      } else {
        let fields: Record<string, unknown> | undefined;
        for (const k of Object.keys(value)) {
          const item = (value as Record<string, unknown>)[k];
          const next = this.#replace(item, depth + 1);
          if (next !== item) (fields ??= { ...(value as Record<string, unknown>) })[k] = next;
          total += k.length * 2 + (next !== item ? 64 : this.#cloneBytes(item));
        }
        copy = fields;
      }
      // An argument list itself is spread into the call: only its members can travel by reference.
      if (total > this.#threshold && !root) return this.#offload(value, total);
      if (copy !== undefined) {
        this.#rebuilt.set(value, copy);
        return copy;
      }
      return value;
    }
    const bytes = estimateBytes(value, 0, isProxy);
    return bytes > this.#threshold ? this.#offload(value, bytes) : value;
  }

  /** What structured clone would copy of a value that stays inline: shared memory is shared, not copied. */
  #cloneBytes(value: unknown): number {
    if (typeof value === 'object' && value !== null && isProxy(value)) return 64;
    if (typeof value === 'object' && value !== null && (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value))) {
      return types.isSharedArrayBuffer(ArrayBuffer.isView(value) ? value.buffer : value) ? 64 : value.byteLength;
    }
    return estimateBytes(value, 0, isProxy);
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
