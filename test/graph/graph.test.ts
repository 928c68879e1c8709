import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Parallel, clearGraphCache, compute, configureGraphCache, delayed, parallel, type Delayed } from 'skein';
import { runNode } from '../helpers.js';

const par = new Parallel({ nJobs: 2 });
afterAll(() => par.close());
afterEach(() => configureGraphCache({}));

/** Runs per slot, counted in shared memory by the tasks themselves. */
function counters(n = 8): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * n));
}

function square(c: Int32Array, x: number) {
  Atomics.add(c, 0, 1);
  return x * x;
}
function mul(c: Int32Array, x: number, y: number) {
  Atomics.add(c, 1, 1);
  return x * y;
}
function add(c: Int32Array, x: number, y: number) {
  Atomics.add(c, 2, 1);
  return x + y;
}
/** Sleeps `ms`, recording its start and end (Date.now: the same clock in every thread) in `times[2 * slot]`. */
function timed(times: Float64Array, slot: number, ms: number, ...inputs: number[]) {
  times[2 * slot] = Date.now();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  times[2 * slot + 1] = Date.now();
  return slot + inputs.length;
}
function fail(c: Int32Array, message: string): number {
  Atomics.add(c, 3, 1);
  const error = new RangeError(message) as RangeError & { detail: number };
  error.detail = 42;
  throw error;
}

describe('dependencies by use', () => {
  test('a Delayed anywhere in the arguments is a dependency, and one object is one node', async () => {
    const c = counters();
    const a = delayed(square)(c, 3);
    const sum = delayed((xs: number[], o: { p: { q: number } }, z: number) => xs[0]! + xs[1]! + o.p.q + z)([a, a], { p: { q: a } }, a);
    expect(await sum.compute({ parallel: par })).toBe(36);
    expect(c[0]).toBe(1);
  });

  test('parallel() refuses a task with dependencies, pointing to compute()', async () => {
    const c = counters();
    await expect(parallel([delayed(add)(c, delayed(square)(c, 1), 1)], { nJobs: 1 })).rejects.toThrow(/compute\(\)/);
  });

  test('pure calls built separately are one node and share the kept result', async () => {
    const c = counters();
    const p1 = delayed(square, { pure: true })(c, 7);
    const p2 = delayed(square, { pure: true })(c, 7);
    expect(p1.plan()[0]!.key).toBe(p2.plan()[0]!.key);
    // Keyed before the counter changes: the key hashes the arguments' contents when the node is first used.
    const p3 = delayed(square, { pure: true })(c, 7);
    p3.plan();
    const [x, y] = await compute(p1, p2, { parallel: par });
    expect([x, y, c[0]]).toEqual([49, 49, 1]);
    expect(await p3.compute({ parallel: par })).toBe(49);
    expect(c[0]).toBe(1);
    expect(delayed(square, { pure: true })(c, 8).plan()).toHaveLength(1);
  });

  test('name labels the node', () => {
    const c = counters();
    const d = delayed(add, { name: 'total' })(c, delayed(square)(c, 1), 2);
    expect(d.plan().map((n) => n.name)).toEqual(['square', 'total']);
  });
});

