/**
 * Soak: does memory stay flat over long use of one Parallel? 1M tasks through
 * iter(), 200 runs of 1,000 tasks, and runs over new large arrays of growing
 * sizes. Each phase runs in a process of its own (lib/soak-child.ts) with RSS
 * sampled along the way; figures are medians over repeats.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Scope } from '../lib/scope.js';
import { median } from '../lib/stats.js';

const child = fileURLToPath(new URL('../lib/soak-child.ts', import.meta.url));

interface PhaseResult {
  phase: string;
  samples: { at: number; mb: number }[];
  closed: number;
  peakMb: number;
  wallMs: number;
  sizes: number[];
}

function runPhase(phase: string, quick: boolean): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    // tsx as a loader, not its CLI: the CLI starts another process, which would not get --expose-gc.
    const p = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', child, phase, ...(quick ? ['quick'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`soak ${phase}: exit ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)!) as PhaseResult);
    });
  });
}

/** Per repeat: first sample, median and max of the samples, the last one, and how much the second half sits above the first. */
function summarize(r: PhaseResult) {
  const mbs = r.samples.map((s) => s.mb);
  const half = Math.floor(mbs.length / 2);
  return {
    first: mbs[0]!,
    median: median(mbs),
    max: Math.max(...mbs),
    last: mbs.at(-1)!,
    trend: median(mbs.slice(half)) - median(mbs.slice(0, half)),
    peak: r.peakMb,
    closed: r.closed,
    wallS: r.wallMs / 1000,
  };
}

const mb = (x: number) => x.toFixed(0);

const scope: Scope = {
  name: 'soak',
  description:
    'Long use of one `Parallel` (2 workers): 1,000,000 trivial tasks through `iter()`, 200 runs of 1,000 tasks, and 8 runs over new ' +
    'Float64Arrays of 128 MB to 448 MB (one per run, dropped after it). Each phase in its own process; RSS above the baseline taken ' +
    'after a warm-up run, sampled after a collection (`gc()`) 20 times along the phase (`iter`: every 50,000 results; `runs`: every 10 runs; ' +
    '`arrays`: 8 times, after each run, once the caller dropped its array). Trend: median of the second half of the samples minus ' +
    'that of the first half (flat is 0). Peak: the process’s maximum RSS above the same baseline. Medians over repeats.',
  async run(ctx) {
    const repeats = ctx.quick ? 1 : 3;
    const phases = ['iter', 'runs', 'arrays'] as const;
    const raw: Record<string, PhaseResult[]> = {};
    for (const phase of phases) {
      raw[phase] = [];
      for (let r = 0; r < repeats; r++) {
        const result = await runPhase(phase, ctx.quick);
        raw[phase].push(result);
        const s = summarize(result);
        ctx.log(`${phase} #${r + 1}: first ${mb(s.first)} MB, median ${mb(s.median)} MB, max ${mb(s.max)} MB, trend ${mb(s.trend)} MB, peak ${mb(s.peak)} MB, ${s.wallS.toFixed(1)} s`);
      }
    }
    const stats = Object.fromEntries(
      phases.map((phase) => {
        const each = raw[phase]!.map(summarize);
        const pick = (k: keyof ReturnType<typeof summarize>) => median(each.map((e) => e[k]));
        return [phase, { first: pick('first'), median: pick('median'), max: pick('max'), last: pick('last'), trend: pick('trend'), peak: pick('peak'), closed: pick('closed'), wallS: pick('wallS') }];
      }),
    ) as Record<(typeof phases)[number], Record<'first' | 'median' | 'max' | 'last' | 'trend' | 'peak' | 'closed' | 'wallS', number>>;
    const sizes = raw.arrays![0]!.sizes;
    const largestMb = Math.max(...sizes) / 2 ** 20;
    // RSS after each array run, median over repeats, against that run's array.
    const perRun = sizes.map((bytes, i) => ({ arrayMb: bytes / 2 ** 20, rssMb: median(raw.arrays!.map((r) => r.samples[i]!.mb)) }));
    const labels: Record<string, string> = {
      iter: `iter(): ${ctx.quick ? '100,000' : '1,000,000'} tasks`,
      runs: `${ctx.quick ? 40 : 200} runs of 1,000 tasks`,
      arrays: `8 runs, new arrays of ${mb(sizes[0]! / 2 ** 20)}–${mb(largestMb)} MB`,
    };
    const arrays = stats.arrays;
    return {
      parameters: { nJobs: 2, repeats, phases: Object.values(labels) },
      table: {
        columns: ['phase', 'first sample MB', 'median MB', 'max MB', 'trend MB', 'peak MB', 'after close() MB', 'wall s'],
        rows: [
          // The arrays grow run after run: what is held follows them, a trend would say nothing.
          ...phases.map((p) => [labels[p]!, mb(stats[p].first), mb(stats[p].median), mb(stats[p].max), p === 'arrays' ? 'n/a' : mb(stats[p].trend), mb(stats[p].peak), mb(stats[p].closed), stats[p].wallS.toFixed(1)]),
          ...perRun.map((r) => [`arrays: after the ${mb(r.arrayMb)} MB run`, '', '', mb(r.rssMb), '', '', '', '']),
        ],
      },
      data: { raw, stats, perRun },
      targets: [
        `iter() trend ${mb(stats.iter.trend)} MB over the second half (target: flat, < 32 MB): ${stats.iter.trend < 32 ? 'met' : 'NOT met'}`,
        `runs trend ${mb(stats.runs.trend)} MB over the second half (target: flat, < 16 MB): ${stats.runs.trend < 16 ? 'met' : 'NOT met'}`,
        `arrays: at most ${mb(arrays.max)} MB held after a run, ${(arrays.max / largestMb).toFixed(2)}x the largest array (target < 2.5x): ${arrays.max < 2.5 * largestMb ? 'met' : 'NOT met'}`,
        `arrays: peak ${mb(arrays.peak)} MB, ${(arrays.peak / largestMb).toFixed(2)}x the largest array, against ${mb(sizes.reduce((a, b) => a + b, 0) / 2 ** 20)} MB for all of them`,
      ],
    };
  },
};

export default scope;
