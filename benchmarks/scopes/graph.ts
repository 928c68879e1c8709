/**
 * Task graphs: scheduling overhead per node (a tree reduction and a chain of
 * trivial nodes, graph building included), makespan of a random graph of
 * ~20 ms nodes against its critical-path bound, and a chain passing a large
 * array against the same chain written as parallel() calls through the
 * caller. dask.delayed (threaded, 2 workers) beside it when python3 can
 * install dask into a temporary virtualenv.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Parallel, clearGraphCache, compute, delayed, type Delayed } from 'skein';
import type { Scope } from '../lib/scope.js';
import { formatBytes, median } from '../lib/stats.js';

const one = (_i: number) => 1;
const add = (a: number, b: number) => a + b;
const inc = (x: number) => x + 1;

function tree(leaves: number): { root: Delayed<number>; nodes: number } {
  let level: Delayed<number>[] = Array.from({ length: leaves }, (_, i) => delayed(one)(i));
  let nodes = level.length;
  while (level.length > 1) {
    const next: Delayed<number>[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(delayed(add)(level[i]!, level[i + 1]!));
    if (level.length % 2) next.push(level.at(-1)!);
    nodes += Math.floor(level.length / 2);
    level = next;
  }
  return { root: level[0]!, nodes };
}

function chain(length: number): { root: Delayed<number>; nodes: number } {
  let x = delayed(inc)(0);
  for (let i = 1; i < length; i++) x = delayed(inc)(x);
  return { root: x, nodes: length };
}

/** µs per node, graph building and computing, median of `repeats` (each on fresh nodes, nothing kept). */
async function perNode(build: () => { root: Delayed<number>; nodes: number }, par: Parallel, repeats: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    clearGraphCache();
    const t0 = performance.now();
    const { root, nodes } = build();
    await compute(root, { parallel: par });
    times.push(((performance.now() - t0) * 1000) / nodes);
  }
  return median(times);
}

/** A seeded generator, so every run draws the same graph. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const spin = (ms: number, ..._inputs: number[]) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return ms;
};

/** 64 nodes of 10-30 ms, each depending on up to 3 earlier ones at random; its critical-path bound on `workers`. */
function randomGraph(workers: number): { roots: Delayed<number>[]; bound: number } {
  const rand = random(42);
  const nodes: { d: Delayed<number>; ms: number; finish: number }[] = [];
  let work = 0;
  for (let i = 0; i < 64; i++) {
    const ms = 10 + Math.round(rand() * 20);
    const deps = i === 0 ? [] : Array.from({ length: Math.floor(rand() * 4) }, () => nodes[Math.floor(rand() * i)]!);
    const d = delayed(spin, { name: `n${i}` })(ms, ...deps.map((n) => n.d));
    nodes.push({ d, ms, finish: ms + Math.max(0, ...deps.map((n) => n.finish)) });
    work += ms;
  }
  const critical = Math.max(...nodes.map((n) => n.finish));
  return { roots: nodes.map((n) => n.d), bound: Math.max(critical, work / workers) };
}

function dask(leaves: number, length: number, repeats: number, log: (line: string) => void): { treeUsPerNode: number; chainUsPerNode: number; dask: string } | string {
  const venv = '/tmp/skein-graph-venv';
  const python = `${venv}/bin/python`;
  try {
    if (!existsSync(python)) {
      log('installing dask into a temporary virtualenv...');
      execFileSync('python3', ['-m', 'venv', venv], { stdio: 'ignore' });
      execFileSync(`${venv}/bin/pip`, ['install', '--quiet', 'dask'], { stdio: 'ignore', timeout: 300_000 });
    }
  } catch (error) {
    return `dask not measured: could not install it (${(error as Error).message.split('\n')[0]})`;
  }
  const script = fileURLToPath(new URL('../python/dask_graph.py', import.meta.url));
  const out = spawnSync(python, [script, String(leaves), String(length), String(repeats)], { encoding: 'utf8', timeout: 600_000 });
  if (out.status !== 0) return `dask not measured: ${out.stderr.trim().split('\n').at(-1)}`;
  return JSON.parse(out.stdout) as { treeUsPerNode: number; chainUsPerNode: number; dask: string };
}