describe('compute', () => {
  test('minimal execution and caching across computes (the lazy seed)', async () => {
    const c = counters();
    const a = delayed(square)(c, 2);
    const b = delayed(square)(c, 3);
    const unrelated = delayed(square)(c, 100);
    const m = delayed(mul)(c, a, b);
    const s = delayed(add)(c, a, b);
    expect(m.plan().map((n) => n.name)).toEqual(['square', 'square', 'mul']);
    expect(await m.compute({ parallel: par })).toBe(36);
    expect([c[0], c[1], c[2]]).toEqual([2, 1, 0]);
    expect(s.plan().map((n) => n.name)).toEqual(['add']);
    expect(await s.compute({ parallel: par })).toBe(13);
    expect([c[0], c[1], c[2]]).toEqual([2, 1, 1]);
    void unrelated;
  });

  test('several outputs in one pass share their common sub-results', async () => {
    const c = counters();
    const a = delayed(square)(c, 2);
    const b = delayed(square)(c, 3);
    expect(await compute(delayed(mul)(c, a, b), delayed(add)(c, a, b), { parallel: par })).toEqual([36, 13]);
    expect([c[0], c[1], c[2]]).toEqual([2, 1, 1]);
  });

  test('independent nodes overlap, and a node starts as soon as its own inputs are ready (no level barrier)', async () => {
    const t = new Float64Array(new SharedArrayBuffer(8 * 8));
    const slow = delayed(timed)(t, 0, 400);
    const fast = delayed(timed)(t, 1, 20);
    const afterFast = delayed(timed)(t, 2, 20, fast);
    await delayed(timed)(t, 3, 0, slow, afterFast).compute({ parallel: par });
    const [s0, e0, s1, e1, s2, e2, s3] = t;
    // slow and fast overlap
    expect(s1!).toBeLessThan(e0!);
    expect(s0!).toBeLessThan(e1!);
    // afterFast ran while slow was still running, and the last waited for both
    expect(s2!).toBeLessThan(e0!);
    expect(s3!).toBeGreaterThanOrEqual(Math.max(e0!, e2!));
  });

  test('invalidate drops the result and its dependents, not its inputs', async () => {
    const c = counters();
    const a = delayed(square)(c, 2);
    const b = delayed(square)(c, 3);
    const m = delayed(mul)(c, a, b);
    await m.compute({ parallel: par });
    a.invalidate();
    expect(m.plan().map((n) => n.name)).toEqual(['square', 'mul']);
    expect(await m.compute({ parallel: par })).toBe(36);
    expect([c[0], c[1]]).toEqual([3, 2]);
  });

  test('results over the byte budget are evicted and recomputed on demand', async () => {
    const c = counters();
    configureGraphCache({ maxBytes: 64 * 1024 });
    const big = (c: Int32Array, n: number) => {
      Atomics.add(c, 0, 1);
      return new Float64Array(n).fill(1);
    };
    const total = (c: Int32Array, xs: Float64Array) => {
      Atomics.add(c, 1, 1);
      return xs.reduce((s, x) => s + x, 0);
    };
    const x = delayed(big)(c, 1024);
    const y = delayed(big)(c, 1024 * 4);
    expect(await x.compute({ parallel: par })).toHaveLength(1024);
    expect(x.plan()).toEqual([]);
    // Two more of 32 KiB: with x's 8 KiB over the 64 KiB budget, so the least recently used (x) goes.
    const z = delayed(big)(c, 1024 * 4);
    await compute(y, z, { parallel: par });
    expect(x.plan()).toHaveLength(1);
    expect(await delayed(total)(c, x).compute({ parallel: par })).toBe(1024);
    expect(c[0]).toBe(4);
  });

  test('progress counts nodes', async () => {
    const c = counters();
    const seen: [number, number | undefined][] = [];
    const a = delayed(square)(c, 1);
    await delayed(add)(c, a, delayed(square)(c, 2)).compute({ parallel: par, progress: ({ done, total }) => seen.push([done, total]) });
    expect(seen.at(-1)).toEqual([3, 3]);
  });

  test('the default executor starts lazily, stays warm and does not keep the process alive', async () => {
    const script = fileURLToPath(new URL('../fixtures/graph-default-exit.mjs', import.meta.url));
    const result = await runNode([script], 20000);
    expect(result.stderr).toBe('');
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('10 25');
  });
});

