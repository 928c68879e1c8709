import { afterAll, describe, expect, test } from '@jest/globals';
import { Parallel, SharedMemoryStore, clearGraphCache, compute, delayed, isResolved, type Delayed } from 'skein';
import { captureStderr } from '../helpers.js';

const par = new Parallel({ nJobs: 2 });
afterAll(async () => {
  await par.close();
  clearGraphCache();
});

/** Waits until `flag[0]` is set by the caller, so a node is seen running. */
function gate(flag: Int32Array, x: number) {
  Atomics.store(flag, 1, 1);
  Atomics.wait(flag, 0, 0, 5000);
  return x;
}
const inc = (x: number) => x + 1;

describe('task graph state and progress', () => {
  test('a running node is drawn as running, then as kept', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const g = delayed(gate, { name: 'held' })(flag, 1);
    const top = delayed(inc)(g);
    const done = top.compute({ parallel: par });
    while (Atomics.load(flag, 1) === 0) await new Promise((r) => setTimeout(r, 5));
    expect(top.toDot()).toMatch(/label="held".*fillcolor="#ffd54f", class="running"/);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    expect(await done).toBe(2);
    expect(top.toDot()).toMatch(/label="held".*class="cached"/);
  });

  test('invalidating a node puts every result computed from it out of date, through nodes whose own result is gone, and clears failures below it', async () => {
    const runs = new Int32Array(new SharedArrayBuffer(16));
    const counted = (c: Int32Array, slot: number, x: number) => {
      Atomics.add(c, slot, 1);
      return x + 1;
    };
    const fragile = (x: number) => {
      if (x < 3) throw new RangeError(`too small: ${x}`);
      return x;
    };
    const a = delayed(counted)(runs, 0, 0);
    const b = delayed(counted)(runs, 1, a);
    const c = delayed(counted)(runs, 2, b);
    expect(await c.compute({ parallel: par })).toBe(3);
    // b's own result goes (its own invalidation), c's stays until a is invalidated.
    b.invalidate();
    expect(c.plan().map((n) => n.key)).toEqual([b.plan()[0]!.key, c.plan().at(-1)!.key]);
    await c.compute({ parallel: par });
    a.invalidate();
    expect(c.plan()).toHaveLength(3);
    expect(await c.compute({ parallel: par })).toBe(3);
    expect(Array.from(runs).slice(0, 3)).toEqual([2, 3, 3]);
    // A node that failed is drawn failed until something it was computed from is invalidated.
    const f = delayed(fragile, { name: 'fragile' })(a);
    await f.compute({ parallel: par, errors: 'settle' });
    expect(f.toDot()).toMatch(/label="fragile".*class="failed"/);
    a.invalidate();
    expect(f.toDot()).toMatch(/label="fragile".*class="pending"/);
  });

  test('computes running at the same time over shared nodes each get their own results', async () => {
    const add = (a: number, b: number) => a + b;
    const leaves = Array.from({ length: 64 }, (_, i) => delayed(inc)(i));
    const sum = (xs: Delayed<number>[]): Delayed<number> => {
      let level = xs;
      while (level.length > 1) {
        const next: Delayed<number>[] = [];
        for (let i = 0; i + 1 < level.length; i += 2) next.push(delayed(add)(level[i]!, level[i + 1]!));
        level = next;
      }
      return level[0]!;
    };
    const whole = sum(leaves);
    const half = sum(leaves.slice(0, 32));
    const quarter = sum(leaves.slice(16, 48));
    const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i + 1).reduce((a, b) => a + b, 0);
    const out = await Promise.all([compute(whole, { parallel: par }), compute(half, quarter, { parallel: par }), whole.compute({ parallel: par })]);
    expect(out).toEqual([[expected(0, 64)], [expected(0, 32), expected(16, 48)], expected(0, 64)]);
  });

  test('verbose lines count nodes, not runs', async () => {
    const a = delayed(inc)(1);
    const lines = await captureStderr(() => compute(delayed((x: number, y: number) => x + y)(a, delayed(inc)(a)), { parallel: par, verbose: 10 }));
    const text = lines.join('');
    expect(text).toMatch(/Done\s+3 out of\s+3 .* finished/);
    expect(text).not.toMatch(/out of\s+1 \|/);
  });

  test('an aborted signal rejects with its reason and dispatches nothing more', async () => {
    const controller = new AbortController();
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const g = delayed(gate)(flag, 1);
    const counted = new Int32Array(new SharedArrayBuffer(4));
    const after = delayed((c: Int32Array, x: number) => Atomics.add(c, 0, 1) + x)(counted, g);
    const done = after.compute({ parallel: par, signal: controller.signal });
    while (Atomics.load(flag, 1) === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('stop'));
    await expect(done).rejects.toThrow('stop');
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(counted[0]).toBe(0);
  });

  test('a store proxy next to a dependency travels as its reference, unresolved in the caller', async () => {
    await using store = new SharedMemoryStore();
    const p = store.proxy(Float64Array.from({ length: 1000 }, (_, i) => i));
    const n = delayed(inc)(1);
    const pick = (xs: Float64Array, o: { at: number }) => xs[o.at]!;
    expect(await delayed(pick)(p, { at: n }).compute({ parallel: par })).toBe(2);
    expect(isResolved(p)).toBe(false);
  });

  test('bad input is refused clearly', async () => {
    expect(() => delayed(inc, { pure: 'yes' as unknown as boolean })).toThrow(/^Expected `pure` to be a boolean, got .*yes/);
    await expect(compute(delayed(inc)(1), 5 as never)).rejects.toThrow(/^Expected `options` to be an object/);
    await expect(compute(delayed(inc)(1), 5 as never, {})).rejects.toThrow(/^Expected argument 1 of compute\(\) to be a delayed call/);
  });
});
