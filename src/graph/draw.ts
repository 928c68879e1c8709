import type { Delayed } from '../task/delayed.js';
import { isCached } from './cache.js';
import { ancestors, hasFailed, nodeOf, type GraphNode } from './graph.js';

/** A node's state as drawn, after `lazy.draw()`. */
export type NodeState = 'cached' | 'pending' | 'running' | 'failed';

/** Fill colours by state: kept result green, to run grey, running yellow, failed red. */
export const STATE_COLORS: Readonly<Record<NodeState, string>> = Object.freeze({
  cached: '#8fd694',
  pending: '#e0e0e0',
  running: '#ffd54f',
  failed: '#ef9a9a',
});

/** Options of `toDot()`, `toMermaid()` and `toSVG()`. */
export interface DrawOptions {
  /** Above this many nodes, nodes are grouped by function so the drawing stays readable. @default 300 */
  readonly maxNodes?: number;
}

export function stateOf(node: GraphNode): NodeState {
  if (node.running > 0) return 'running';
  if (isCached(node)) return 'cached';
  if (hasFailed(node)) return 'failed';
  return 'pending';
}

interface Shape {
  readonly nodes: readonly { id: string; label: string; state: NodeState; key: string }[];
  readonly edges: readonly { from: string; to: string; count: number }[];
}

// The state that matters most when a group mixes them.
const rank: Record<NodeState, number> = { failed: 3, running: 2, pending: 1, cached: 0 };

function shape(roots: readonly Delayed[], options: DrawOptions): Shape {
  const all = ancestors(roots.map(nodeOf), false);
  const max = options.maxNodes ?? 300;
  if (all.length <= max) {
    const id = new Map(all.map((n, i) => [n, `n${i}`]));
    return {
      nodes: all.map((n) => ({ id: id.get(n)!, label: n.label, state: stateOf(n), key: n.key })),
      edges: all.flatMap((n) => n.deps.map((d) => ({ from: id.get(d)!, to: id.get(n)!, count: 1 }))),
    };
  }
  const groups = new Map<string, { id: string; count: number; states: Map<NodeState, number> }>();
  for (const n of all) {
    let g = groups.get(n.fnName);
    if (g === undefined) groups.set(n.fnName, (g = { id: `g${groups.size}`, count: 0, states: new Map() }));
    g.count++;
    const s = stateOf(n);
    g.states.set(s, (g.states.get(s) ?? 0) + 1);
  }
  const edges = new Map<string, { from: string; to: string; count: number }>();
  for (const n of all) {
    for (const d of n.deps) {
      const from = groups.get(d.fnName)!.id;
      const to = groups.get(n.fnName)!.id;
      const e = edges.get(`${from}>${to}`);
      if (e) e.count++;
      else edges.set(`${from}>${to}`, { from, to, count: 1 });
    }
  }
  return {
    nodes: [...groups].map(([fn, g]) => {
      const states = [...g.states.keys()].sort((a, b) => rank[b] - rank[a]);
      const detail = [...g.states].map(([s, c]) => `${c} ${s}`).join(', ');
      return { id: g.id, label: `${fn} ×${g.count} (${detail})`, state: states[0]!, key: fn };
    }),
    edges: [...edges.values()],
  };
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** The graph of `roots` and everything they depend on, in Graphviz DOT, coloured by state. */
export function toDot(roots: readonly Delayed[], options: DrawOptions = {}): string {
  const { nodes, edges } = shape(roots, options);
  const lines = ['digraph skein {', '  rankdir=TB;', '  node [shape=box, style="rounded,filled", fontname="Helvetica"];'];
  for (const n of nodes) {
    lines.push(`  ${n.id} [label=${dotString(n.label)}, tooltip=${dotString(`${n.key} (${n.state})`)}, fillcolor="${STATE_COLORS[n.state]}", class="${n.state}"];`);
  }
  for (const e of edges) lines.push(`  ${e.from} -> ${e.to}${e.count > 1 ? ` [label="${e.count}"]` : ''};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function mermaidText(s: string): string {
  return `"${s.replace(/"/g, '#quot;')}"`;
}

/** The same graph as a Mermaid flowchart. */
export function toMermaid(roots: readonly Delayed[], options: DrawOptions = {}): string {
  const { nodes, edges } = shape(roots, options);
  const lines = ['flowchart TD'];
  for (const n of nodes) lines.push(`  ${n.id}[${mermaidText(n.label)}]:::${n.state}`);
  for (const e of edges) lines.push(`  ${e.from} -->${e.count > 1 ? `|${e.count}|` : ''} ${e.to}`);
  for (const [state, color] of Object.entries(STATE_COLORS)) lines.push(`  classDef ${state} fill:${color},stroke:#555`);
  return `${lines.join('\n')}\n`;
}

type Viz = { renderString(dot: string, options: { format: string }): string };
let viz: Promise<Viz> | undefined;

/**
 * The graph rendered to SVG by Graphviz compiled to WebAssembly (`@viz-js/viz`,
 * loaded on first use: nothing native, nothing downloaded).
 */
export async function toSVG(roots: readonly Delayed[], options: DrawOptions = {}): Promise<string> {
  const dot = toDot(roots, options);
  viz ??= import('@viz-js/viz').then((m) => m.instance() as Promise<Viz>);
  return (await viz).renderString(dot, { format: 'svg' });
}
