import { createHash } from 'node:crypto';
import { Delayed, argOf, arityOf, graphMark, isDelayed, setGraphMark } from '../task/delayed.js';
import type { ShippedFunction } from '../task/ship.js';
import { serialize } from '../serialize/index.js';
import { isProxy } from '../proxy/index.js';
import { GraphError } from './errors.js';
import { currentEpoch, drop, isCached, lastChange, stamp } from './cache.js';

/** Where a node's dependencies sit among its arguments (shared by every node of one pattern). */
export interface ArgLayout {
  /**
   * `depAt[j]` is the index in `deps` of top-level argument `j`'s value, or
   * -1 for a value given as it is. Undefined when dependencies also sit
   * deeper, in arrays or objects.
   */
  readonly depAt: readonly number[] | undefined;
  /**
   * The argument holding the node's only dependency, when the others are
   * plain values (no arrays or objects that could hold it again): it can
   * then run right after that dependency, in the same batch. Else -1.
   */
  readonly chainArg: number;
  /** The node runs in the calling thread (`where: 'caller'`). */
  readonly caller: boolean;
}

const NO_LAYOUT: ArgLayout = Object.freeze({ depAt: undefined, chainArg: -1, caller: false });
const CALLER_LEAF: ArgLayout = Object.freeze({ depAt: undefined, chainArg: -1, caller: true });

/**
 * One call in a task graph: a `Delayed` (or, for pure calls, every equal
 * one) and the nodes it depends on. Kept small: a compute holds every node
 * it needs, and each byte is copied by every collection while it runs.
 */
export class GraphNode {
  readonly delayed: Delayed;
  /** Distinct nodes among the arguments, in order of first use. */
  readonly deps: readonly GraphNode[];
  readonly layout: ArgLayout;
  /** Computes this node is running in now. */
  running = 0;
  /** The slot of its kept result and that slot's generation (graph/cache.ts); -1: none. */
  entry = -1;
  entryGen = 0;
  /** Its slot in the compute that last claimed it (graph/compute.ts). */
  slot = -1;
  #key: string | undefined;

  constructor(delayed: Delayed, deps: readonly GraphNode[], key: string | undefined, layout: ArgLayout) {
    this.delayed = delayed;
    this.deps = deps;
    this.#key = key;
    this.layout = layout;
  }

  /** Equal calls built separately are this one node (the `pure` option). */
  get pure(): boolean {
    return this.delayed.options.pure === true;
  }

  /** The function's name, for grouping large drawings. */
  get fnName(): string {
    return fnNameOf(this.delayed.shipped);
  }

