/**
 * Remote environments: what a handle costs against the transport under it.
 * Round trip of a small call vs a raw postMessage ping-pong and vs plain
 * comlink on one worker; 1,000 pipelined calls then one fetch; fetch() of a
 * 256 MB Float64Array vs one memory copy; start-up time. All measured in one run.
 */
import { Worker } from 'node:worker_threads';
import { wrap, type Remote } from 'comlink';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import { createRemoteEnv } from 'skein';
import type { Scope } from '../lib/scope.js';
import { median } from '../lib/stats.js';

// The adapter is CommonJS with `export =` typings; under NodeNext its default import is the function.
const nodeEndpoint = nodeAdapter as unknown as (port: Worker) => Parameters<typeof wrap>[0];
const echoUrl = new URL('../workers/echo.mjs', import.meta.url);

const fmt = (ms: number) => (ms >= 10 ? ms.toFixed(0) : ms >= 0.1 ? ms.toFixed(2) : ms.toFixed(4));
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

/** Per-call time in ms of `calls` sequential awaited calls, median over `blocks`, the contenders interleaved block by block. */
async function interleaved(contenders: Record<string, () => Promise<unknown>>, calls: number, blocks: number): Promise<Record<string, number>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (const fn of Object.values(contenders)) for (let i = 0; i < 200; i++) await fn(); // warm
  for (let b = 0; b < blocks; b++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) await fn();
      times[name]!.push((performance.now() - t0) / calls);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

