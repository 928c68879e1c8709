import { estimateBytes } from '../serialize/estimate.js';
import { describeValue } from '../core/errors.js';
import { isKept, isReadable, setCached } from './kept.js';
import type { GraphNode } from './graph.js';

/**
 * Computed results of graph nodes, bounded by an estimated byte budget
 * (least recently used first out). Each kept result is an entry its node
 * points to, linked in use order: a compute looks its nodes' results up and
 * keeps new ones without hashing a key, which lru-cache's set made a large
 * part of what a quick node costs. Results of pure nodes are also found by
 * content key, so an equal call built later shares them.
 */
export interface CacheEntry {
  readonly value: unknown;
  readonly size: number;
  /** A pure node's content key. */
  readonly key: string | undefined;
  older: CacheEntry | undefined;
  newer: CacheEntry | undefined;
  /** Evicted or dropped: the node that points to it has no result kept. */
  gone: boolean;
}

/** @default 256 MiB */
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

let maxBytes = DEFAULT_MAX_BYTES;
let bytes = 0;
let count = 0;
let oldest: CacheEntry | undefined;
let newest: CacheEntry | undefined;
const byKey = new Map<string, CacheEntry>();

function unlink(entry: CacheEntry): void {
  if (entry.older === undefined) oldest = entry.newer;
  else entry.older.newer = entry.newer;
  if (entry.newer === undefined) newest = entry.older;
  else entry.newer.older = entry.older;
  entry.older = entry.newer = undefined;
}

function append(entry: CacheEntry): void {
  entry.older = newest;
  if (newest === undefined) oldest = entry;
  else newest.newer = entry;
  newest = entry;
}

function remove(entry: CacheEntry): void {
  unlink(entry);
  entry.gone = true;
  bytes -= entry.size;
  count--;
  if (entry.key !== undefined && byKey.get(entry.key) === entry) byKey.delete(entry.key);
  setCached(entry.value, false);
}

function entryOf(node: GraphNode): CacheEntry | undefined {
  let entry = node.entry;
  if (entry !== undefined && entry.gone) node.entry = entry = undefined;
  if (entry === undefined && node.pure) {
    entry = byKey.get(node.key);
    if (entry !== undefined) node.entry = entry;
  }
  return entry;
}

function evictOver(budget: number): void {
  while (bytes > budget && oldest !== undefined) remove(oldest);
}

/** The node's kept result, now the most recently used; undefined when none is kept (or it is no longer readable). */
export function cached(node: GraphNode): CacheEntry | undefined {
  const entry = entryOf(node);
  if (entry === undefined) return undefined;
  // A result left in the store of an executor since closed is gone with it: computed again.
  if (!isReadable(entry.value)) {
    remove(entry);
    node.entry = undefined;
    return undefined;
  }
  if (entry !== newest) {
    unlink(entry);
    append(entry);
  }
  return entry;
}

export function isCached(node: GraphNode): boolean {
  return entryOf(node) !== undefined;
}

export function keep(node: GraphNode, value: unknown): void {
  const old = entryOf(node);
  if (old !== undefined) remove(old);
  node.entry = undefined;
  // A result kept in a store counts its stored bytes: the budget is memory, wherever it is.
  const size = Math.max(1, Math.ceil(isKept(value) ? value.bytes! : estimateBytes(value)));
  // A result too large for the budget is simply not kept.
  if (size > maxBytes) return;
  const entry: CacheEntry = { value, size, key: node.pure ? node.key : undefined, older: undefined, newer: undefined, gone: false };
  append(entry);
  bytes += size;
  count++;
  node.entry = entry;
  if (entry.key !== undefined) byKey.set(entry.key, entry);
  setCached(value, true);
  evictOver(maxBytes);
}

export function drop(node: GraphNode): void {
  const entry = entryOf(node);
  if (entry !== undefined) remove(entry);
  node.entry = undefined;
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
  const next = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof next !== 'number' || !Number.isSafeInteger(next) || next < 1) {
    throw new TypeError(`Expected \`maxBytes\` to be a positive integer, got ${describeValue(next)}`);
  }
  maxBytes = next;
  // Oldest first, so the most recently used survive the new budget.
  evictOver(maxBytes);
}

/** What the cache of graph results holds now. */
export function graphCacheStats(): { entries: number; bytes: number; maxBytes: number } {
  return { entries: count, bytes, maxBytes };
}

/** Drops every kept result. */
export function clearGraphCache(): void {
  evictOver(-1);
}