  /** Names the node in errors and plans: a content key for pure nodes, else the function's name and a number. */
  get key(): string {
    // Made when first asked for: most nodes never are.
    return (this.#key ??= `${this.fnName}#${++counter}`);
  }

  /** The `name` option, else the function's name. */
  get label(): string {
    return this.delayed.options.name ?? this.fnName;
  }
}

/** Nodes' last failures, until they succeed or are invalidated (few: kept aside, not on every node). */
const failures = new WeakMap<GraphNode, { readonly error: unknown; readonly at: number }>();
let failed = 0;

/** Notes how `node` last ended: its error, or `undefined` for a success. */
export function noteOutcome(node: GraphNode, error: unknown): void {
  if (error !== undefined) {
    failures.set(node, { error, at: currentEpoch() });
    failed++;
  } else if (failed > 0) {
    failures.delete(node);
  }
}

/** Whether `node` failed last time, and nothing it depends on was invalidated since. */
export function hasFailed(node: GraphNode): boolean {
  if (failed === 0) return false;
  const f = failures.get(node);
  return f !== undefined && lastChange(node) <= f.at;
}

/** Drops `node`'s kept result, and marks every result computed from it out of date. */
export function invalidateNode(node: GraphNode): void {
  drop(node);
  failures.delete(node);
  stamp(node);
}

// A Delayed's node sits on the Delayed itself (a WeakMap entry per node cost
// more, and more again in every collection); a Delayed of another copy of
// skein, which has no slot for it, has its node kept here.
const foreignNodes = new WeakMap<Delayed, GraphNode | Pending>();

function markOf(d: Delayed): GraphNode | Pending | undefined {
  return (graphMark(d) as GraphNode | Pending | undefined) ?? foreignNodes.get(d);
}

function setMark(d: Delayed, mark: GraphNode | Pending): void {
  if (!setGraphMark(d, mark)) foreignNodes.set(d, mark);
}

/**
 * A Delayed's dependencies, as found among its arguments; made into its
 * node's `deps` in place once their nodes exist (one array, not two).
 */
type Found = Delayed[];
/** Whether the dependencies `dependenciesOf` just found sit inside arrays or plain objects too. */
let foundDeep = false;

/** The mark of a Delayed whose node waits for those of its dependencies (nodeOf). */
const PENDING = Object.freeze({ pending: true });
type Pending = typeof PENDING;

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

const NO_DEPS: Delayed[] = [];

/** The distinct `Delayed` calls among `d`'s arguments, at any depth of arrays and plain objects (see `foundDeep`). */
function dependenciesOf(d: Delayed): Found {
  foundDeep = false;
  if (!d.hasDependencies) return NO_DEPS;
  const n = arityOf(d);
  let containers = false;
  let count = 0;
  for (let j = 0; j < n; j++) {
    const a = argOf(d, j);
    if (typeof a !== 'object' || a === null) continue;
    // Store proxies travel as references: looking into one would resolve it.
    if (d.hasReferences && isProxy(a)) continue;
    if (isDelayed(a)) count++;
    else if (isContainer(a)) containers = true;
  }
  if (!containers) {
    // Made at its length (a growing array starts with room for 17).
    if (count === 1) {
      for (let j = 0; j < n; j++) {
        const a = argOf(d, j);
        if (typeof a === 'object' && a !== null && !(d.hasReferences && isProxy(a)) && isDelayed(a)) return [a];
      }
    }
    const found: Delayed[] = [];
    for (let j = 0; j < n; j++) {
      const a = argOf(d, j);
      if (typeof a === 'object' && a !== null && !(d.hasReferences && isProxy(a)) && isDelayed(a) && !found.includes(a)) found.push(a);
    }
    return found.length === 2 ? [found[0]!, found[1]!] : found.slice();
  }
  // Arrays and objects among the arguments: the whole walk, which finds each in order of first use.
  const found: Delayed[] = [];
  const seen = new Set<object>();
  let deep = false;
  const visit = (v: unknown, depth: number): void => {
    if (isProxy(v)) return;
    if (isDelayed(v)) {
      if (depth > 1) deep = true;
      if (!found.includes(v)) found.push(v);
      return;
    }
    if (!isContainer(v) || seen.has(v)) return;
    seen.add(v);
    for (const item of Array.isArray(v) ? v : Object.values(v)) if (typeof item === 'object' && item !== null) visit(item, depth + 1);
  };
  visit(d.args, 0);
  foundDeep = deep;
  return found.slice();
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

function contentKey(d: Delayed, fnName: string): string {
  const args = substitute(d.args, (dep) => ({ '\0skein.node': (markOf(dep) as GraphNode).key }));
  let bytes: Uint8Array;
  try {
    bytes = serialize([d.shipped.wire, args], { compression: 'none' });
  } catch (error) {
    throw new GraphError(`Cannot give pure node \`${d.options.name ?? fnName}\` a content key: its arguments cannot be serialized`, error);
  }
  return `${fnName}:${createHash('sha1').update(bytes).digest('hex').slice(0, 16)}`;
}

const fnNames = new WeakMap<ShippedFunction, string>();

function fnNameOf(shipped: ShippedFunction): string {
  let name = fnNames.get(shipped);
  if (name === undefined) {
    // An arrow function's name here is its source text.
    name = /^[\w$.#@-]+$/.test(shipped.name) ? shipped.name : 'anonymous';
    fnNames.set(shipped, name);
  }
  return name;
}

/** Layouts by pattern: most nodes share one of a few ([0], [0, 1], [-1, 0]...). */
const layouts = new Map<number, ArgLayout>();

/** Where `d`'s dependencies (`deps`, found deeper too when `deep`) sit among its arguments (see ArgLayout). */
function layoutOf(d: Delayed, deps: readonly Delayed[], deep: boolean): ArgLayout {
  const caller = d.options.where === 'caller';
  if (deep) return caller ? CALLER_LEAF : NO_LAYOUT;
  const n = arityOf(d);
  let plain = true;
  let found = 0;
  let chainArg = -1;
  // The pattern as a number, 4 bits per argument (its dep's index + 1), while it fits.
  let pattern = n <= 6 ? n : -1;
  for (let j = 0; j < n; j++) {
    const a = argOf(d, j);
    let at = -1;
    if (typeof a === 'object' && a !== null && !(d.hasReferences && isProxy(a))) {
      if (isDelayed(a)) {
        at = deps.indexOf(a);
        if (at === 0) chainArg = j;
        found++;
      } else if (!ArrayBuffer.isView(a)) {
        // An array or object may hold this node's input again, deeper: no chain.
        plain = false;
      }
    }
    if (pattern >= 0) pattern = at + 1 < 15 ? pattern * 16 + at + 1 : -1;
  }
  if (!(deps.length === 1 && found === 1 && plain)) chainArg = -1;
  // The chain and caller flags complete the pattern.
  if (pattern >= 0) pattern = pattern * 4 + (chainArg >= 0 ? 2 : 0) + (caller ? 1 : 0);
  let layout = pattern < 0 ? undefined : layouts.get(pattern);
  if (layout !== undefined) return layout;
  const depAt: number[] = [];
  for (let j = 0; j < n; j++) {
    const a = argOf(d, j);
    depAt.push(typeof a === 'object' && a !== null && !(d.hasReferences && isProxy(a)) && isDelayed(a) ? deps.indexOf(a) : -1);
  }
  layout = Object.freeze({ depAt: Object.freeze(depAt), chainArg, caller });
  if (pattern >= 0) layouts.set(pattern, layout);
  return layout;
}

function makeNode(d: Delayed, found: Found, deep: boolean): GraphNode {
  let key: string | undefined;
  if (d.options.pure === true) {
    key = contentKey(d, fnNameOf(d.shipped));
    const existing = pureNodes.get(key)?.deref();
    if (existing !== undefined) return existing;
  }
  const leaf = d.options.where === 'caller' ? CALLER_LEAF : NO_LAYOUT;
  const layout = found.length === 0 ? leaf : layoutOf(d, found, deep);
  // The calls found become their nodes, in the same array.
  const deps = found as unknown as GraphNode[];
  for (let k = 0; k < found.length; k++) deps[k] = markOf(found[k]!) as GraphNode;
  const node = new GraphNode(d, deps, key, layout);
  if (key !== undefined) {
    pureNodes.set(key, new WeakRef(node));
    forget.register(node, key);
  }
  return node;
}

/** The node of `root`, building those of its dependencies first (iteratively: chains may be long). */
export function nodeOf(root: Delayed): GraphNode {
  const existing = markOf(root);
  if (existing instanceof GraphNode) return existing;
  // Calls waiting for their dependencies' nodes, with what they depend on once found.
  const stack: Delayed[] = [root];
  const found: (Found | undefined)[] = [undefined];
  const deepAt: boolean[] = [false];
  while (stack.length > 0) {
    const top = stack.length - 1;
    const d = stack[top]!;
    const mark = markOf(d);
    if (mark instanceof GraphNode) {
      stack.pop();
      found.pop();
      deepAt.pop();
      continue;
    }
    // A call seen before is pending here, with its dependencies found; one pending
    // further down was pushed again by one of its own dependencies (a cycle, caught below).
    const again = mark === PENDING ? found[top] : undefined;
    let deps: Found;
    let deep: boolean;
    if (again !== undefined) {
      deps = again;
      deep = deepAt[top]!;
    } else {
      deps = dependenciesOf(d);
      deep = foundDeep;
    }
    let missing = false;
    for (let i = deps.length - 1; i >= 0; i--) {
      const dep = deps[i]!;
      const m = markOf(dep);
      if (m instanceof GraphNode) continue;
      // Everything above a pending call on the stack is what it depends on: meeting it again is a cycle.
      if (m !== undefined || again !== undefined || mark === PENDING) {
        throw new GraphError(`The arguments of \`${d.options.name ?? d.name}\` lead back to itself: a task graph cannot have cycles`);
      }
      stack.push(dep);
      found.push(undefined);
      deepAt.push(false);
      missing = true;
    }
    if (missing) {
      setMark(d, PENDING);
      found[top] = deps;
      deepAt[top] = deep;
      continue;
    }
    stack.pop();
    found.pop();
    deepAt.pop();
    setMark(d, makeNode(d, deps, deep));
  }
  return markOf(root) as GraphNode;
}

/** Every node `roots` depend on, dependencies before dependents; `stopAtCached` leaves out the ancestors of kept results. */
export function ancestors(roots: readonly GraphNode[], stopAtCached: boolean): GraphNode[] {
  const order: GraphNode[] = [];
  const seen = new Set<GraphNode>();
  const nodes: GraphNode[] = [];
  const next: number[] = [];
  for (const root of roots) {
    if (seen.has(root)) continue;
    seen.add(root);
    nodes.push(root);
    next.push(0);
    while (nodes.length > 0) {
      const top = nodes.length - 1;
      const node = nodes[top]!;
      const deps = stopAtCached && next[top] === 0 && isCached(node) ? (NO_DEPS as unknown as GraphNode[]) : node.deps;
      const i = next[top]!;
      if (i < deps.length) {
        next[top] = i + 1;
        const dep = deps[i] as GraphNode;
        if (!seen.has(dep)) {
          seen.add(dep);
          nodes.push(dep);
          next.push(0);
        }
      } else {
        nodes.pop();
        next.pop();
        order.push(node);
      }
    }
  }
  return order;
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
  for (let q = 0; q < queue.length; q++) {
    const n = queue[q]!;
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
