import { LRUCache } from 'lru-cache';
import { estimateBytes } from '../serialize/estimate.js';
import { describeValue } from '../core/errors.js';
import { isKept, isReadable, setCached } from './kept.js';

/** Computed results of graph nodes, by node key, bounded by an estimated byte budget (LRU). */
interface Entry {
  readonly value: unknown;
}

/** @default 256 MiB */
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

function makeCache(maxBytes: number): LRUCache<string, Entry> {
  // lru-cache wants sizes >= 1; a result too large for the budget is simply not kept.
  // A result kept in a store counts its stored bytes: the budget is memory, wherever it is.
  return new LRUCache<string, Entry>({
    maxSize: maxBytes,
    sizeCalculation: (entry) => Math.max(1, Math.ceil(isKept(entry.value) ? entry.value.bytes! : estimateBytes(entry.value))),
    dispose: (entry) => setCached(entry.value, false),
  });
}

let results = makeCache(DEFAULT_MAX_BYTES);

export function cached(key: string): Entry | undefined {
  const entry = results.get(key);
  // A result left in the store of an executor since closed is gone with it: computed again.
  if (entry !== undefined && !isReadable(entry.value)) {
    results.delete(key);
    return undefined;
  }
  return entry;
}

export function isCached(key: string): boolean {
  return results.has(key);
}

export function keep(key: string, value: unknown): void {
  const entry = { value };
  results.set(key, entry);
  if (results.peek(key) === entry) setCached(value, true);
}

export function drop(key: string): void {
  results.delete(key);
}

/** Options of the process-wide cache of computed graph nodes. */
export interface GraphCacheOptions {
  /** Byte budget of kept results (estimated); least recently used results go first. @default 268435456 (256 MiB) */
  readonly maxBytes?: number;
}

/**
 * Sets the budget of the results graph nodes keep between computes; results
 * over a smaller budget are evicted (and recomputed when needed again).
 */
export function configureGraphCache(options: GraphCacheOptions): void {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new TypeError(`Expected \`maxBytes\` to be a positive integer, got ${describeValue(maxBytes)}`);
  }
  const next = makeCache(maxBytes);
  // Oldest first, so the most recently used survive the new budget.
  const entries = [...results.entries()].reverse();
  for (const [key, entry] of entries) next.set(key, entry);
  results = next;
  for (const [key, entry] of entries) if (next.peek(key) !== entry) setCached(entry.value, false);
}

/** What the cache of graph results holds now. */
export function graphCacheStats(): { entries: number; bytes: number; maxBytes: number } {
  return { entries: results.size, bytes: results.calculatedSize, maxBytes: results.maxSize };
}

/** Drops every kept result. */
export function clearGraphCache(): void {
  results.clear();
}
