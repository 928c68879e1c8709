import { afterAll, describe, expect, test } from '@jest/globals';
import { Parallel, delayed, SerializationError } from 'skein';
import { ChildProcessBackend } from './child-process-backend.js';

const square = (x: number) => x * x;
const pid = () => process.pid;
const failOdd = (x: number) => {
  if (x % 2 === 1) throw new RangeError(`odd: ${x}`);
  return x;
};
const later = async (x: number) => {
  await new Promise((r) => setTimeout(r, 1));
  return x + 1;
};

describe('a backend written against the public batch seam (child_process.fork)', () => {
  const backend = new ChildProcessBackend();
  const raise = new Parallel({ backend, batchSize: 3 });
  const settle = new Parallel({ backend, batchSize: 3, errors: 'settle' });
  afterAll(async () => {
    await raise.close();
    await settle.close();
    await backend.close();
  });

  test('run() returns results in order, computed in the child process', async () => {
    const xs = Array.from({ length: 20 }, (_, i) => i);
    expect(await raise.run(xs.map((x) => delayed(square)(x)))).toEqual(xs.map((x) => x * x));
    const [where] = await raise.run([delayed(pid)()]);
    expect(where).toBe(backend.pid);
    expect(where).not.toBe(process.pid);
    expect(backend.sent).toBeGreaterThanOrEqual(7);
  });

  test('iter() yields results as batches come back, async tasks too', async () => {
    const seen: number[] = [];
    for await (const v of raise.iter([1, 2, 3, 4, 5].map((x) => delayed(later)(x)))) seen.push(v as number);
    expect(seen).toEqual([2, 3, 4, 5, 6]);
  });

  test("errors: 'raise' rejects with the task's error, rebuilt with its class and index", async () => {
    const error = (await raise.run([0, 2, 4, 5, 6].map((x) => delayed(failOdd)(x))).catch((e: unknown) => e)) as RangeError & { taskIndex: number };
    expect(error.name).toBe('RangeError');
    expect(error.message).toBe('odd: 5');
    expect(error.taskIndex).toBe(3);
  });

  test("errors: 'settle' gives each task's outcome", async () => {
    const out = await settle.run([0, 1, 2, 3].map((x) => delayed(failOdd)(x)));
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect((out[0] as PromiseFulfilledResult<number>).value).toBe(0);
    const rejected = (out[3] as PromiseRejectedResult).reason as Error & { taskIndex: number };
    expect(rejected.name).toBe('RangeError');
    expect(rejected.taskIndex).toBe(3);
  });

  test('nothing is offloaded to a backend that shares no memory and names no store', async () => {
    const big = new Float64Array(200_000).fill(1);
    const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
    expect(await raise.run([delayed(sum)(big)])).toEqual([200_000]);
    expect(raise.offloadStore).toBeUndefined();
    expect(SerializationError).toBeDefined();
  });
});
