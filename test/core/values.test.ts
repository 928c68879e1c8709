import { describe, expect, test } from '@jest/globals';
import { DESCEND, FOUND, SKIP, findInnermost, findPart, renderPath } from '#src/core/values.js';
import { findCloneFailure, findUncloneable } from '#src/task/cloneable.js';
import { locateUnserializable } from '#src/serialize/locate.js';
import { Offloader } from '#src/store/offload.js';
import { delayed } from '#src/task/delayed.js';
import { SharedMemoryStore } from 'skein';

describe('the walk over values', () => {
  test('paths are spelled for keys, indices, Map entries and Set items', () => {
    expect(renderPath('args', [0, 'model', 'odd key', { label: '.get("k")' }])).toBe('args[0].model["odd key"].get("k")');
    const value = { rows: [1, new Map([['k', new Set([0, Symbol('s')])]])] };
    const found = findPart(value, 'v', (p) => (typeof p === 'symbol' ? FOUND : DESCEND));
    expect(found?.path).toBe('v.rows[1].get("k")<Set item 1>');
  });

  test('a cycle ends the walk, and SKIP keeps it out of a part', () => {
    const a: Record<string, unknown> = { n: 1 };
    a['self'] = a;
    expect(findPart(a, 'a', () => DESCEND)).toBeUndefined();
    const hidden = { inner: { bad: Symbol('x') } };
    expect(findPart(hidden, 'h', (p) => (p === hidden.inner ? SKIP : typeof p === 'symbol' ? FOUND : DESCEND))).toBeUndefined();
  });

  test('a member whose reading throws is found, with what it threw', () => {
    const value = {
      ok: 1,
      get bad(): number {
        throw new Error('no');
      },
    };
    const found = findPart(value, 'v', () => DESCEND);
    expect(found?.path).toBe('v.bad');
    expect((found?.thrown?.error as Error).message).toBe('no');
  });

  test('findInnermost descends to the innermost failing part, through Maps, and not round a cycle', () => {
    const fn = () => 1;
    const inner: Record<string, unknown> = { fn };
    const outer = { list: [0, new Map([['m', inner]])] };
    inner['back'] = outer;
    const refused = (p: unknown) => {
      try {
        structuredClone(p);
        return false;
      } catch {
        return true;
      }
    };
    expect(findInnermost(outer, 'x', refused)?.path).toBe('x.list[1].get("m").fn');
    expect(findInnermost({ fine: 1 }, 'x', refused)).toBeUndefined();
    expect(findCloneFailure(outer, 'args')).toBe('args.list[1].get("m").fn');
    expect(locateUnserializable(outer, 'value').path).toBe('value.list[1].get("m").fn');
  });

  test('the argument check reports what the argument costs to clone; a shared part makes it unsure', () => {
    let bytes = 0;
    expect(findUncloneable({ name: 'ab', xs: [1, 2] }, 'a', { onBytes: (n) => (bytes = n) })).toBeUndefined();
    // Object 16 + 2 keys x 8 + key chars x 2, "ab" 8 + 4, the array 16 + 2 x 8.
    expect(bytes).toBe(16 + 16 + 2 * 6 + 12 + 32);
    const shared = { x: { y: 1 } };
    findUncloneable({ a: shared, b: shared }, 'a', { onBytes: (n) => (bytes = n) });
    expect(bytes).toBe(Infinity);
  });
});

describe('one walk per argument', () => {
  test('the offloader does not walk again a small argument that delayed() measured', async () => {
    let reads = 0;
    const arg = Object.defineProperty({ n: 1 }, 'counted', {
      enumerable: true,
      get() {
        reads++;
        return 2;
      },
    });
    const task = delayed((x: unknown) => x)(arg);
    expect(reads).toBe(1);
    expect(task.bytes).toBeLessThan(1024);
    const store = new SharedMemoryStore({ name: 'walk-once' });
    try {
      const offloader = new Offloader(1024, store);
      expect((offloader.tasks([task]) as (typeof task)[])[0]).toBe(task);
      expect(reads).toBe(1);
      // A task whose size is unknown is still walked (and left as it is when small).
      let other = 0;
      const unknown = Object.defineProperty({}, 'c', { enumerable: true, get: () => ++other });
      const built = new (task.constructor as new (...a: unknown[]) => typeof task)(task.shipped, [unknown]);
      expect((offloader.tasks([built]) as (typeof built)[])[0]).toBe(built);
      expect(other).toBe(1);
    } finally {
      await store.close();
    }
  });

  test('a large argument is still offloaded', async () => {
    const store = new SharedMemoryStore({ name: 'walk-once-large' });
    try {
      const big = { rows: Array.from({ length: 200 }, (_, i) => ({ i, s: 'x'.repeat(20) })) };
      const task = delayed((x: unknown) => x)(big);
      expect(task.bytes).toBeGreaterThan(1024);
      const offloader = new Offloader(1024, store);
      expect((offloader.tasks([task]) as (typeof task)[])[0]!.args[0]).not.toBe(big);
      expect(offloader.report.values).toBe(1);
      await offloader.free();
    } finally {
      await store.close();
    }
  });
});
