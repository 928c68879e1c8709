import { Delayed, isDelayed, type DelayedResult } from '../task/delayed.js';
import { Parallel } from '../executor/parallel.js';
import { Progress } from '../executor/progress.js';
import type { ProgressCallback } from '../executor/options.js';
import { describeValue } from '../core/errors.js';
import { cached, keep } from './cache.js';
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

/** A node whose inputs are known: the call to run, its dependency values in place. */
export interface ReadyCall {
  readonly node: GraphNode;
  readonly task: Delayed;
}

/**
 * The one step that runs nodes: hands `calls` to the executor and reports
 * each outcome as it lands, so no call waits for another. One run per call
 * until the dispatcher keyed by id (issue 10) can take them one by one.
 */
export function dispatchReady(par: Parallel<any>, calls: readonly ReadyCall[], report: (call: ReadyCall, outcome: Outcome) => void): void {
  const settle = par.errorMode === 'settle';
  for (const call of calls) {
    par.run([call.task]).then(
      (results) => {
        const r = results[0] as unknown;
        if (!settle) report(call, { ok: true, value: r });
        else {
          const s = r as PromiseSettledResult<unknown>;
          report(call, s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: s.reason });
        }
      },
      (error: unknown) => report(call, { ok: false, error }),
    );
  }
}

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

function checkOptions(options: ComputeOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
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
    if (hit !== undefined) values.set(node, hit.value);
    else toRun.add(node);
  }
  const isTarget = new Set(targets);
  const waiting = new Map<GraphNode, number>();
  const consumers = new Map<GraphNode, GraphNode[]>();
  const refs = new Map<GraphNode, number>();
  const ready: GraphNode[] = [];
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
    if (n === 0) ready.push(node);
  }
  const total = toRun.size;
  if (total === 0) return targets.map((t) => ({ ok: true, value: values.get(t) }));

  const par = options.parallel ?? defaultParallel();
  const limit = Math.max(1, par.nJobs);
  const progress = new Progress({ verbose: options.verbose ?? 0, progress: options.progress ?? false, nJobs: par.nJobs, backendName: par.backendName });
  let done = 0;
  let inflight = 0;
  let stopped = false;

  return new Promise<Outcome[]>((resolve, reject) => {
    const finish = (error?: { error: unknown }): void => {
      if (stopped) return;
      stopped = true;
      options.signal?.removeEventListener('abort', onAbort);
      progress.finish(done, total, error !== undefined || failed.size > 0);
      if (error !== undefined) reject(error.error);
      else resolve(targets.map((t) => (failed.has(t) ? { ok: false, error: failed.get(t) } : { ok: true, value: values.get(t) })));
    };
    const onAbort = (): void => finish({ error: options.signal!.reason });
    options.signal?.addEventListener('abort', onAbort, { once: true });

    /** A finished node's inputs are released once no pending node needs them. */
    const release = (node: GraphNode): void => {
      for (const dep of node.deps) {
        const left = (refs.get(dep) ?? 1) - 1;
        refs.set(dep, left);
        if (left === 0 && !isTarget.has(dep)) values.delete(dep);
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
    const report = (call: ReadyCall, outcome: Outcome): void => {
      const { node } = call;
      inflight--;
      node.running--;
      if (outcome.ok) {
        node.error = undefined;
        keep(node.key, outcome.value);
      } else {
        node.error = outcome.error;
      }
      if (stopped) return;
      done++;
      progress.update(done, total);
      if (outcome.ok) {
        values.set(node, outcome.value);
        release(node);
        for (const next of consumers.get(node) ?? []) {
          const left = waiting.get(next)! - 1;
          waiting.set(next, left);
          if (left === 0 && !failed.has(next)) ready.push(next);
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
      pump();
    };
    const pump = (): void => {
      if (stopped) return;
      if (done === total) {
        finish();
        return;
      }
      const calls: ReadyCall[] = [];
      while (inflight < limit && ready.length > 0) {
        const node = ready.shift()!;
        const d = node.delayed;
        const args = d.hasDependencies ? substitute(d.args, (dep) => values.get(nodeOf(dep))) : d.args;
        inflight++;
        node.running++;
        calls.push({ node, task: new Delayed(d.shipped, args, d.hasReferences) });
      }
      if (calls.length > 0) dispatchReady(par, calls, report);
    };
    pump();
  });
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