describe('errors', () => {
  test('the first failing node rejects with its own error plus .node; unstarted nodes are cancelled', async () => {
    const c = counters();
    const one = new Parallel({ nJobs: 1 });
    try {
      const bad = delayed(fail, { name: 'bad' })(c, 'no');
      const other = delayed(square)(c, 5);
      const top = delayed(add, { name: 'top' })(c, delayed(mul)(c, bad, 2), other);
      const error = (await top.compute({ parallel: one }).catch((e: unknown) => e)) as RangeError & { detail: number; node: { name: string; key: string; path: string[] } };
      expect(error.name).toBe('RangeError');
      expect(error.message).toBe('no');
      expect(error.detail).toBe(42);
      expect(error.stack).toMatch(/fail/);
      expect(error.node.name).toBe('bad');
      expect(error.node.key).toBe(bad.plan()[0]!.key);
      expect(error.node.path).toEqual(['top', 'mul', 'bad']);
      expect(c[0]).toBe(0);
      expect(top.toDot()).toMatch(/label="bad".*class="failed"/);
    } finally {
      await one.close();
    }
  });

  test("errors: 'settle' lets independent branches finish and reports nodes whose dependency failed", async () => {
    const c = counters();
    const bad = delayed(fail, { name: 'bad' })(c, 'broken');
    const good = delayed(square)(c, 4);
    const [x, y] = await compute(delayed(add)(c, bad, 1), delayed(add)(c, good, 1), { parallel: par, errors: 'settle' });
    expect(y).toEqual({ status: 'fulfilled', value: 17 });
    expect(x.status).toBe('rejected');
    const reason = (x as PromiseRejectedResult).reason as Error & { code: string; dependency: { name: string } };
    expect(reason.name).toBe('DependencyFailedError');
    expect(reason.code).toBe('ERR_SKEIN_DEPENDENCY_FAILED');
    expect(reason.dependency.name).toBe('bad');
    expect(reason.message).toMatch(/dependency `bad`.*failed: broken/);
    expect((reason.cause as Error).message).toBe('broken');
    expect(c[2]).toBe(1);
  });
});

describe('drawing', () => {
  function parseDot(dot: string) {
    const nodes = new Map<string, { label: string; state: string; color: string }>();
    for (const m of dot.matchAll(/^\s+(\w+) \[label="([^"]*)".*fillcolor="([^"]+)", class="(\w+)"\];$/gm)) {
      nodes.set(m[1]!, { label: m[2]!, color: m[3]!, state: m[4]! });
    }
    const edges = [...dot.matchAll(/^\s+(\w+) -> (\w+)/gm)].map((m) => [nodes.get(m[1]!)!.label, nodes.get(m[2]!)!.label]);
    return { nodes: [...nodes.values()], edges };
  }

  test('DOT and Mermaid show every node, labelled, coloured by state', async () => {
    const c = counters();
    const a = delayed(square)(c, 2);
    const b = delayed(square, { name: 'b' })(c, 3);
    await a.compute({ parallel: par });
    const top = delayed(mul, { name: 'product' })(c, a, b);
    const dot = parseDot(top.toDot());
    expect(dot.nodes.map((n) => [n.label, n.state])).toEqual([
      ['square', 'cached'],
      ['b', 'pending'],
      ['product', 'pending'],
    ]);
    expect(dot.edges).toEqual([
      ['square', 'product'],
      ['b', 'product'],
    ]);
    const mermaid = top.toMermaid();
    expect(mermaid).toMatch(/^flowchart TD/);
    expect(mermaid).toMatch(/\["product"\]:::pending/);
    expect(mermaid).toMatch(/\["square"\]:::cached/);
  });

  test('toSVG renders the labels and the state colours', async () => {
    const c = counters();
    const a = delayed(square, { name: 'alpha' })(c, 2);
    await a.compute({ parallel: par });
    const svg = await delayed(mul, { name: 'omega' })(c, a, 3).toSVG();
    expect(svg).toMatch(/^<\?xml|<svg/);
    expect(svg).toContain('>alpha<');
    expect(svg).toContain('>omega<');
    expect(svg).toContain('fill="#8fd694"');
    expect(svg).toContain('fill="#e0e0e0"');
  });

  test('large graphs are grouped by function', () => {
    const c = counters();
    const leaves: Delayed<number>[] = Array.from({ length: 400 }, (_, i) => delayed(square)(c, i));
    const top = delayed((xs: number[]) => xs.length)(leaves);
    const dot = parseDot(top.toDot({ maxNodes: 300 }));
    expect(dot.nodes.map((n) => n.label)).toEqual(['square ×400 (400 pending)', 'anonymous ×1 (1 pending)']);
    expect(top.toDot()).toMatch(/label="400"/);
  });
});

afterAll(() => clearGraphCache());
