/**
 * Remote environments: values that stay in a worker, behind handles.
 * `npx tsx examples/remote-env.ts` (after `npm run build`).
 *
 * First the ray-proxy tour (put, run, method calls, fetch, iteration), then
 * the reason to have it: a 200 MB lookup table built once in an environment
 * and queried 1,000 times, against sending the table with a `Parallel` run for
 * every query (auto-offload to shared memory, the default, and structured clone). Each side runs in a process of its own, so its peak memory is its own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Parallel, createRemoteEnv, delayed } from 'skein';

const N = 25_000_000; // 25M float64 = 200 MB
const QUERIES = 1000;
const PARALLEL_QUERIES = 3; // each re-sends 200 MB: measured on 3, scaled to 1,000

function buildTable(n: number): Float64Array {
  const table = new Float64Array(n);
  for (let i = 0; i < n; i++) table[i] = Math.sqrt(i) % 1;
  return table;
}

function query(table: Float64Array, at: number): number {
  let sum = 0;
  for (let k = 0; k < 1000; k++) sum += table[(at * 7919 + k) % table.length]!;
  return sum;
}

async function tour(): Promise<void> {
  await using env = await createRemoteEnv({ name: 'tour' });
  const x = await env.put('x'); // a handle: the value stays in the worker
  const n = await env.put(10);
  const nx = env.run((s: string, k: number) => s.repeat(k), x, n); // a new handle, at once
  console.log('repeat:', await nx.fetch()); // only fetch() waits
  const counter = env.run(() => ({ n: 0, inc(by: number) { return (this.n += by); } }));
  counter.inc(2);
  console.log('counter.inc(3):', await counter.inc(3).fetch(), ' counter.n:', await counter.n.fetch());
  const letters: string[] = [];
  for await (const item of nx.slice(0, 3)) letters.push(await item.fetch()); // iterate the remote value: handles
  console.log('iterated:', letters);
  x.release();
}

function peakAbove(baseline: number): number {
  return (process.resourceUsage().maxRSS * 1024 - baseline) / 2 ** 20;
}

async function remoteSide(): Promise<void> {
  const baseline = process.memoryUsage.rss();
  const t0 = performance.now();
  await using env = await createRemoteEnv({ name: 'lookup' });
  const table = env.run(buildTable, N); // built in the worker: never in this thread
  await env.ready();
  const built = performance.now() - t0;
  const t1 = performance.now();
  let total = 0;
  for (let q = 0; q < QUERIES; q++) {
    const answer = await env.run(query, table, q).fetch();
    if (q < PARALLEL_QUERIES) total += answer; // the same queries as the other side, to compare answers
  }
  const ms = performance.now() - t1;
  console.log(JSON.stringify({ side: 'remote', built, perQuery: ms / QUERIES, total1000: ms, peak: peakAbove(baseline), checksum: total }));
}

async function parallelSide(clone: boolean): Promise<void> {
  const baseline = process.memoryUsage.rss();
  const t0 = performance.now();
  const table = buildTable(N);
  const built = performance.now() - t0;
  let total = 0;
  // One warm pool (nJobs: 2, so the query runs in a worker: nJobs: 1 runs
  // inline), one run per query: what is measured is sending the table.
  await using par = new Parallel(clone ? { nJobs: 2, maxNbytes: null } : { nJobs: 2 });
  await par.run([delayed(query)(new Float64Array(8), 0), delayed(query)(new Float64Array(8), 0)]);
  const t1 = performance.now();
  for (let q = 0; q < PARALLEL_QUERIES; q++) total += (await par.run([delayed(query)(table, q)]))[0]!;
  const ms = performance.now() - t1;
  const perQuery = ms / PARALLEL_QUERIES;
  console.log(JSON.stringify({ side: 'parallel', built, perQuery, total1000: perQuery * QUERIES, peak: peakAbove(baseline), checksum: total }));
}

const side = process.argv[2];
if (side === 'remote') await remoteSide();
else if (side === 'parallel') await parallelSide(false);
else if (side === 'parallel-clone') await parallelSide(true);
else {
  await tour();
  console.log(`\nA ${(N * 8) / 1e6} MB lookup table, ${QUERIES.toLocaleString('en-US')} queries (each reads 1,000 entries)\n`);
  const run = (s: string) => {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), s], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(child.stderr);
    return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { side: string; built: number; perQuery: number; total1000: number; peak: number; checksum: number };
  };
  const remote = run('remote');
  const par = run('parallel');
  const parClone = run('parallel-clone');
  console.log('side                                        build     per query   1,000 queries   peak RSS above baseline');
  const row = (label: string, r: typeof remote, note = '') =>
    console.log(`${label.padEnd(42)} ${r.built.toFixed(0).padStart(6)} ms ${r.perQuery.toFixed(3).padStart(9)} ms ${r.total1000.toFixed(0).padStart(10)} ms${note} ${r.peak.toFixed(0).padStart(8)} MB`);
  row('remote env (table built once, stays there)', remote);
  row('Parallel.run(), table offloaded each run', par, ` (${PARALLEL_QUERIES} measured)`);
  row('Parallel.run({ maxNbytes: null }), cloned', parClone, ` (${PARALLEL_QUERIES} measured)`);
  const same = remote.checksum === par.checksum && par.checksum === parClone.checksum;
  console.log(`\nremote env per query: ${(par.perQuery / remote.perQuery).toFixed(0)}x faster than offload, ${(parClone.perQuery / remote.perQuery).toFixed(0)}x faster than clone; same answers: ${same}`);
}
