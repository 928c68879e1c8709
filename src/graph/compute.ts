import { Delayed, isDelayed, type DelayedResult } from '../task/delayed.js';
import { Parallel, openFeed, type Feed } from '../executor/parallel.js';
import { CANCEL_UNSTARTED } from '../backends/backend.js';
import type { ProgressSink } from '../executor/progress.js';
import { Progress } from '../executor/progress.js';
import type { ProgressCallback } from '../executor/options.js';
import { describeValue } from '../core/errors.js';
import { checkKnownOptions } from '../core/options.js';
import { isProxy } from '../proxy/index.js';
import { cached, keep } from './cache.js';
import { fetchKept, hold, isKept, letGo } from './kept.js';
import { isSpent } from '../store/travel.js';
import { ancestors, nodeOf, pathTo, substitute, type GraphNode } from './graph.js';
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
 * Outcomes travel from a worker gathered, at most this late, rather than a
 * message per node; a worker that dies loses about this much finished work
 * at most, which runs again.
 */
const GATHER_MS = 1;

/** Ready nodes, highest first (the longest path of nodes still to run after them). */
class ReadyQueue {
  readonly #buckets: GraphNode[][] = [];
  readonly #height = new Map<GraphNode, number>();
  #top = -1;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  heightOf(node: GraphNode): number {
    return this.#height.get(node) ?? 0;
  }

  setHeight(node: GraphNode, height: number): void {
    this.#height.set(node, height);
  }

  push(node: GraphNode): void {
    const h = this.heightOf(node);
    (this.#buckets[h] ??= []).push(node);
    if (h > this.#top) this.#top = h;
    this.#size++;
  }

  take(n: number): GraphNode[] {
    const out: GraphNode[] = [];
    while (out.length < n && this.#size > 0) {
      while (this.#top >= 0 && (this.#buckets[this.#top]?.length ?? 0) === 0) this.#top--;
      const bucket = this.#buckets[this.#top]!;
      const k = Math.min(n - out.length, bucket.length);
      out.push(...bucket.splice(bucket.length - k, k));
      this.#size -= k;
    }
    return out;
  }

  /** Removes and returns the ready nodes `pick` chooses. */
  takeWhere(pick: (node: GraphNode) => boolean): GraphNode[] {
    const out: GraphNode[] = [];
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

/** Runs the nodes `targets` need that are not kept, each as soon as its inputs are ready. */
async function run(targets: readonly GraphNode[], options: ComputeOptions): Promise<Outcome[]> {
  const settle = options.errors === 'settle';
  options.signal?.throwIfAborted();
  const values = new Map<GraphNode, unknown>();
  const failed = new Map<GraphNode, unknown>();
  const toRun = new Set<GraphNode>();
  for (const node of ancestors(targets, true)) {
    const hit = cached(node.key);
    // Pinned here, so an eviction while this compute runs costs nothing.
    if (hit !== undefined) {
      values.set(node, hit.value);
      hold(hit.value);
    } else toRun.add(node);
  }
  const isTarget = new Set(targets);
  const waiting = new Map<GraphNode, number>();
  const consumers = new Map<GraphNode, GraphNode[]>();
  const refs = new Map<GraphNode, number>();
  const ready = new ReadyQueue();
  for (const node of toRun) {
    let n = 0;
    for (const dep of node.deps) {
      refs.set(dep, (refs.get(dep) ?? 0) + 1);
      if (toRun.has(dep)) {
        n++;
        let list = consumers.get(dep);
        if (list === undefined) consumers.set(dep, (list = []));
        list.push(node);
      }
    }
    waiting.set(node, n);
  }
  // Longest path to the end first (list scheduling): a node many others wait behind does not queue behind a leaf.
  const toRunInOrder = [...toRun];
  for (let i = toRunInOrder.length - 1; i >= 0; i--) {
    const node = toRunInOrder[i]!;
    let h = 0;
    for (const c of consumers.get(node) ?? []) h = Math.max(h, ready.heightOf(c) + 1);
    ready.setHeight(node, h);
  }
  for (const node of toRunInOrder) if (waiting.get(node) === 0) ready.push(node);
  const hasCallerNodes = toRunInOrder.some((n) => n.delayed.options.where === 'caller');
  const total = toRun.size;
  try {
    const outcomes = total === 0 ? targets.map((t): Outcome => ({ ok: true, value: values.get(t) })) : await schedule();
    // Results left in the workers' store come to the caller only when asked for.
    return await Promise.all(outcomes.map(async (o): Promise<Outcome> => (o.ok && isKept(o.value) ? { ok: true, value: await fetchKept(o.value) } : o)));
  } finally {
    for (const value of values.values()) letGo(value);
    values.clear();
  }

  function schedule(): Promise<Outcome[]> {

  const par = options.parallel ?? defaultParallel();
  const progress = new Progress({ verbose: options.verbose ?? 0, progress: options.progress ?? false, nJobs: par.nJobs, backendName: par.backendName });
  // Ready nodes go one per unit until their cost is known, then as many as
  // make a unit of about UNIT_MS: a message per node costs more than a quick node.
  let nodeMs = -1;
  const unitSize = (): number => (nodeMs < 0 ? 1 : Math.max(1, Math.min(MAX_UNIT, Math.floor(UNIT_MS / Math.max(nodeMs, 1e-4)))));
  const byId: GraphNode[] = [];
  let done = 0;
  let stopped = false;

  return new Promise<Outcome[]>((resolve, reject) => {
    let feed: Feed | undefined;
    // A failing node lets running ones finish (their results are kept); an abort stops them.
    const finish = (error?: { error: unknown; kill?: true }): void => {
      if (stopped) return;
      stopped = true;
      options.signal?.removeEventListener('abort', onAbort);
      progress.finish(done, total, error !== undefined || failed.size > 0);
      if (error !== undefined) feed?.dispatcher.stop(error.kill ? error.error : CANCEL_UNSTARTED, true);
      const ended = feed?.end(error === undefined) ?? Promise.resolve();
      ended.then(
        () => {
          if (error !== undefined) reject(error.error);
          else resolve(targets.map((t) => (failed.has(t) ? { ok: false, error: failed.get(t) } : { ok: true, value: values.get(t) })));
        },
        reject,
      );
    };
    const onAbort = (): void => finish({ error: options.signal!.reason, kill: true });

    /** A finished node's inputs are released once no pending node needs them. */
    const release = (node: GraphNode): void => {
      for (const dep of node.deps) {
        const left = (refs.get(dep) ?? 1) - 1;
        refs.set(dep, left);
        if (left === 0 && !isTarget.has(dep)) {
          letGo(values.get(dep));
          values.delete(dep);
        }
      }
    };
    /** Settle mode: everything downstream of a failure in this compute is reported, not run. */
    const skipDependents = (node: GraphNode, error: unknown): void => {
      const stack = [...(consumers.get(node) ?? [])];
      while (stack.length > 0) {
        const n = stack.pop()!;
        if (failed.has(n)) continue;
        failed.set(n, new DependencyFailedError(info(n, targets), info(node, targets), error));
        done++;
        release(n);
        stack.push(...(consumers.get(n) ?? []));
      }
    };
    const report = (id: number, outcome: Outcome): void => {
      const node = byId[id]!;
      node.running--;
      if (outcome.ok) {
        node.error = undefined;
        // A large link of a chain was read in the worker and not sent: nothing to hold or keep.
        if (!isSpent(outcome.value)) {
          // Held before the cache sees it: a result too large to cache must outlive this compute's use of it.
          if (!stopped) hold(outcome.value);
          keep(node.key, outcome.value);
        }
      } else {
        node.error = outcome.error;
      }
      // A chained node whose input failed: reported already, as not run.
      if (stopped || failed.has(node)) return;
      done++;
      progress.update(done, total);
      if (outcome.ok) {
        values.set(node, outcome.value);
        release(node);
        for (const next of consumers.get(node) ?? []) {
          const left = waiting.get(next)! - 1;
          waiting.set(next, left);
          if (left === 0 && !failed.has(next) && !fused.has(next)) ready.push(next);
        }
      } else {
        const error = mark(outcome.error, info(node, targets));
        if (!settle) {
          finish({ error });
          return;
        }
        failed.set(node, error);
        release(node);
        skipDependents(node, error);
      }
    };
    /** Nodes sent in a batch behind their only input (a chain): never ready on their own. */
    const fused = new Set<GraphNode>();
    /**
     * The node that takes `node`'s result, as a top-level argument, and
     * nothing else from the graph: it can run right after `node` in the same
     * batch. Other arguments must be plain values (no containers that could
     * hold `node` again deeper down).
     */
    const chained = (node: GraphNode): { next: GraphNode; argument: number } | undefined => {
      const cs = consumers.get(node);
      if (cs === undefined || cs.length !== 1) return undefined;
      const next = cs[0]!;
      if (next.deps.length !== 1 || waiting.get(next) !== 1 || next.delayed.options.where === 'caller' || failed.has(next)) return undefined;
      const args = next.delayed.args;
      let argument = -1;
      for (let j = 0; j < args.length; j++) {
        const a = args[j];
        // A store proxy is a plain value here; touching it any other way would resolve it.
        if (isProxy(a)) continue;
        if (isDelayed(a)) {
          if (argument >= 0 || nodeOf(a) !== node) return undefined;
          argument = j;
        } else if (typeof a === 'object' && a !== null && !ArrayBuffer.isView(a)) {
          return undefined;
        }
      }
      return argument >= 0 ? { next, argument } : undefined;
    };
    const call = (node: GraphNode): Delayed => {
      const d = node.delayed;
      if (!d.hasDependencies) return new Delayed(d.shipped, d.args, d.hasReferences);
      // A result left in the store goes on as its reference: the next worker reads it there.
      let kept = false;
      const args = substitute(d.args, (dep) => {
        const value = values.get(nodeOf(dep));
        kept ||= isKept(value);
        return value;
      });
      return new Delayed(d.shipped, args, d.hasReferences || kept);
    };
    /** A `where: 'caller'` node: its inputs fetched here, its function called here. */
    const runHere = (node: GraphNode): void => {
      node.running++;
      const id = byId.push(node) - 1;
      const d = node.delayed;
      const inputs = async (): Promise<unknown[]> => {
        if (!d.hasDependencies) return d.args as unknown[];
        const here = new Map<GraphNode, unknown>();
        for (const dep of node.deps) {
          const value = values.get(dep);
          here.set(dep, isKept(value) ? await fetchKept(value) : value);
        }
        return substitute(d.args, (dep) => here.get(nodeOf(dep)));
      };
      inputs()
        .then((args) => d.shipped.local(...args))
        .then(
          (value) => report(id, { ok: true, value }),
          (error: unknown) => report(id, { ok: false, error }),
        )
        .finally(pump);
    };
    const pump = (): void => {
      if (stopped) return;
      if (done === total) {
        finish();
        return;
      }
      const d = feed!.dispatcher;
      if (hasCallerNodes) for (const node of ready.takeWhere((n) => n.delayed.options.where === 'caller')) runHere(node);
      // Long nodes: one unit per worker, so a node that becomes ready queues behind none; quick ones: two, to hide the round trip.
      const inFlight = nodeMs > 1 ? Math.max(1, par.nJobs) : limit;
      while (d.hasRoom && d.pending < inFlight && ready.size > 0) {
        const free = Math.max(1, inFlight - d.pending);
        const size = Math.max(1, Math.min(unitSize(), Math.ceil(ready.size / free)));
        const nodes = ready.take(size);
        const ids: number[] = [];
        const tasks: Delayed[] = [];
        const links: [number, number, number][] = [];
        const spent: number[] = [];
        const add = (node: GraphNode): number => {
          node.running++;
          ids.push(byId.length);
          byId.push(node);
          return tasks.push(call(node)) - 1;
        };
        for (const node of nodes) {
          let from = add(node);
          if (!feed!.fuse) continue;
          // A chain goes whole: each link runs in the same worker, right after
          // its input, instead of a round trip through this thread per link.
          for (let cur = node, link = chained(cur); link !== undefined && tasks.length < MAX_CHAIN; cur = link.next, link = chained(cur)) {
            fused.add(link.next);
            const at = add(link.next);
            links.push([at, link.argument, from]);
            // Read by the next link only: a large value stays in the worker's batch, not kept for later computes.
            if (!isTarget.has(cur)) spent.push(from);
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
        onUnitDone: (size, durationMs) => {
          const perNode = durationMs / Math.max(1, size);
          nodeMs = nodeMs < 0 ? perNode : 0.7 * nodeMs + 0.3 * perNode;
        },
        // A worker died with these: they run again (a chain's links after the one that killed it are reported as not run already).
        onLost: (ids) => {
          for (const id of ids) {
            const node = byId[id]!;
            node.running--;
            if (stopped || failed.has(node)) continue;
            fused.delete(node);
            if (waiting.get(node) === 0) ready.push(node);
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
