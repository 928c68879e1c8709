import { createHash } from 'node:crypto';
import { Delayed, isDelayed } from '../task/delayed.js';
import { serialize } from '../serialize/index.js';
import { isProxy } from '../proxy/index.js';
import { GraphError } from './errors.js';
import { isCached } from './cache.js';

/** One call in a task graph: a `Delayed` (or, for pure calls, every equal one) and the nodes it depends on. */
export interface GraphNode {
  readonly key: string;
  /** The `name` option, else the function's name. */
  readonly label: string;
  /** The function's name, for grouping large drawings. */
  readonly fnName: string;
  readonly delayed: Delayed;
  /** Distinct nodes among the arguments, in order of first use. */
  readonly deps: readonly GraphNode[];
  /** Held weakly: a long-lived input must not keep every call ever made on it alive. */
  readonly dependents: Set<WeakRef<GraphNode>>;
  /** Computes this node is running in now. */
  running: number;
  /** The last failure, until the node is invalidated or succeeds. */
  error: unknown;
}

const nodes = new WeakMap<Delayed, GraphNode>();
// Equal pure calls built separately share one node while any of them lives.
const pureNodes = new Map<string, WeakRef<GraphNode>>();
const forget = new FinalizationRegistry<string>((key) => {
  if (pureNodes.get(key)?.deref() === undefined) pureNodes.delete(key);
});
let counter = 0;

