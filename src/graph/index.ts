import { Delayed } from '../task/delayed.js';
import { compute, type ComputeOptions } from './compute.js';
import { isCached } from './cache.js';
import { ancestors, invalidateNode, nodeOf } from './graph.js';
import { toDot, toMermaid, toSVG, type DrawOptions } from './draw.js';

export { compute, type ComputeOptions, type ComputeResults, type SettledResults } from './compute.js';
export { configureGraphCache, graphCacheStats, clearGraphCache, type GraphCacheOptions } from './cache.js';
export { DependencyFailedError, GraphError, type NodeInfo } from './errors.js';
export { STATE_COLORS, type DrawOptions, type NodeState } from './draw.js';

/** A node a compute would run, as `plan()` lists it (`lazy`'s `dump_cf()`). */
export interface PlannedNode {
  readonly name: string;
  readonly key: string;
  /** Keys of the nodes it depends on. */
  readonly dependencies: readonly string[];
}

/** The nodes computing `roots` would run now, dependencies first: kept results and what only they need are left out. */
export function plan(...roots: Delayed[]): PlannedNode[] {
  return ancestors(roots.map(nodeOf), true)
    .filter((n) => !isCached(n))
    .map((n) => ({ name: n.label, key: n.key, dependencies: n.deps.map((d) => d.key) }));
}

/** Drops the kept results of `d` and of every node that depends on it. */
export function invalidate(d: Delayed): void {
  invalidateNode(nodeOf(d));
}

// The methods live here, not in task/: the graph sits above the task layer and task/ must not import it.
declare module '../task/delayed.js' {
  interface Delayed<R> {
    /** Computes this call and what it depends on (see `compute`). */
    compute(options?: ComputeOptions & { errors?: 'raise' }): Promise<R>;
    compute(options: ComputeOptions & { errors: 'settle' }): Promise<PromiseSettledResult<R>>;
    /** The nodes `compute()` would run now. */
    plan(): PlannedNode[];
    /** Drops this node's kept result and its dependents'. */
    invalidate(): void;
    /** The graph in Graphviz DOT, coloured by state. */
    toDot(options?: DrawOptions): string;
    /** The graph as a Mermaid flowchart, coloured by state. */
    toMermaid(options?: DrawOptions): string;
    /** The graph rendered to SVG. */
    toSVG(options?: DrawOptions): Promise<string>;
  }
}

const methods: ThisType<Delayed> & Record<string, unknown> = {
  async compute(this: Delayed, options: ComputeOptions = {}) {
    const [out] = await compute(this, options);
    return out;
  },
  plan(this: Delayed) {
    return plan(this);
  },
  invalidate(this: Delayed) {
    invalidate(this);
  },
  toDot(this: Delayed, options?: DrawOptions) {
    return toDot([this], options);
  },
  toMermaid(this: Delayed, options?: DrawOptions) {
    return toMermaid([this], options);
  },
  toSVG(this: Delayed, options?: DrawOptions) {
    return toSVG([this], options);
  },
};
for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Delayed.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
