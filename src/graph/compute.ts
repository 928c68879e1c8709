import { Delayed, argOf, arityOf, isDelayed, type DelayedResult } from '../task/delayed.js';
import { plainArgs, type ShippedFunction } from '../task/ship.js';
import { Parallel, openFeed, type Feed } from '../executor/parallel.js';
import { CANCEL_UNSTARTED } from '../backends/backend.js';
import type { ProgressSink } from '../executor/progress.js';
import { Progress } from '../executor/progress.js';
import type { ProgressCallback } from '../executor/options.js';
import { describeValue } from '../core/errors.js';
import { checkKnownOptions } from '../core/options.js';
import { MISS, keep, lookup } from './cache.js';
import { fetchKept, hold, isKept, letGo } from './kept.js';
import { isSpent } from '../store/travel.js';
import { nodeOf, noteOutcome, pathTo, substitute, type GraphNode } from './graph.js';
import { DependencyFailedError, type NodeInfo } from './errors.js';

/** Options of `compute()` and `d.compute()`. */
export interface ComputeOptions {
  /**
   * The executor nodes run on.
   * @default a process-wide `Parallel` started on first use
   * @example
   * await using par = new Parallel({ nJobs: 4 });
   * await compute(c, d, { parallel: par });
   */
  readonly parallel?: Parallel<any>;
  /**
   * `'raise'`: the first failing node rejects; `'settle'`: a settled record per requested output.
   * @default 'raise'
   * @example
   * const [rc, rd] = await compute(c, d, { errors: 'settle' }); // { status, value } or { status, reason }
   */
  readonly errors?: 'raise' | 'settle';
  /**
   * joblib-style progress lines on stderr, counting nodes.
   * @default 0
   * @example
   * await c.compute({ verbose: 1 });
   */
  readonly verbose?: number;
  /**
   * A progress bar on a TTY, or a callback, counting nodes.
   * @default false
   * @example
   * await c.compute({ progress: ({ done, total }) => console.log(`${done}/${total ?? '?'} nodes`) });
   */
  readonly progress?: boolean | ProgressCallback;
  /**
   * Aborting stops dispatching nodes and rejects with the signal's reason.
   * @default undefined
   * @example
   * await c.compute({ signal: AbortSignal.timeout(60_000) });
   */
  readonly signal?: AbortSignal;
}

export type ComputeResults<T extends readonly Delayed<unknown>[]> = { -readonly [K in keyof T]: DelayedResult<T[K]> };
export type SettledResults<T extends readonly Delayed<unknown>[]> = { -readonly [K in keyof T]: PromiseSettledResult<DelayedResult<T[K]>> };

let fallback: Parallel | undefined;

