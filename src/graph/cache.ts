import { estimateBytes } from '../serialize/estimate.js';
import { describeValue } from '../core/errors.js';
import { isKept, isReadable, setCached } from './kept.js';
import type { GraphNode } from './graph.js';

/**
 * Computed results of graph nodes, bounded by an estimated byte budget
 * (least recently used first out).
 *
 * Each kept result has a slot, and its node notes the slot and the slot's
 * generation (`GraphNode.entry`, `entryGen`): a compute looks its nodes'
 * results up, and keeps new ones, without hashing a key or making an object
 * (lru-cache's set, then an entry object per result, were a large part of
 * what a quick node cost, most of it in collections). A slot freed gets a
 * new generation, so a node that still notes it knows its result is gone.
 * Results of pure nodes are also found by content key, so an equal call
 * built later shares them.
 */

/** @default 256 MiB */
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** Results worth freeing at once when they go out of date (kept in a store, or large): their slots name their nodes. */
const LARGE_BYTES = 64 * 1024;
const NONE = -1;

let maxBytes = DEFAULT_MAX_BYTES;
let bytes = 0;
let count = 0;
// By slot: the result, its share of the budget (-1: free), the invalidation
// epoch it was kept in, its neighbours in use order, and its generation.
let values: unknown[] = [];
let sizes = new Float64Array(0);
let ats = new Int32Array(0);
let older = new Int32Array(0);
let newer = new Int32Array(0);
let gens = new Int32Array(0);
const freeSlots: number[] = [];
let oldest = NONE;
let newest = NONE;
const byKey = new Map<string, number>();
/** The content key of each slot in `byKey` (few: pure nodes only). */
const keyOf = new Map<number, string>();
const owners = new Map<number, WeakRef<GraphNode>>();

function grow(): void {
  const capacity = Math.max(1024, 2 * sizes.length);
  const widen = <T extends Float64Array | Int32Array>(old: T, make: (n: number) => T): T => {
    const next = make(capacity);
    next.set(old);
    return next;
  };
  sizes = widen(sizes, (n) => new Float64Array(n).fill(-1));
  ats = widen(ats, (n) => new Int32Array(n));
  older = widen(older, (n) => new Int32Array(n));
  newer = widen(newer, (n) => new Int32Array(n));
  gens = widen(gens, (n) => new Int32Array(n));
  for (let s = capacity - 1; s >= values.length; s--) freeSlots.push(s);
  while (values.length < capacity) values.push(undefined);
}

/**
 * Invalidation without a list of each node's dependents: `invalidate()`
 * stamps the node with a new epoch, and a kept result is stale when a node
 * it was computed from (itself included) carries a stamp newer than the
 * result. Nothing is stamped until the first invalidation, so until then
 * no check costs anything.
 */
let epoch = 0;
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
  for (const [slot, ref] of [...owners]) {
    const owner = ref.deref();
    if (owner !== undefined && slotOf(owner) === slot && lastChange(owner) > ats[slot]!) drop(owner);
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

function unlink(slot: number): void {
  const o = older[slot]!;
  const n = newer[slot]!;
  if (o === NONE) oldest = n;
  else newer[o] = n;
  if (n === NONE) newest = o;
  else older[n] = o;
}

function append(slot: number): void {
  older[slot] = newest;
  newer[slot] = NONE;
  if (newest === NONE) oldest = slot;
  else newer[newest] = slot;
  newest = slot;
}

function remove(slot: number): void {
  unlink(slot);
  const value = values[slot];
  bytes -= sizes[slot]!;
  sizes[slot] = -1;
  values[slot] = undefined;
  gens[slot] = (gens[slot]! + 1) | 0;
  count--;
  freeSlots.push(slot);
  if (keyOf.size > 0) {
    const key = keyOf.get(slot);
    if (key !== undefined) {
      keyOf.delete(slot);
      if (byKey.get(key) === slot) byKey.delete(key);
    }
  }
  owners.delete(slot);
  setCached(value, false);
}

/** The slot of the node's kept result, or NONE: gone, or computed from a node invalidated since (then dropped). */
function slotOf(node: GraphNode): number {
  let slot = node.entry;
  if (slot !== NONE && (gens[slot] !== node.entryGen || sizes[slot]! < 0)) node.entry = slot = NONE;
  if (slot === NONE && node.pure) {
    const byContent = byKey.get(node.key);
    if (byContent !== undefined) {
      slot = byContent;
      node.entry = slot;
      node.entryGen = gens[slot]!;
    }
  }
  if (slot !== NONE && epoch > 0 && lastChange(node) > ats[slot]!) {
    remove(slot);
    node.entry = slot = NONE;
  }
  return slot;
}

function evictOver(budget: number): void {
  while (bytes > budget && oldest !== NONE) remove(oldest);
}

/** What `lookup` gives for a node with no result kept. */
export const MISS: unique symbol = Symbol('skein.graph.miss');

/** The node's kept result, now the most recently used; MISS when none is kept (or it is no longer readable). */
export function lookup(node: GraphNode): unknown {
  const slot = slotOf(node);
  if (slot === NONE) return MISS;
  const value = values[slot];
  // A result left in the store of an executor since closed is gone with it: computed again.
  if (!isReadable(value)) {
    remove(slot);
    node.entry = NONE;
    return MISS;
  }
  if (slot !== newest) {
    unlink(slot);
    append(slot);
  }
  return value;
}

export function isCached(node: GraphNode): boolean {
  return slotOf(node) !== NONE;
}

export function keep(node: GraphNode, value: unknown): void {
  const old = slotOf(node);
  if (old !== NONE) remove(old);
  node.entry = NONE;
  const kept = isKept(value);
  // A result kept in a store counts its stored bytes: the budget is memory, wherever it is.
  const size = Math.max(1, Math.ceil(kept ? value.bytes! : estimateBytes(value)));
  // A result too large for the budget is simply not kept.
  if (size > maxBytes) return;
  if (freeSlots.length === 0) grow();
  const slot = freeSlots.pop()!;
  values[slot] = value;
  sizes[slot] = size;
  ats[slot] = epoch;
  append(slot);
  bytes += size;
  count++;
  node.entry = slot;
  node.entryGen = gens[slot]!;
  if (node.pure) {
    byKey.set(node.key, slot);
    keyOf.set(slot, node.key);
  }
  if (kept || size >= LARGE_BYTES) owners.set(slot, new WeakRef(node));
  setCached(value, true);
  evictOver(maxBytes);
}

export function drop(node: GraphNode): void {
  const slot = slotOf(node);
  if (slot !== NONE) remove(slot);
  node.entry = NONE;
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
