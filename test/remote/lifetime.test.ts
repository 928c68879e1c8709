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
    let warm = await cycles.stats();
    for (let i = 0; i < 100_000; i++) {
      const h = cycles.put({ i, payload: 'x'.repeat(64) });
      h.release();
      if (i % 10_000 === 9_999) {
        const s = await cycles.stats();
        if (i === 19_999) warm = s;
      }
    }
    const end = await cycles.stats();
    expect(end.handles).toBe(0);
    expect(end.values).toBe(0);
    // Flat: what 80,000 more cycles left behind is well under one value's worth each.
    expect(end.heapUsed - warm.heapUsed).toBeLessThan(8 * 1024 * 1024);
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