/** The executor used when none is given: started on first use, kept warm; its idle workers do not hold the process open. */
function defaultParallel(): Parallel {
  fallback ??= new Parallel();
  return fallback;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** Links of one chain sent as one batch, at most. */
const MAX_CHAIN = 4096;
/** Work per unit of ready nodes worth one message there and back, and the most nodes in one. */
const UNIT_MS = 2;
const MAX_UNIT = 1024;
/**
 * Work per unit of long nodes while more are ready than the workers can
 * take: each unit costs a round trip through this thread (about a
 * millisecond on a busy machine), and the last units may end this much apart.
 */
const GROUP_MS = 50;
/**
 * Outcomes travel from a worker gathered, at most this late, rather than a
 * message per node; a worker that dies loses about this much finished work
 * at most, which runs again.
 */
const GATHER_MS = 1;

// What a compute knows of each of its nodes, as bits by slot.
const RUN = 1;
const TARGET = 2;
const FAILED = 4;
/** Sent in a batch behind its only input (a chain): never ready on its own. */
const FUSED = 8;

const ID_BITS = 10;
const SLOT_BITS = 20;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Computes running now, by id: a node's `slot` names the compute that wrote it in its high bits. */
const live: (Slots | undefined)[] = [];
let nextId = 0;

/**
 * One compute's nodes, each given a slot: what the compute knows of a node
 * sits in arrays by slot rather than in maps by node. A node notes its slot
 * itself, with the compute's id (`slot`), unless another compute running at
 * the same time holds that note: then the slot is kept here.
 */
class Slots {
  readonly nodes: GraphNode[] = [];
  /** Each node's value once known (kept, or computed here), until no pending node needs it. */
  readonly values: unknown[] = [];
  readonly flags: number[] = [];
  readonly #others = new Map<GraphNode, number>();
  readonly #id: number;

  constructor() {
    let id = -1;
    for (let k = 0; k < 1 << ID_BITS && id < 0; k++) {
      const candidate = (nextId + k) & ((1 << ID_BITS) - 1);
      if (live[candidate] === undefined) id = candidate;
    }
    this.#id = id;
    if (id >= 0) {
      live[id] = this;
      nextId = id + 1;
    }
  }

  slotOf(node: GraphNode): number {
    const s = node.slot;
    // A note from an earlier compute of the same id names another node at that slot.
    if (s >> SLOT_BITS === this.#id && this.nodes[s & SLOT_MASK] === node) return s & SLOT_MASK;
    return this.#others.size === 0 ? -1 : (this.#others.get(node) ?? -1);
  }

  claim(node: GraphNode): number {
    const i = this.nodes.push(node) - 1;
    this.values.push(undefined);
    this.flags.push(0);
    const s = node.slot;
    const holder = s < 0 ? undefined : live[s >> SLOT_BITS];
    if (this.#id >= 0 && i <= SLOT_MASK && (holder === undefined || holder === this || holder.nodes[s & SLOT_MASK] !== node)) {
      node.slot = (this.#id << SLOT_BITS) | i;
    } else {
      this.#others.set(node, i);
    }
    return i;
  }

  release(): void {
    if (this.#id >= 0 && live[this.#id] === this) live[this.#id] = undefined;
  }
}

/** Ready nodes by slot, highest first (the longest path of nodes still to run after them). */
class ReadyQueue {
  readonly #buckets: number[][] = [];
  readonly #height: Int32Array;
  #top = -1;
  #size = 0;

  constructor(height: Int32Array) {
    this.#height = height;
  }

  get size(): number {
    return this.#size;
  }

  push(slot: number): void {
    const h = this.#height[slot]!;
    (this.#buckets[h] ??= []).push(slot);
    if (h > this.#top) this.#top = h;
    this.#size++;
  }

  take(n: number): number[] {
    const out: number[] = [];
    while (out.length < n && this.#size > 0) {
      while (this.#top >= 0 && (this.#buckets[this.#top]?.length ?? 0) === 0) this.#top--;
      const bucket = this.#buckets[this.#top]!;
      const k = Math.min(n - out.length, bucket.length);
      for (let j = 0; j < k; j++) out.push(bucket.pop()!);
      this.#size -= k;
    }
    return out;
  }

  /** The highest node and `n - 1` of the lowest (those with the most slack), highest first. */
  takeMostAndLeast(n: number): number[] {
    const out = this.take(1);
    for (let h = 0; h < this.#buckets.length && out.length < n; h++) {
      const bucket = this.#buckets[h];
      while (bucket !== undefined && bucket.length > 0 && out.length < n) {
        out.push(bucket.pop()!);
        this.#size--;
      }
    }
    return out;
  }

  /** Removes and returns the ready nodes `pick` chooses. */
  takeWhere(pick: (slot: number) => boolean): number[] {
    const out: number[] = [];
    if (this.#size === 0) return out;
    for (const bucket of this.#buckets) {
      if (bucket === undefined) continue;
      for (let i = bucket.length - 1; i >= 0; i--) {
        if (pick(bucket[i]!)) {
          out.push(bucket.splice(i, 1)[0]!);
          this.#size--;
        }
      }
    }
    return out;
  }
}

/** The graph counts nodes itself (skipped dependents included): the dispatcher reports nothing. */
const SILENT: ProgressSink = { update() {}, finish() {} };

function info(node: GraphNode, targets: readonly GraphNode[]): NodeInfo {
  return { name: node.label, key: node.key, path: pathTo(targets, node) };
}

/** Adds `.node` to a task's own error (and drops `.taskIndex`, which is about the run it was sent in). */
function mark(error: unknown, node: NodeInfo): unknown {
  if (typeof error === 'object' && error !== null && Object.isExtensible(error)) {
    delete (error as { taskIndex?: unknown }).taskIndex;
    Object.defineProperty(error, 'node', { value: node, enumerable: true, configurable: true, writable: true });
  }
  return error;
}

const COMPUTE_OPTIONS = ['parallel', 'errors', 'verbose', 'progress', 'signal'] as const;

function checkOptions(options: ComputeOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
  checkKnownOptions(options, COMPUTE_OPTIONS);
  if (options.errors !== undefined && options.errors !== 'raise' && options.errors !== 'settle') {
    throw new TypeError(`Expected \`errors\` to be 'raise' or 'settle', got ${describeValue(options.errors)}`);
  }
  if (options.parallel !== undefined && !(options.parallel instanceof Parallel)) {
    throw new TypeError(`Expected \`parallel\` to be a Parallel, got ${describeValue(options.parallel)}`);
  }
}

/** The call of a chained node whose only argument is its input, by function (see `linkedCall`). */
const linkCalls = new WeakMap<ShippedFunction, Delayed>();

let lastVariant: ShippedFunction | undefined;
let lastPlain: ShippedFunction | undefined;

/** A node's function as shipped for a call whose arguments are all primitives: nothing to encode. */
function plain(shipped: ShippedFunction): ShippedFunction {
  if (shipped !== lastVariant) {
    lastVariant = shipped;
    lastPlain = plainArgs(shipped);
  }
  return lastPlain!;
}

/** What a compute needs to know of its nodes before it starts, by slot (see `analyze`). */
interface Analysis {
  /** The slots of the nodes to run, dependencies first. */
  readonly order: number[];
  /** Each node's dependencies' slots: depList[depFirst[i]] to depList[depEnd[i]]. */
  readonly depList: number[];
  readonly depFirst: number[];
  readonly depEnd: number[];
  readonly hasCallerNodes: boolean;
  /** Inputs still to come, and pending readers of each value (it is let go after the last). */
  readonly waiting: Int32Array;
  readonly refs: Int32Array;
  /** Who reads each node's result, as one list cut by `first` (a node's readers are list[first[i]] to list[first[i + 1]]). */
  readonly first: Int32Array;
  readonly list: Int32Array;
  /** The longest path of nodes still to run after each. */
  readonly height: Int32Array;
}

/**
 * Claims the nodes the targets need, dependencies first, leaving out kept
 * results (pinned in `slots.values`) and what only they need; notes each
 * one's dependency slots as the walk leaves it, so that nothing after the
 * walk visits the nodes themselves again; then counts inputs and readers
 * and the longest path after each node. (A function of its own, with plain
 * loops: it runs once per compute, and is compiled sooner so.)
 */
function analyze(slots: Slots, targets: readonly GraphNode[]): Analysis {
  const { nodes, values, flags } = slots;
  const order: number[] = [];
  const depList: number[] = [];
  const depFirst: number[] = [];
  const depEnd: number[] = [];
  let hasCallerNodes = false;
  const stackNodes: GraphNode[] = [];
  const stackNext: number[] = [];
  const enter = (node: GraphNode): void => {
    const i = slots.claim(node);
    depFirst.push(0);
    depEnd.push(0);
    const hit = lookup(node);
    // Pinned here, so an eviction while this compute runs costs nothing.
    if (hit !== MISS) {
      values[i] = hit;
      hold(hit);
    } else {
      flags[i] = RUN;
      stackNodes.push(node);
      stackNext.push(0);
    }
  };
  for (let t = 0; t < targets.length; t++) {
    const target = targets[t]!;
    if (slots.slotOf(target) < 0) enter(target);
    while (stackNodes.length > 0) {
      const top = stackNodes.length - 1;
      const node = stackNodes[top]!;
      const { deps } = node;
      const k = stackNext[top]!;
      if (k < deps.length) {
        stackNext[top] = k + 1;
        const dep = deps[k]!;
        if (slots.slotOf(dep) < 0) enter(dep);
      } else {
        stackNodes.pop();
        stackNext.pop();
        const i = slots.slotOf(node);
        order.push(i);
        depFirst[i] = depList.length;
        for (let d = 0; d < deps.length; d++) depList.push(slots.slotOf(deps[d]!));
        depEnd[i] = depList.length;
        if (node.layout.caller) hasCallerNodes = true;
      }
    }
  }
  for (let t = 0; t < targets.length; t++) flags[slots.slotOf(targets[t]!)]! |= TARGET;
  const n = nodes.length;
  // One buffer for the counts (an allocation each cost more than filling them).
  const ints = new Int32Array(5 * n + 1 + depList.length);
  const waiting = ints.subarray(0, n);
  const refs = ints.subarray(n, 2 * n);
  const first = ints.subarray(2 * n, 3 * n + 1);
  const fill = ints.subarray(3 * n + 1, 4 * n + 1);
  const height = ints.subarray(4 * n + 1, 5 * n + 1);
  const list = ints.subarray(5 * n + 1);
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    for (let e = depFirst[i]!; e < depEnd[i]!; e++) {
      const j = depList[e]!;
      refs[j]!++;
      if (flags[j]! & RUN) {
        waiting[i]!++;
        first[j + 1]!++;
      }
    }
  }
  for (let i = 0; i < n; i++) {
    first[i + 1]! += first[i]!;
    fill[i] = first[i]!;
  }
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    for (let e = depFirst[i]!; e < depEnd[i]!; e++) {
      const j = depList[e]!;
      if (flags[j]! & RUN) list[fill[j]!++] = i;
    }
  }
  // Longest path to the end first (list scheduling): a node many others wait behind does not queue behind a leaf.
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    let h = 0;
    for (let e = first[i]!; e < first[i + 1]!; e++) h = Math.max(h, height[list[e]!]! + 1);
    height[i] = h;
  }
  return { order, depList, depFirst, depEnd, hasCallerNodes, waiting, refs, first, list, height };
}

/** Runs the nodes `targets` need that are not kept, each as soon as its inputs are ready. */
async function run(targets: readonly GraphNode[], options: ComputeOptions): Promise<Outcome[]> {
  options.signal?.throwIfAborted();
  const slots = new Slots();
  try {
    return await runIn(slots, targets, options);
  } finally {
    slots.release();
  }
}

async function runIn(slots: Slots, targets: readonly GraphNode[], options: ComputeOptions): Promise<Outcome[]> {
  const settle = options.errors === 'settle';
  const { nodes, values, flags } = slots;
  const { order, depList, depFirst, depEnd, hasCallerNodes, waiting, refs, first, list, height } = analyze(slots, targets);
  const n = nodes.length;
  const ready = new ReadyQueue(height);
  for (let k = 0; k < order.length; k++) if (waiting[order[k]!] === 0) ready.push(order[k]!);
  const total = order.length;
  const failures = new Map<number, unknown>();
  const outcomeOf = (target: GraphNode): Outcome => {
    const i = slots.slotOf(target);
    return flags[i]! & FAILED ? { ok: false, error: failures.get(i) } : { ok: true, value: values[i] };
  };
  try {
    const outcomes = total === 0 ? targets.map(outcomeOf) : await schedule();
    // Results left in the workers' store come to the caller only when asked for.
    return await Promise.all(outcomes.map(async (o): Promise<Outcome> => (o.ok && isKept(o.value) ? { ok: true, value: await fetchKept(o.value) } : o)));
  } finally {
    for (let i = 0; i < n; i++) {
      if (values[i] !== undefined) letGo(values[i]);
      values[i] = undefined;
    }
  }

  function schedule(): Promise<Outcome[]> {
  const par = options.parallel ?? defaultParallel();
  const progress = new Progress({ verbose: options.verbose ?? 0, progress: options.progress ?? false, nJobs: par.nJobs, backendName: par.backendName });
  // Ready nodes go one per unit until their cost is known, then as many as
  // make a unit of about UNIT_MS: a message per node costs more than a quick node.
  let nodeMs = -1;
  const unitSize = (): number => (nodeMs < 0 ? 1 : Math.max(1, Math.min(MAX_UNIT, Math.floor(UNIT_MS / Math.max(nodeMs, 1e-4)))));
  let done = 0;
  let shown = 0;
  let stopped = false;

  return new Promise<Outcome[]>((resolve, reject) => {
    let feed: Feed | undefined;
    // A failing node lets running ones finish (their results are kept); an abort stops them.
    const finish = (error?: { error: unknown; kill?: true }): void => {
      if (stopped) return;
      stopped = true;
      options.signal?.removeEventListener('abort', onAbort);
      progress.finish(done, total, error !== undefined || failures.size > 0);
      if (error !== undefined) feed?.dispatcher.stop(error.kill ? error.error : CANCEL_UNSTARTED, true);
      const ended = feed?.end(error === undefined) ?? Promise.resolve();
      ended.then(() => {
        if (error !== undefined) reject(error.error);
        else resolve(targets.map(outcomeOf));
      }, reject);
    };
    const onAbort = (): void => finish({ error: options.signal!.reason, kill: true });

    /** A finished node's inputs are released once no pending node needs them. */
    const release = (i: number): void => {
      for (let e = depFirst[i]!; e < depEnd[i]!; e++) {
        const j = depList[e]!;
        if (--refs[j]! === 0 && !(flags[j]! & TARGET)) {
          letGo(values[j]);
          values[j] = undefined;
        }
      }
    };
    /** Settle mode: everything downstream of a failure in this compute is reported, not run. */
    const skipDependents = (i: number, error: unknown): void => {
      const stack: number[] = [];
      for (let e = first[i]!; e < first[i + 1]!; e++) stack.push(list[e]!);
      while (stack.length > 0) {
        const c = stack.pop()!;
        if (flags[c]! & FAILED) continue;
        flags[c]! |= FAILED;
        failures.set(c, new DependencyFailedError(info(nodes[c]!, targets), info(nodes[i]!, targets), error));
        done++;
        release(c);
        for (let e = first[c]!; e < first[c + 1]!; e++) stack.push(list[e]!);
      }
    };
    const report = (i: number, outcome: Outcome): void => {
      if (outcome.ok) settled(i, true, outcome.value);
      else settled(i, false, outcome.error);
    };
    /** Node `i` ended: with its value when `ok`, else its error. */
    const settled = (i: number, ok: boolean, result: unknown): void => {
      const node = nodes[i]!;
      node.running--;
      if (ok) {
        noteOutcome(node, undefined);
        // A large link of a chain was read in the worker and not sent: nothing to hold or keep.
        if (!isSpent(result)) {
          // Held before the cache sees it: a result too large to cache must outlive this compute's use of it.
          if (!stopped) hold(result);
          keep(node, result);
        }
      } else {
        noteOutcome(node, result ?? null);
      }
      // A chained node whose input failed: reported already, as not run.
      if (stopped || flags[i]! & FAILED) return;
      done++;
      if (ok) {
        values[i] = result;
        release(i);
        for (let e = first[i]!; e < first[i + 1]!; e++) {
          const c = list[e]!;
          if (--waiting[c]! === 0 && !(flags[c]! & (FAILED | FUSED))) ready.push(c);
        }
      } else {
        const error = mark(result, info(node, targets));
        if (!settle) {
          finish({ error });
          return;
        }
        flags[i]! |= FAILED;
        failures.set(i, error);
        release(i);
        skipDependents(i, error);
      }
    };

    /**
     * The node that takes `i`'s result, as a top-level argument, and nothing
     * else from the graph: it can run right after `i` in the same batch.
     */
    const chained = (i: number): number => {
      if (first[i + 1]! - first[i]! !== 1) return -1;
      const c = list[first[i]!]!;
      const next = nodes[c]!;
      if (next.layout.chainArg < 0 || waiting[c] !== 1 || next.layout.caller || flags[c]! & FAILED) return -1;
      return c;
    };
    const call = (i: number): Delayed => {
      const node = nodes[i]!;
      const d = node.delayed;
      if (!d.hasDependencies) return d;
      const { depAt } = node.layout;
      if (depAt !== undefined) {
        const args: unknown[] = [];
        let primitive = true;
        let kept = false;
        for (let j = 0; j < depAt.length; j++) {
          const at = depAt[j]!;
          const value = at < 0 ? argOf(d, j) : values[depList[depFirst[i]! + at]!];
          if (typeof value === 'object' ? value !== null : typeof value === 'function') {
            primitive = false;
            // A result left in the store goes on as its reference: the next worker reads it there.
            if (at >= 0 && isKept(value)) kept = true;
          }
          args.push(value);
        }
        // Primitives only: nothing to encode or offload, and no walk to find that out.
        return primitive ? new Delayed(plain(d.shipped), args, false, false, undefined, 0) : new Delayed(d.shipped, args, d.hasReferences || kept);
      }
      let kept = false;
      const args = substitute(d.args, (dep) => {
        const value = values[slots.slotOf(nodeOf(dep))];
        kept ||= isKept(value);
        return value;
      });
      return new Delayed(d.shipped, args, d.hasReferences || kept);
    };
    /**
     * A chained node's call: its input comes from the link, in the worker.
     * One whose only argument is that input is the same call every time:
     * made once per function, not once per link.
     */
    const linkedCall = (i: number): Delayed => {
      const d = nodes[i]!.delayed;
      if (arityOf(d) !== 1) return call(i);
      let shared = linkCalls.get(d.shipped);
      if (shared === undefined) linkCalls.set(d.shipped, (shared = new Delayed(plain(d.shipped), [undefined], false, false, undefined, 0)));
      return shared;
    };
    /** A `where: 'caller'` node: its inputs fetched here, its function called here. */
    const runHere = (i: number): void => {
      const node = nodes[i]!;
      node.running++;
      const d = node.delayed;
      const inputs = async (): Promise<unknown[]> => {
        if (!d.hasDependencies) return d.args as unknown[];
        const here = new Map<GraphNode, unknown>();
        for (const dep of node.deps) {
          const value = values[slots.slotOf(dep)];
          here.set(dep, isKept(value) ? await fetchKept(value) : value);
        }
        return substitute(d.args, (dep) => here.get(nodeOf(dep)));
      };
      inputs()
        .then((args) => d.shipped.local(...args))
        .then(
          (value) => settled(i, true, value),
          (error: unknown) => settled(i, false, error),
        )
        .finally(pump);
    };
    const pump = (): void => {
      if (stopped) return;
      if (done !== shown) {
        // Once per batch of outcomes, not per node.
        shown = done;
        progress.update(done, total);
      }
      if (done === total) {
        finish();
        return;
      }
      const d = feed!.dispatcher;
      if (hasCallerNodes) for (const i of ready.takeWhere((c) => nodes[c]!.layout.caller)) runHere(i);
      // Long nodes: one unit per worker, so a node that becomes ready queues behind none; quick ones: two, to hide the round trip.
      const inFlight = nodeMs > 1 ? Math.max(1, par.nJobs) : limit;
      while (d.hasRoom && d.pending < inFlight && ready.size > 0) {
        const free = Math.max(1, inFlight - d.pending);
        // Long nodes with more ready than the free workers can take: the most
        // urgent one with a few of the least (GROUP_MS of work), each starting
        // as the one before ends rather than a round trip through this thread
        // later; outcomes still come back as each ends (gathered).
        const group = nodeMs > 1 && ready.size > 2 * free ? Math.min(Math.ceil(GROUP_MS / nodeMs), Math.floor(ready.size / free) - 1) : 1;
        const heads = group > 1 ? ready.takeMostAndLeast(group) : ready.take(Math.max(1, Math.min(unitSize(), Math.ceil(ready.size / free))));
        const ids: number[] = [];
        const tasks: Delayed[] = [];
        const links: number[] = [];
        const spent: number[] = [];
        const add = (i: number, linked = false): number => {
          nodes[i]!.running++;
          ids.push(i);
          return tasks.push(linked ? linkedCall(i) : call(i)) - 1;
        };
        for (let h = 0; h < heads.length; h++) {
          const head = heads[h]!;
          let from = add(head);
          if (!feed!.fuse) continue;
          // A chain goes whole: each link runs in the same worker, right after
          // its input, instead of a round trip through this thread per link.
          for (let cur = head, c = chained(cur); c >= 0 && tasks.length < MAX_CHAIN; cur = c, c = chained(cur)) {
            flags[c]! |= FUSED;
            const at = add(c, true);
            links.push(at, nodes[c]!.layout.chainArg, from);
            // Read by the next link only: a large value stays in the worker's batch, not kept for later computes.
            if (!(flags[cur]! & TARGET)) spent.push(from);
            from = at;
          }
        }
        d.submit(links.length > 0 ? { ids, tasks, keep: feed!.keep, links, spent, gatherMs: GATHER_MS } : { ids, tasks, keep: feed!.keep, gatherMs: GATHER_MS });
      }
    };

    const limit = 2 * Math.max(1, par.nJobs);
    try {
      feed = par[openFeed]({
        limit,
        progress: SILENT,
        total: () => total,
        emit: report,
        emitValue: (i, value) => settled(i, true, value),
        onUnitDone: (size, durationMs) => {
          const perNode = durationMs / Math.max(1, size);
          nodeMs = nodeMs < 0 ? perNode : 0.7 * nodeMs + 0.3 * perNode;
        },
        // A worker died with these: they run again (a chain's links after the one that killed it are reported as not run already).
        onLost: (ids) => {
          for (const i of ids) {
            nodes[i]!.running--;
            if (stopped || flags[i]! & FAILED) continue;
            flags[i]! &= ~FUSED;
            if (waiting[i] === 0) ready.push(i);
          }
        },
        onRoom: pump,
        onFail: (error) => finish({ error }),
      });
    } catch (error) {
      finish({ error });
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    pump();
  });
  }
}

function split(args: readonly unknown[]): { ds: Delayed[]; options: ComputeOptions } {
  let options: ComputeOptions = {};
  let ds = args;
  const last = args[args.length - 1];
  if (args.length > 0 && !isDelayed(last)) {
    options = last as ComputeOptions;
    ds = args.slice(0, -1);
    checkOptions(options);
  }
  ds.forEach((d, i) => {
    if (!isDelayed(d)) throw new TypeError(`Expected argument ${i} of compute() to be a delayed call such as delayed(fn)(...args), got ${describeValue(d)}`);
  });
  return { ds: ds as Delayed[], options };
}

/**
 * Computes delayed calls and the calls they depend on, in one pass: each
 * node runs once, as soon as its inputs are ready, and kept results are not
 * computed again.
 *
 * @example
 * const [c, d] = await compute(delayed(mul)(a, b), delayed(add)(a, b));
 */
export function compute<const T extends readonly Delayed<unknown>[]>(...args: [...T]): Promise<ComputeResults<T>>;
export function compute<const T extends readonly Delayed<unknown>[]>(...args: [...T, ComputeOptions & { errors?: 'raise' }]): Promise<ComputeResults<T>>;
export function compute<const T extends readonly Delayed<unknown>[]>(...args: [...T, ComputeOptions & { errors: 'settle' }]): Promise<SettledResults<T>>;
export function compute<const T extends readonly Delayed<unknown>[]>(...args: [...T, ComputeOptions]): Promise<ComputeResults<T> | SettledResults<T>>;
export async function compute(...args: unknown[]): Promise<unknown[]> {
  const { ds, options } = split(args);
  const targets = ds.map(nodeOf);
  const outcomes = await run(targets, options);
  if (options.errors === 'settle') {
    return outcomes.map((o) => (o.ok ? { status: 'fulfilled', value: o.value } : { status: 'rejected', reason: o.error }));
  }
  return outcomes.map((o) => (o as { value: unknown }).value);
}