function isContainer(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  if (isProxy(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return Array.isArray(v) || proto === Object.prototype || proto === null;
}

/** The distinct `Delayed` calls among `d`'s arguments, at any depth of arrays and plain objects. */
function dependenciesOf(d: Delayed): Delayed[] {
  if (!d.hasDependencies) return [];
  const found = new Set<Delayed>();
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    // Store proxies travel as references: looking into one would resolve it.
    if (isProxy(v)) return;
    if (isDelayed(v)) {
      found.add(v);
      return;
    }
    if (!isContainer(v) || seen.has(v)) return;
    seen.add(v);
    for (const item of Array.isArray(v) ? v : Object.values(v)) if (typeof item === 'object' && item !== null) visit(item);
  };
  visit(d.args);
  return [...found];
}

/**
 * `args` with every `Delayed` replaced by `valueOf(it)`; containers without
 * one are kept as they are (not copied).
 */
export function substitute(args: readonly unknown[], valueOf: (d: Delayed) => unknown): unknown[] {
  const done = new Map<object, unknown>();
  const visit = (v: unknown): unknown => {
    if (isProxy(v)) return v;
    if (isDelayed(v)) return valueOf(v);
    if (!isContainer(v)) return v;
    const prior = done.get(v);
    if (prior !== undefined) return prior;
    done.set(v, v);
    let changed = false;
    let out: unknown;
    if (Array.isArray(v)) {
      const items = v.map((item) => {
        const next = visit(item);
        if (next !== item) changed = true;
        return next;
      });
      out = changed ? items : v;
    } else {
      const entries = Object.entries(v).map(([k, item]) => {
        const next = visit(item);
        if (next !== item) changed = true;
        return [k, next] as const;
      });
      out = changed ? Object.assign(Object.getPrototypeOf(v) === null ? Object.create(null) : {}, Object.fromEntries(entries)) : v;
    }
    done.set(v, out);
    return out;
  };
  return visit(args) as unknown[];
}

function contentKey(d: Delayed, deps: readonly GraphNode[], fnName: string): string {
  const args = substitute(d.args, (dep) => ({ '\0skein.node': nodes.get(dep)!.key }));
  let bytes: Uint8Array;
  try {
    bytes = serialize([d.shipped.wire, args], { compression: 'none' });
  } catch (error) {
    throw new GraphError(`Cannot give pure node \`${d.options.name ?? fnName}\` a content key: its arguments cannot be serialized`, error);
  }
  void deps;
  return `${fnName || 'anonymous'}:${createHash('sha1').update(bytes).digest('hex').slice(0, 16)}`;
}

function makeNode(d: Delayed, deps: GraphNode[]): GraphNode {
  // An arrow function's name here is its source text.
  const fnName = /^[\w$.#@-]+$/.test(d.shipped.name) ? d.shipped.name : 'anonymous';
  const label = d.options.name ?? fnName;
  let key: string;
  if (d.options.pure === true) {
    key = contentKey(d, deps, fnName);
    const existing = pureNodes.get(key)?.deref();
    if (existing !== undefined) return existing;
  } else {
    key = `${fnName}#${++counter}`;
  }
  const node: GraphNode = { key, label, fnName, delayed: d, deps, dependents: new Set(), running: 0, error: undefined };
  const ref = new WeakRef(node);
  for (const dep of deps) dep.dependents.add(ref);
  if (d.options.pure === true) {
    pureNodes.set(key, ref);
    forget.register(node, key);
  }
  return node;
}

/** The node of `root`, building those of its dependencies first (iteratively: chains may be long). */
export function nodeOf(root: Delayed): GraphNode {
  const existing = nodes.get(root);
  if (existing !== undefined) return existing;
  const stack: Delayed[] = [root];
  const pending = new Map<Delayed, Delayed[]>();
  while (stack.length > 0) {
    const d = stack[stack.length - 1]!;
    if (nodes.has(d)) {
      stack.pop();
      continue;
    }
    let deps = pending.get(d);
    if (deps === undefined) {
      deps = dependenciesOf(d);
      pending.set(d, deps);
      const missing = deps.filter((x) => !nodes.has(x));
      if (missing.length > 0) {
        stack.push(...missing.reverse());
        continue;
      }
    } else if (deps.some((x) => !nodes.has(x))) {
      throw new GraphError(`The arguments of \`${d.options.name ?? d.name}\` lead back to itself: a task graph cannot have cycles`);
    }
    stack.pop();
    pending.delete(d);
    nodes.set(d, makeNode(d, deps.map((x) => nodes.get(x)!)));
  }
  return nodes.get(root)!;
}

/** Every node `roots` depend on, dependencies before dependents; `stopAtCached` leaves out the ancestors of kept results. */
export function ancestors(roots: readonly GraphNode[], stopAtCached: boolean): GraphNode[] {
  const order: GraphNode[] = [];
  const seen = new Set<GraphNode>();
  const stack: [GraphNode, number][] = [];
  for (const root of roots) {
    if (seen.has(root)) continue;
    seen.add(root);
    stack.push([root, 0]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [node, i] = top;
      const deps = stopAtCached && isCached(node.key) ? [] : node.deps;
      if (i < deps.length) {
        top[1]++;
        const dep = deps[i]!;
        if (!seen.has(dep)) {
          seen.add(dep);
          stack.push([dep, 0]);
        }
      } else {
        stack.pop();
        order.push(node);
      }
    }
  }
  return order;
}

/** Every node that depends on `node`, itself included. */
export function descendants(node: GraphNode): GraphNode[] {
  const out: GraphNode[] = [];
  const seen = new Set<GraphNode>([node]);
  const queue = [node];
  while (queue.length > 0) {
    const n = queue.shift()!;
    out.push(n);
    for (const ref of n.dependents) {
      const d = ref.deref();
      if (d === undefined) n.dependents.delete(ref);
      else if (!seen.has(d)) {
        seen.add(d);
        queue.push(d);
      }
    }
  }
  return out;
}

/** Labels along the dependency edges from one of `roots` down to `target` (shortest). */
export function pathTo(roots: readonly GraphNode[], target: GraphNode): string[] {
  const parent = new Map<GraphNode, GraphNode | undefined>();
  const queue: GraphNode[] = [];
  for (const r of roots) {
    if (!parent.has(r)) {
      parent.set(r, undefined);
      queue.push(r);
    }
  }
  while (queue.length > 0) {
    const n = queue.shift()!;
    if (n === target) break;
    for (const d of n.deps) {
      if (!parent.has(d)) {
        parent.set(d, n);
        queue.push(d);
      }
    }
  }
  const path: string[] = [];
  for (let n: GraphNode | undefined = target; n !== undefined; n = parent.get(n)) path.unshift(n.label);
  return path;
}