const scope: Scope = {
  name: 'remote',
  description:
    'Remote environments (ray-proxy on comlink). A small call through a handle, `h.m(1).fetch()`, against a raw `postMessage` ping-pong and against ' +
    'plain comlink (`remote.m(1)`) on one worker, contenders interleaved block by block; 1,000 pipelined calls then one `fetch()`; `fetch()` of a ' +
    '256 MB Float64Array against one memory copy of it in the caller (`slice()`); and start-up (`createRemoteEnv` until the worker answers) against a bare worker\'s first message. Medians.',
  async run(ctx) {
    const calls = ctx.quick ? 500 : 2000;
    const blocks = ctx.quick ? 3 : 9;
    const bigLength = (ctx.quick ? 16 : 256) * 2 ** 20 / 8;
    const repeats = ctx.quick ? 3 : 7;

    // Start-up, against a bare worker that posts one message, interleaved.
    const startups: number[] = [];
    const bareStartups: number[] = [];
    for (let i = 0; i < repeats; i++) {
      let t0 = performance.now();
      const bare = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
      await new Promise((resolve) => bare.once('message', resolve));
      bareStartups.push(performance.now() - t0);
      await bare.terminate();
      t0 = performance.now();
      const e = await createRemoteEnv({ name: 'startup' });
      startups.push(performance.now() - t0);
      await e.close();
    }
    const startup = median(startups);
    const bareStartup = median(bareStartups);
    ctx.log(`start-up ${fmt(startup)} ms (bare worker ${fmt(bareStartup)} ms)`);

    // Round trips.
    const worker = new Worker(echoUrl);
    const comlink: Remote<{ m(x: number): number }> = wrap(nodeEndpoint(worker));
    const m = comlink.m;
    await m(0);
    let resolveRaw: (() => void) | undefined;
    worker.on('message', (v) => {
      if (typeof v === 'number') resolveRaw?.();
    });
    const raw = () =>
      new Promise<void>((resolve) => {
        resolveRaw = resolve;
        worker.postMessage(1);
      });
    const env = await createRemoteEnv({ name: 'bench' });
    const h = env.run(() => ({ m: (x: number) => x }));
    const rt = await interleaved(
      { 'raw postMessage ping-pong': raw, 'plain comlink remote.m(1)': () => m(1), 'skein h.m(1).fetch()': () => h.m(1).fetch() },
      calls,
      blocks,
    );
    ctx.log(`round trips: ${JSON.stringify(Object.fromEntries(Object.entries(rt).map(([k, v]) => [k, us(v)])))}`);
    await worker.terminate();

    // 1,000 pipelined calls then one fetch.
    const pipelined: number[] = [];
    for (let r = 0; r < repeats + 1; r++) {
      const t0 = performance.now();
      let c = env.run(() => ({ v: 0, add(k: number) { this.v += k; return this; } }));
      for (let i = 0; i < 1000; i++) c = c.add(1);
      const v = await c.v.fetch();
      if (v !== 1000) throw new Error(`pipelined result ${v}`);
      if (r > 0) pipelined.push(performance.now() - t0);
    }
    const pipe = median(pipelined);
    ctx.log(`1,000 pipelined calls + fetch ${fmt(pipe)} ms`);

    // fetch() of a large Float64Array vs one copy in the caller.
    const big = env.run((n: number) => new Float64Array(n).fill(1.5), bigLength);
    const local = new Float64Array(bigLength).fill(1.5);
    const fetches: number[] = [];
    const copies: number[] = [];
    await big.length.fetch();
    for (let r = 0; r < repeats; r++) {
      global.gc?.();
      let t0 = performance.now();
      const copy = local.slice();
      copies.push(performance.now() - t0);
      if (copy[7] !== 1.5) throw new Error('copy');
      global.gc?.();
      t0 = performance.now();
      const fetched = await big.fetch();
      fetches.push(performance.now() - t0);
      if (fetched.length !== bigLength || fetched[bigLength - 1] !== 1.5) throw new Error('fetch');
    }
    const fetchMs = median(fetches);
    const copyMs = median(copies);
    ctx.log(`fetch ${fmt(fetchMs)} ms vs copy ${fmt(copyMs)} ms`);
    await env.close();

    const rawMs = rt['raw postMessage ping-pong']!;
    const skeinMs = rt['skein h.m(1).fetch()']!;
    const comlinkMs = rt['plain comlink remote.m(1)']!;
    const sizeLabel = `${(bigLength * 8) / 2 ** 20} MB`;
    return {
      parameters: { calls, blocks, repeats, fetchSize: sizeLabel },
      data: { startups, bareStartups, roundTrips: rt, pipelined, fetches, copies },
      table: {
        columns: ['measure', 'time', 'baseline', 'ratio'],
        rows: [
          ['round trip: raw postMessage ping-pong', us(rawMs), us(rawMs), '1.00x'],
          ['round trip: plain comlink remote.m(1)', us(comlinkMs), us(rawMs), `${(comlinkMs / rawMs).toFixed(2)}x`],
          ['round trip: skein h.m(1).fetch()', us(skeinMs), us(rawMs), `${(skeinMs / rawMs).toFixed(2)}x`],
          ['1,000 pipelined calls, then one fetch()', `${fmt(pipe)} ms`, `${fmt(rawMs * 1000)} ms (1,000 raw round trips)`, `${(pipe / (rawMs * 1000)).toFixed(2)}x`],
          [`fetch() of a ${sizeLabel} Float64Array`, `${fmt(fetchMs)} ms`, `${fmt(copyMs)} ms (one slice() in the caller)`, `${(fetchMs / copyMs).toFixed(2)}x`],
          ['start-up: createRemoteEnv() until the worker answers', `${fmt(startup)} ms`, `${fmt(bareStartup)} ms (a bare worker's first message)`, `${(startup / bareStartup).toFixed(2)}x`],
        ],
      },
      targets: [
        `small call round trip ${(skeinMs / rawMs).toFixed(2)}x the raw round trip (target <= 1.3x): ${skeinMs / rawMs <= 1.3 ? 'met' : 'missed'}`,
        `1,000 pipelined calls then one fetch ${fmt(pipe)} ms (target <= 20 ms): ${pipe <= 20 ? 'met' : 'missed'}`,
        `fetch() of ${sizeLabel} ${(fetchMs / copyMs).toFixed(2)}x one memory copy (target <= 1.2x): ${fetchMs / copyMs <= 1.2 ? 'met' : 'missed'}`,
        `start-up ${fmt(startup)} ms (target <= 50 ms): ${startup <= 50 ? 'met' : 'missed'}; a bare worker took ${fmt(bareStartup)} ms in the same run`,
      ],
    };
  },
};

export default scope;