function chainChild(mode: 'graph' | 'parallel', bytes: number): { ms: number; busyMs: number; peakAboveBase: number } {
  const child = fileURLToPath(new URL('../lib/graph-child.ts', import.meta.url));
  const out = spawnSync(process.execPath, ['--import', 'tsx', child, mode, String(bytes)], { encoding: 'utf8', timeout: 300_000 });
  if (out.status !== 0) throw new Error(`graph child (${mode}) failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { ms: number; busyMs: number; peakAboveBase: number };
}

const scope: Scope = {
  name: 'graph',
  description:
    'Task graphs on 2 workers: scheduling overhead per node (a tree reduction and a chain of trivial nodes, building the graph included, nothing kept between repeats), ' +
    'makespan of a seeded random graph of 64 nodes of 10-30 ms against its critical-path bound (max of the longest path and total work / 2), and a chain of 4 nodes passing ' +
    'a large Float64Array (graph, intermediates in the workers\' store) against the same chain as parallel() calls through the caller, each in a process of its own for ' +
    'its peak RSS. dask.delayed (threaded scheduler, 2 workers) on the same tree and chain, from a temporary virtualenv. Medians.',
  async run(ctx) {
    const leaves = ctx.quick ? 2_000 : 10_000;
    const length = ctx.quick ? 1_000 : 10_000;
    const repeats = ctx.quick ? 3 : 7;
    const bigBytes = (ctx.quick ? 32 : 256) * 2 ** 20;
    const par = new Parallel({ nJobs: 2 });
    try {
      await compute(tree(200).root, { parallel: par });
      const treeUs = await perNode(() => tree(leaves), par, repeats);
      const treeNodes = tree(leaves).nodes;
      const chainUs = await perNode(() => chain(length), par, repeats);
      ctx.log(`  tree ${treeUs.toFixed(2)} µs/node, chain ${chainUs.toFixed(2)} µs/node`);

      const spans: number[] = [];
      let bound = 0;
      for (let r = 0; r < Math.max(3, Math.ceil(repeats / 2)); r++) {
        clearGraphCache();
        const g = randomGraph(2);
        bound = g.bound;
        const t0 = performance.now();
        await compute(...g.roots, { parallel: par });
        spans.push(performance.now() - t0);
      }
      const span = median(spans);
      ctx.log(`  makespan ${span.toFixed(0)} ms, bound ${bound.toFixed(0)} ms`);

      const graphRun = chainChild('graph', bigBytes);
      const parallelRun = chainChild('parallel', bigBytes);
      ctx.log(`  chain of ${formatBytes(bigBytes)}: graph ${JSON.stringify(graphRun)}, parallel ${JSON.stringify(parallelRun)}`);

      const anchor = ctx.quick ? 'dask not measured in a quick run' : dask(leaves, length, 3, ctx.log);
      const d = typeof anchor === 'string' ? undefined : anchor;

      const rows: (string | number)[][] = [
        [`tree reduction (${treeNodes.toLocaleString('en-US')} nodes)`, `${treeUs.toFixed(2)} µs/node`, d ? `dask ${d.treeUsPerNode.toFixed(1)} µs/node` : '-', d ? `${(treeUs / d.treeUsPerNode).toFixed(3)}x` : '-'],
        [`chain (${length.toLocaleString('en-US')} nodes)`, `${chainUs.toFixed(2)} µs/node`, d ? `dask ${d.chainUsPerNode.toFixed(1)} µs/node` : '-', d ? `${(chainUs / d.chainUsPerNode).toFixed(3)}x` : '-'],
        ['makespan, 64 random nodes of 10-30 ms', `${span.toFixed(0)} ms`, `${bound.toFixed(0)} ms (critical-path bound)`, `${(span / bound).toFixed(3)}x`],
        [`chain of 4 passing ${formatBytes(bigBytes)}: peak RSS above base`, formatBytes(graphRun.peakAboveBase), `${formatBytes(parallelRun.peakAboveBase)} (parallel() calls)`, `${(graphRun.peakAboveBase / bigBytes).toFixed(2)}x the array`],
        [`chain of 4 passing ${formatBytes(bigBytes)}: calling thread busy`, `${graphRun.busyMs.toFixed(0)} ms of ${graphRun.ms.toFixed(0)} ms`, `${parallelRun.busyMs.toFixed(0)} ms of ${parallelRun.ms.toFixed(0)} ms (parallel() calls)`, `${(graphRun.busyMs / parallelRun.busyMs).toFixed(3)}x`],
      ];
      const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
      return {
        table: { columns: ['measure', 'skein', 'baseline', 'ratio'], rows },
        parameters: { leaves, treeNodes, length, repeats, bigBytes: formatBytes(bigBytes), nJobs: 2, anchor: typeof anchor === 'string' ? anchor : `dask ${anchor.dask}` },
        data: { treeUs, chainUs, span, bound, graphRun, parallelRun, anchor },
        targets: [
          `tree ${treeUs.toFixed(2)} µs/node (target <= 10): ${verdict(treeUs <= 10)}`,
          `chain ${chainUs.toFixed(2)} µs/node (target <= 10): ${verdict(chainUs <= 10)}`,
          `makespan ${(span / bound).toFixed(3)}x the critical-path bound (target <= 1.15x): ${verdict(span / bound <= 1.15)}`,
          `large chain peak RSS ${(graphRun.peakAboveBase / bigBytes).toFixed(2)}x the array (target <= 1.5x): ${verdict(graphRun.peakAboveBase <= 1.5 * bigBytes)}`,
        ],
      };
    } finally {
      await par.close();
    }
  },
};

export default scope;
