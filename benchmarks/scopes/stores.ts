/**
 * Store scope: put / get / resolve-in-a-worker time per backend, 1 KB to
 * 256 MB, each against structured clone of the same value in the same run
 * (`structuredClone` for put/get, `postMessage` of the value for the worker).
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Scope, ScopeResult } from '../lib/scope.js';
import { formatBytes, median } from '../lib/stats.js';
import { seriesChart } from '../lib/chart.js';
import { FileStore, LocalConnector, SharedMemoryStore, Store, shared, storeReference } from 'skein';
import type { StoreReference } from 'skein';

const here = path.dirname(fileURLToPath(import.meta.url));
const distUrl = pathToFileURL(path.resolve(here, '../../dist/src/index.js')).href;

type Backend = 'local' | 'shared-memory' | 'shared()' | 'file';
const BACKENDS: Backend[] = ['local', 'shared-memory', 'shared()', 'file'];

// The worker resolves what it is sent and touches both ends of the array, so
// a lazy view and an eager copy are compared on equal terms.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const skein = import(${JSON.stringify(distUrl)});
parentPort.on('message', async ({ ref, value }) => {
  const { proxyFromReference, extract } = await skein;
  const xs = ref ? extract(proxyFromReference(ref)) : value;
  parentPort.postMessage(xs[0] + xs[xs.length - 1]);
});`;

class Echo {
  readonly #worker = new Worker(WORKER, { eval: true });

  send(message: { ref?: StoreReference; value?: Float64Array }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#worker.once('message', resolve);
      this.#worker.once('error', reject);
      this.#worker.postMessage(message);
    }).finally(() => this.#worker.removeAllListeners('error'));
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

function makeStore(backend: Backend): Store<unknown> {
  // cacheSize 0: every get and every worker resolve fetches and decodes, as a first use does.
  if (backend === 'local') return new Store(new LocalConnector(), { cacheSize: 0 }) as Store<unknown>;
  if (backend === 'file') return new FileStore({ cacheSize: 0 }) as Store<unknown>;
  return new SharedMemoryStore({ cacheSize: 0 }) as Store<unknown>;
}

function makeValue(backend: Backend, bytes: number): Float64Array {
  const n = bytes / 8;
  const xs = backend === 'shared()' ? shared(Float64Array, n) : new Float64Array(n);
  for (let i = 0; i < n; i += 512) xs[i] = i;
  return xs;
}

async function timeOnce(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface Row {
  size: number;
  backend: Backend;
  putMs: number;
  getMs: number;
  cloneMs: number;
  workerMs: number | undefined;
  postMs: number;
}

const scope: Scope = {
  name: 'stores',
  description:
    'Store put / get / resolve-in-a-worker time for a Float64Array, per backend, against structured clone of the same value ' +
    '(structuredClone for put and get, postMessage of the value for the worker). Medians; stores run with cacheSize 0 so every ' +
    'get and every worker resolve reads and decodes. `shared()` is the shared-memory store given a value allocated with `shared(Float64Array, n)`.',
  async run({ quick, log }): Promise<ScopeResult> {
    const sizes = quick ? [2 ** 10, 2 ** 16, 2 ** 20] : [2 ** 10, 2 ** 16, 2 ** 20, 2 ** 24, 2 ** 28];
    const repeatsFor = (size: number): number => (quick ? 3 : size >= 2 ** 28 ? 5 : size >= 2 ** 24 ? 11 : 21);
    const rows: Row[] = [];
    const echo = new Echo();
    try {
      for (const size of sizes) {
        const repeats = repeatsFor(size);
        const plain = makeValue('local', size);
        // Baselines, once per size.
        await timeOnce(() => structuredClone(plain));
        const clone: number[] = [];
        for (let i = 0; i < repeats; i++) clone.push(await timeOnce(() => structuredClone(plain)));
        const cloneMs = median(clone);
        await echo.send({ value: plain });
        const post: number[] = [];
        for (let i = 0; i < repeats; i++) post.push(await timeOnce(() => echo.send({ value: plain })));
        const postMs = median(post);

        for (const backend of BACKENDS) {
          const store = makeStore(backend);
          try {
            const value = backend === 'shared()' ? makeValue(backend, size) : plain;
            const put: number[] = [];
            const get: number[] = [];
            const worker: number[] = [];
            for (let i = 0; i <= repeats; i++) {
              let key: unknown;
              const tPut = await timeOnce(async () => {
                key = await store.put(value);
              });
              const tGet = await timeOnce(() => store.get(key));
              let tWorker: number | undefined;
              if (backend !== 'local') {
                const ref = storeReference(store.proxyFromKey(key as never))!;
                tWorker = await timeOnce(() => echo.send({ ref }));
              }
              await store.evict(key);
              if (i === 0) continue; // warm-up
              put.push(tPut);
              get.push(tGet);
              if (tWorker !== undefined) worker.push(tWorker);
            }
            const row: Row = {
              size,
              backend,
              putMs: median(put),
              getMs: median(get),
              cloneMs,
              workerMs: worker.length > 0 ? median(worker) : undefined,
              postMs,
            };
            rows.push(row);
            log(
              `${formatBytes(size).padStart(7)} ${backend.padEnd(24)} put ${fmt(row.putMs)} get ${fmt(row.getMs)} clone ${fmt(cloneMs)}` +
                ` | worker ${row.workerMs === undefined ? 'n/a' : fmt(row.workerMs)} postMessage ${fmt(postMs)}`,
            );
          } finally {
            await store.close();
          }
        }
      }
    } finally {
      await echo.close();
    }

    const columns = ['size', 'backend', 'put ms', 'get ms', 'structuredClone ms', 'put / clone', 'get / clone', 'resolve in worker ms', 'postMessage ms', 'resolve / postMessage'];
    const table = rows.map((r) => [
      formatBytes(r.size),
      r.backend,
      fmt(r.putMs),
      fmt(r.getMs),
      fmt(r.cloneMs),
      ratio(r.putMs, r.cloneMs),
      ratio(r.getMs, r.cloneMs),
      r.workerMs === undefined ? 'n/a (one thread)' : fmt(r.workerMs),
      fmt(r.postMs),
      r.workerMs === undefined ? 'n/a' : ratio(r.workerMs, r.postMs),
    ]);

    const charts: string[] = [];
    if (!quick) {
      const points: Record<string, unknown>[] = [];
      const sizesSeen = new Set<number>();
      for (const r of rows) {
        points.push({ op: 'put', size: r.size, ms: r.putMs, method: r.backend });
        points.push({ op: 'get', size: r.size, ms: r.getMs, method: r.backend });
        if (r.workerMs !== undefined) points.push({ op: 'resolve in a worker', size: r.size, ms: r.workerMs, method: r.backend });
        if (!sizesSeen.has(r.size)) {
          sizesSeen.add(r.size);
          points.push({ op: 'put', size: r.size, ms: r.cloneMs, method: 'structuredClone' });
          points.push({ op: 'get', size: r.size, ms: r.cloneMs, method: 'structuredClone' });
          points.push({ op: 'resolve in a worker', size: r.size, ms: r.postMs, method: 'postMessage' });
        }
      }
      const chart = 'results/stores.svg';
      await seriesChart(
        {
          title: 'Store put / get / resolve in a worker, Float64Array (median ms, log-log)',
          data: points,
          x: { field: 'size', title: 'bytes', log: true },
          y: { field: 'ms', title: 'ms', log: true },
          series: { field: 'method', title: 'backend' },
          facet: { field: 'op', columns: 3, sort: ['put', 'get', 'resolve in a worker'] },
        },
        path.join(here, '..', chart),
      );
      charts.push(chart);
    }

    const largest = Math.max(...rows.map((r) => r.size));
    const sm = rows.find((r) => r.size === largest && r.backend === 'shared-memory');
    const targets: string[] = [];
    if (sm?.workerMs !== undefined) {
      const x = sm.postMs / sm.workerMs;
      targets.push(
        `shared-memory resolve in a worker of ${formatBytes(largest)} ${x.toFixed(1)}x faster than postMessage of the value (target >= 10x): ${x >= 10 ? 'met' : 'not met'}`,
      );
      const g = sm.cloneMs / sm.getMs;
      targets.push(
        `shared-memory get of ${formatBytes(largest)} ${g.toFixed(1)}x faster than structuredClone (target >= 10x): ${g >= 10 ? 'met' : 'not met'}`,
      );
    }
    return {
      table: { columns, rows: table },
      parameters: { value: 'Float64Array', sizes: sizes.map(formatBytes), repeats: sizes.map(repeatsFor), cacheSize: 0 },
      data: rows,
      targets,
      charts,
    };
  },
};

function fmt(ms: number): string {
  return ms < 0.1 ? ms.toFixed(4) : ms < 10 ? ms.toFixed(2) : ms.toFixed(0);
}

// Time over baseline time: `2.50x` (slower), or `1/400` (400 times faster) where tiny decimals would hide the figure.
function ratio(a: number, baseline: number): string {
  const r = a / baseline;
  return r >= 0.5 ? `${r.toFixed(2)}x` : `1/${(1 / r).toFixed(1 / r < 10 ? 1 : 0)}`;
}

export default scope;
