/**
 * Clone vs proxy transfer: one array (or list of records) sent to 8 tasks on
 * 2 workers, by raw Piscina (structured clone, transferList) and by skein
 * (offload off, 'shared', 'file', shared() allocation). Each measurement runs
 * in a process of its own (lib/transfer-child.ts) so its peak RSS is its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Scope } from '../lib/scope.js';
import { formatBytes, median } from '../lib/stats.js';
import { seriesChart } from '../lib/chart.js';
import { joblibPython, runJoblib, type JoblibTransfer } from '../lib/joblib.js';

const child = fileURLToPath(new URL('../lib/transfer-child.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

interface ChildResult {
  contender: string;
  kind: string;
  bytes: number;
  runs: { wallMs: number; blockedMs: number; floorMs?: number }[];
  peakAboveMb: number;
}

function runChild(contender: string, kind: string, bytes: number, repeats: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', tsx, child, contender, kind, String(bytes), String(repeats)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`${contender} ${kind} ${bytes}: exit ${code}`));
      else resolve(JSON.parse(line) as ChildResult);
    });
  });
}

const LABELS: Record<string, string> = {
  limit: 'physical limit (1 copy + compute/2)',
  'piscina-clone': 'raw Piscina, structured clone',
  'piscina-transfer': 'raw Piscina, transferList (a copy per task)',
  'skein-off': 'skein, offload off',
  'skein-shared': "skein 'shared' (default)",
  'skein-file': "skein 'file'",
  'skein-shared-alloc': 'skein, shared() allocation',
};

type Row = { kind: string; bytes: number; contender: string; wallMs: number; blockedMs: number; peakAboveMb: number; floorMs?: number };

/** Wall time, calling-thread busy time and peak RSS against value size, one panel per kind of data. */
export async function transferCharts(rows: readonly Row[], sizes: readonly number[]): Promise<string[]> {
  const data = rows.map((r) => ({ ...r, label: LABELS[r.contender] ?? r.contender, size: formatBytes(r.bytes), panel: r.kind === 'f64' ? 'Float64Array' : 'records' }));
  const sort = sizes.map(formatBytes);
  const charts: string[] = [];
  for (const [field, title, file] of [
    ['wallMs', 'wall time, ms (log)', 'transfer-wall.svg'],
    ['blockedMs', 'calling thread busy, ms (log)', 'transfer-blocked.svg'],
    ['peakAboveMb', 'peak RSS above baseline, MB', 'transfer-rss.svg'],
  ] as const) {
    await seriesChart(
      {
        title: `8 tasks on 2 workers: ${title}`,
        data: data.map((d) => ({ ...d, [field]: Math.max(d[field], 0.01) })),
        x: { field: 'size', title: 'value size', ordinal: true, sort },
        y: { field, title, log: field !== 'peakAboveMb' },
        series: { field: 'label', title: 'contender' },
        facet: { field: 'panel', columns: 2 },
      },
      fileURLToPath(new URL(`../results/${file}`, import.meta.url)),
    );
    charts.push(`results/${file}`);
  }
  return charts;
}

