import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { createRemoteEnv, type RemoteEnv } from 'skein';
import { runNode } from '../helpers.js';

const script = fileURLToPath(new URL('../fixtures/remote-lifetime.mjs', import.meta.url));

let env: RemoteEnv;
beforeAll(async () => {
  env = await createRemoteEnv({ name: 'lifetime' });
});
afterAll(() => env.close());

describe('remote environment: handle lifetime', () => {
  test('release() frees the value in the worker; stats() counts live handles', async () => {
    const before = await env.stats();
    const hs = Array.from({ length: 10 }, (_, i) => env.put(i));
    const during = await env.stats();
    expect(during.handles - before.handles).toBe(10);
    expect(during.values - before.values).toBe(10);
    for (const h of hs) h.release();
    const after = await env.stats();
    expect(after.handles).toBe(before.handles);
    expect(after.values).toBe(before.values);
  });

  test('`using` releases at the end of the block', async () => {
    const before = (await env.stats()).values;
    {
      using h = env.put('scoped');
      using length = h.length;
      await expect(length.fetch()).resolves.toBe(6);
    }
    expect((await env.stats()).values).toBe(before);
  });

  test('100,000 put/release cycles end with 0 live and flat worker memory', async () => {
    // An env of its own, so no handle of another test is collected meanwhile.
    await using cycles = await createRemoteEnv({ name: 'cycles' });
    const payload = 'x'.repeat(1024);
    const early: number[] = [];
    const late: number[] = [];
    for (let i = 1; i <= 100_000; i++) {
      const h = cycles.put({ i, payload });
      h.release();
      if (i % 2_500 === 0) {
        const { heapUsed } = await cycles.stats();
        if (i > 10_000 && i <= 30_000) early.push(heapUsed);
        if (i > 80_000) late.push(heapUsed);
      }
    }
    const end = await cycles.stats();
    expect(end.handles).toBe(0);
    expect(end.values).toBe(0);
    // Flat: the least heap seen late (garbage only ever adds to a sample) against
    // the least seen early. A leak of the ~1 KB values would add ~55 MB between them.
    expect(Math.min(...late) - Math.min(...early)).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('remote environment: finalization backstop and process exit (own process)', () => {
  test('collected handles are released in batches, never before an operation in flight that reads them', async () => {
    const result = await runNode(['--expose-gc', script, 'finalization'], 30000);
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as { length: number; releasedWhileBusy: number; base: number; values: number; handles: number; kept: string };
    // The dropped handles were collected while the worker was still busy...
    expect(out.releasedWhileBusy).toBeLessThan(100);
    // ...and the operation queued behind still found its argument.
    expect(out.length).toBe(6);
    expect(out.kept).toBe('kept');
    // Left: `slow` and `kept` (held until the end), nothing of the 2,000 dropped puts.
    expect(out.values - out.base).toBeLessThanOrEqual(4);
    expect(out.handles).toBeLessThanOrEqual(4);
  });

  test.each(['left-open', 'left-open-idle'])('an env left open does not keep a finished script alive (%s)', async (scenario) => {
    const result = await runNode([script, scenario], 20000);
    expect(result.stderr).toBe('');
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
  });
});

describe('remote environment under tsx (own process)', () => {
  test('a TypeScript task module runs in an env, whose worker starts without tsx preloaded', async () => {
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const fixture = fileURLToPath(new URL('../fixtures/remote-ts-task.ts', import.meta.url));
    const result = await runNode([tsx, fixture], 30000);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toBe('A:0cc175');
  });
});
