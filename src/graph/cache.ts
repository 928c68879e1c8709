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
  /** Its share of the budget; -1 once evicted or dropped (the node that points to it has no result kept). */
  size: number;
  /** The invalidation epoch it was kept in (see `lastChange`). */
  readonly at: number;
  older: CacheEntry | undefined;
  newer: CacheEntry | undefined;
}

/** Entries worth freeing at once when they go out of date (kept in a store, or large), with their node. */
const LARGE_BYTES = 64 * 1024;
const owners = new WeakMap<CacheEntry, WeakRef<GraphNode>>();

/** @default 256 MiB */
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

let maxBytes = DEFAULT_MAX_BYTES;
let bytes = 0;
let count = 0;
let oldest: CacheEntry | undefined;
let newest: CacheEntry | undefined;
const byKey = new Map<string, CacheEntry>();
/** The content key of each entry in `byKey` (few: pure nodes only). */
const keyOf = new WeakMap<CacheEntry, string>();

/**
 * Invalidation without a list of each node's dependents: `invalidate()`
 * stamps the node with a new epoch, and a kept result is stale when a node
 * it was computed from (itself included) carries a stamp newer than the
 * result. Nothing is stamped until the first invalidation, so until then
 * no check costs anything.
 */
let epoch = 0;
/** Large entries kept (see `owners`): none, and `stamp` looks at no entry. */
let large = 0;
const stamps = new WeakMap<GraphNode, number>();
// Pure nodes by key: an equal call built later is a new node of the same key.
const pureStamps = new Map<string, number>();
/** The newest stamp among a node and what it depends on, as of epoch `at`. */
const changes = new WeakMap<GraphNode, { at: number; stamp: number }>();

function ownStamp(node: GraphNode): number {
  return (node.pure ? pureStamps.get(node.key) : stamps.get(node)) ?? 0;
}

/**
 * Marks `node`'s result, and every result computed from it, out of date.
 * Small results go when next looked up (or by age); large ones go now.
 */
export function stamp(node: GraphNode): void {
  epoch++;
  if (node.pure) pureStamps.set(node.key, epoch);
  else stamps.set(node, epoch);
  if (large === 0) return;
  for (let entry = oldest; entry !== undefined; ) {
    const next = entry.newer;
    const owner = entry.size >= LARGE_BYTES || isKept(entry.value) ? owners.get(entry)?.deref() : undefined;
    if (owner !== undefined && owner.entry === entry && lastChange(owner) > entry.at) drop(owner);
    entry = next;
  }
}

/** The epoch now: a result or failure noted now is out of date once `lastChange` of its node passes it. */
export function currentEpoch(): number {
  return epoch;
}

/** The epoch of the last invalidation of `node` or of a node it depends on, at any depth (0: none). */
export function lastChange(node: GraphNode): number {
  if (epoch === 0) return 0;
  const known = changes.get(node);
  if (known !== undefined && known.at === epoch) return known.stamp;
  // Dependencies first, each once (iteratively: chains may be long).
  const nodes: GraphNode[] = [node];
  const next: number[] = [0];
  while (nodes.length > 0) {
    const top = nodes.length - 1;
    const n = nodes[top]!;
    const k = next[top]!;
    if (k < n.deps.length) {
      next[top] = k + 1;
      const dep = n.deps[k]!;
      if (changes.get(dep)?.at !== epoch) {
        nodes.push(dep);
        next.push(0);
      }
      continue;
    }
    nodes.pop();
    next.pop();
    let latest = ownStamp(n);
    for (const dep of n.deps) latest = Math.max(latest, changes.get(dep)!.stamp);
    changes.set(n, { at: epoch, stamp: latest });
  }
  return changes.get(node)!.stamp;
}

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
  if (entry.size >= LARGE_BYTES || isKept(entry.value)) large--;
  bytes -= entry.size;
  entry.size = -1;
  count--;
  if (byKey.size > 0) {
    const key = keyOf.get(entry);
    if (key !== undefined && byKey.get(key) === entry) byKey.delete(key);
  }
  setCached(entry.value, false);
}

function entryOf(node: GraphNode): CacheEntry | undefined {
  let entry = node.entry;
  if (entry !== undefined && entry.size < 0) node.entry = entry = undefined;
  if (entry === undefined && node.pure) {
    entry = byKey.get(node.key);
    if (entry !== undefined) node.entry = entry;
  }
  // Computed from a node invalidated since: out of date.
  if (entry !== undefined && epoch > 0 && lastChange(node) > entry.at) {
    remove(entry);
    node.entry = entry = undefined;
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
  const entry: CacheEntry = { value, size, at: epoch, older: undefined, newer: undefined };
  append(entry);
  bytes += size;
  count++;
  node.entry = entry;
  if (node.pure) {
    byKey.set(node.key, entry);
    keyOf.set(entry, node.key);
  }
  if (size >= LARGE_BYTES || isKept(value)) {
    large++;
    owners.set(entry, new WeakRef(node));
  }
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