const scope: Scope = {
  name: 'transfer',
  description:
    'One value sent to 8 tasks on 2 workers; each task makes one pass over it. Wall time, time the calling thread was busy ' +
    '(event-loop utilization), and peak RSS of the process above its baseline during one run. Medians of repeats; each cell is its own process. ' +
    'With python3 available, joblib (loky, `n_jobs=2`, auto-memmapping, one pool kept open) sends the 128 MB array to 8 numpy tasks in its own process; ' +
    'each side is compared above its own compute floor (the tasks\' work run in the calling process, divided by the workers).',
  async run(ctx) {
    const KB = 1024;
    const MB = 1024 * KB;
    const sizes = ctx.quick ? [KB, MB, 16 * MB] : [KB, 64 * KB, MB, 16 * MB, 128 * MB, 256 * MB];
    // Cloning is the noisiest contender at large sizes (0.4-1.2x run to run here): more repeats for the binary cells.
    const repeatsFor = (kind: string, bytes: number) => (bytes <= 64 * KB ? 21 : bytes <= MB ? 9 : bytes <= 16 * MB || kind === 'f64' ? 7 : 3);
    const kinds: [string, string[]][] = [
      ['f64', ['limit', 'piscina-clone', 'piscina-transfer', 'skein-off', 'skein-shared', 'skein-file', 'skein-shared-alloc']],
      ['records', ['limit', 'piscina-clone', 'skein-off', 'skein-shared', 'skein-file']],
    ];
    const rows: Row[] = [];
    for (const [kind, contenders] of kinds) {
      for (const bytes of sizes) {
        for (const contender of contenders) {
          // Cloning 256 MB of records into 8 tasks takes most of a minute: once is enough to see it.
          const heavy = kind === 'records' && bytes > 128 * MB && (contender === 'piscina-clone' || contender === 'skein-off');
          const r = await runChild(contender, kind, bytes, heavy ? 1 : repeatsFor(kind, bytes));
          const row = {
            kind,
            bytes,
            contender,
            wallMs: median(r.runs.map((x) => x.wallMs)),
            blockedMs: median(r.runs.map((x) => x.blockedMs)),
            peakAboveMb: r.peakAboveMb,
            ...(contender === 'limit' ? { floorMs: median(r.runs.map((x) => x.floorMs ?? 0)) } : {}),
          };
          rows.push(row);
          ctx.log(`${kind} ${formatBytes(bytes)} ${contender}: ${row.wallMs.toFixed(1)} ms, blocked ${row.blockedMs.toFixed(1)} ms, peak +${row.peakAboveMb.toFixed(0)} MB`);
        }
      }
    }

    // shared() allocation: dispatch cost alone (tasks only read .length), 1 MB to 1 GB.
    const overheadSizes = ctx.quick ? [MB, 64 * MB] : [MB, 16 * MB, 256 * MB, 1024 * MB];
    const overhead: { bytes: number; wallMs: number }[] = [];
    for (const bytes of overheadSizes) {
      const r = await runChild('overhead-shared-alloc', 'f64', bytes, 15);
      overhead.push({ bytes, wallMs: median(r.runs.map((x) => x.wallMs)) });
      ctx.log(`shared() dispatch of 8 tasks, ${formatBytes(bytes)}: ${overhead.at(-1)!.wallMs.toFixed(2)} ms`);
    }

    const find = (kind: string, bytes: number, contender: string) => rows.find((r) => r.kind === kind && r.bytes === bytes && r.contender === contender);
    const targets: string[] = [];
    const at = ctx.quick ? 16 * MB : 128 * MB;
    const clone = find('f64', at, 'piscina-clone');
    const sharedRow = find('f64', at, 'skein-shared');
    const limit = find('f64', at, 'limit');
    if (clone && sharedRow && limit) {
      const speedup = clone.wallMs / sharedRow.wallMs;
      const vsLimit = sharedRow.wallMs / limit.wallMs;
      targets.push(`${formatBytes(at)} x 8 tasks: skein 'shared' ${speedup.toFixed(1)}x faster than raw Piscina clone (target >= 8x): ${speedup >= 8 ? 'met' : 'NOT met'}`);
      targets.push(`${formatBytes(at)} x 8 tasks: skein 'shared' at ${vsLimit.toFixed(2)}x the physical limit (target <= 1.3x): ${vsLimit <= 1.3 ? 'met' : 'NOT met'}`);
    }
    const biggest = sizes.at(-1)!;
    const mem = find('f64', biggest, 'skein-shared');
    if (mem) {
      const ratio = mem.peakAboveMb / (biggest / MB);
      targets.push(`${formatBytes(biggest)} array to 8 tasks: peak RSS +${mem.peakAboveMb.toFixed(0)} MB = ${ratio.toFixed(2)}x the array (target <= 1.5x): ${ratio <= 1.5 ? 'met' : 'NOT met'}`);
    }
    const maxOverhead = Math.max(...overhead.map((o) => o.wallMs));
    targets.push(`shared() allocation, dispatch of 8 tasks from ${formatBytes(overheadSizes[0]!)} to ${formatBytes(overheadSizes.at(-1)!)}: at most ${maxOverhead.toFixed(2)} ms (target < 2 ms, flat): ${maxOverhead < 2 ? 'met' : 'NOT met'}`);
    // Below the threshold the two differ only by offloading's checks: compare them in one
    // process, alternating, as the median of paired ratios.
    const below: { kind: string; bytes: number; ratio: number }[] = [];
    for (const bytes of sizes.filter((b) => b < MB)) {
      for (const kind of ['f64', 'records']) {
        const r = (await runChild('ab', kind, bytes, ctx.quick ? 51 : 601)) as unknown as { ratios: number[] };
        const ratio = median(r.ratios);
        below.push({ kind, bytes, ratio });
        targets.push(`${kind} ${formatBytes(bytes)} (below the threshold): 'shared' at ${ratio.toFixed(3)}x offload-off, paired median (target <= 1.05x): ${ratio <= 1.05 ? 'met' : 'NOT met'}`);
      }
    }

    // joblib beside skein: the same array to 8 tasks on 2 workers, each side
    // measured above its own compute floor (numpy's sum and skein's JS loop differ).
    const python = await joblibPython(ctx.log);
    let joblib: (JoblibTransfer & { wall: number; floor: number }) | undefined;
    if (python !== undefined) {
      const r = await runJoblib(python, 'transfer', at, ctx.quick ? 3 : 7);
      joblib = { ...r, wall: median(r.wallMs), floor: median(r.floorMs) };
      ctx.log(`joblib ${r.versions.joblib} (loky, auto-memmapping), ${formatBytes(at)} to 8 tasks: ${joblib.wall.toFixed(1)} ms, compute floor ${joblib.floor.toFixed(1)} ms`);
      if (sharedRow && limit?.floorMs !== undefined) {
        const mine = sharedRow.wallMs - limit.floorMs;
        const theirs = joblib.wall - joblib.floor;
        targets.push(
          `${formatBytes(at)} x 8 tasks beside joblib ${r.versions.joblib}: skein 'shared' ${mine.toFixed(1)} ms above its compute floor (${sharedRow.wallMs.toFixed(1)} - ${limit.floorMs.toFixed(1)}), ` +
            `joblib ${theirs.toFixed(1)} ms above its own (${joblib.wall.toFixed(1)} - ${joblib.floor.toFixed(1)}) (target: skein <= joblib): ${mine <= theirs ? 'met' : 'NOT met'}`,
        );
      }
    } else {
      targets.push('joblib comparison skipped (no python3 with venv and joblib/numpy)');
    }

    const charts = ctx.quick ? [] : await transferCharts(rows, sizes);

    const sizeCols = sizes.map(formatBytes);
    const tableRows: (string | number)[][] = [];
    for (const [kind, contenders] of kinds) {
      for (const contender of contenders) {
        tableRows.push([
          kind === 'f64' ? 'Float64Array' : 'records',
          LABELS[contender] ?? contender,
          ...sizes.map((b) => {
            const r = find(kind, b, contender);
            const base = find(kind, b, 'piscina-clone');
            if (!r) return '';
            const ratio = base && contender !== 'piscina-clone' ? ` (${(base.wallMs / r.wallMs).toFixed(1)}x)` : '';
            return `${r.wallMs.toFixed(1)} ms${ratio} / ${r.blockedMs.toFixed(1)} ms / +${r.peakAboveMb.toFixed(0)} MB`;
          }),
        ]);
      }
    }
    if (joblib) {
      const over = (wall: number, floor: number) => `${wall.toFixed(1)} ms (${(wall - floor).toFixed(1)} ms above a compute floor of ${floor.toFixed(1)} ms)`;
      tableRows.push(['Float64Array', `joblib ${joblib.versions.joblib} loky, auto-memmapping (${formatBytes(at)} only; its own process)`, ...sizes.map((b) => (b === at ? over(joblib!.wall, joblib!.floor) : ''))]);
      if (sharedRow && limit?.floorMs !== undefined) {
        tableRows.push(['Float64Array', `skein 'shared' against its compute floor (${formatBytes(at)} only)`, ...sizes.map((b) => (b === at ? over(sharedRow.wallMs, limit.floorMs!) : ''))]);
      }
    }
    return {
      parameters: { tasks: 8, nJobs: 2, sizes: sizeCols, maxNbytes: '1M', overheadSizes: overheadSizes.map(formatBytes) },
      table: { columns: ['data', 'contender', ...sizeCols.map((s) => `${s}: wall (x vs clone) / busy / peak RSS`)], rows: tableRows },
      data: { rows, overhead, below, joblib: joblib ?? 'skipped: no python3 with venv and joblib/numpy' },
      targets,
      charts,
    };
  },
};

export default scope;
