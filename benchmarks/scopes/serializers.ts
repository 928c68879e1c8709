/**
 * skein's serializer registry against node:v8 alone and JSON, per kind of
 * value and size: serialize time, deserialize time, bytes. Every ratio is
 * against v8 measured in the same rounds (methods interleaved, medians), so
 * machine noise hits all of them alike.
 */
import v8 from 'node:v8';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { deserialize, getSerializer, inspectFrame, serialize } from 'skein';
import type { Scope, ScopeResult } from '../lib/scope.js';
import { formatBytes, median } from '../lib/stats.js';
import { seriesChart } from '../lib/chart.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const gc = (globalThis as { gc?: () => void }).gc;
const KB = 1024;
const MB = 1024 * KB;

type Kind = 'Float64Array' | 'records' | 'config' | 'string' | 'Map';

interface Method {
  readonly name: string;
  serialize(value: unknown): unknown;
  deserialize(encoded: unknown): unknown;
  bytes(encoded: unknown): number;
}

const byteLength = (e: unknown): number => (typeof e === 'string' ? Buffer.byteLength(e) : (e as Uint8Array).byteLength);

// As a user calls it: default options (payload checksum off).
const skein: Method = { name: 'skein', serialize: (v) => serialize(v), deserialize: (e) => deserialize(e as Uint8Array), bytes: byteLength };
// What FileStore writes by default: the same with a CRC-32 over the payload.
const skeinCrc: Method = {
  name: 'skein, checksum on',
  serialize: (v) => serialize(v, { checksum: true }),
  deserialize: (e) => deserialize(e as Uint8Array),
  bytes: byteLength,
};
// msgpackr alone, records on, as skein's format: what skein's exactness check and frame cost on top.
// Its CommonJS build, a module instance of its own: msgpackr keeps its output buffer in module state, so
// sharing skein's (ESM) instance would have each pack start in a buffer the other just left cold.
const { Packr, Unpackr } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
const rawPackr = new Packr({ useRecords: true, moreTypes: false });
const rawUnpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, moreTypes: false });
const msgpackr: Method = { name: 'msgpackr', serialize: (v) => rawPackr.pack(v), deserialize: (e) => rawUnpackr.unpack(e as Uint8Array), bytes: byteLength };
const v8Method: Method = { name: 'v8', serialize: (v) => v8.serialize(v), deserialize: (e) => v8.deserialize(e as Buffer), bytes: byteLength };
const json = (toJson: (v: unknown) => unknown): Method => ({
  name: 'JSON',
  serialize: (v) => JSON.stringify(toJson(v)),
  deserialize: (e) => JSON.parse(e as string) as unknown,
  bytes: byteLength,
});
// The floor for one copy of the bytes into a fresh buffer, both ways. Not zero-filled
// first (skein's typed-array path is not either), so the floor is one pass, not two.
const memcpy: Method = {
  name: 'memcpy',
  serialize: (v) => {
    const src = v as Float64Array;
    const out = Buffer.allocUnsafeSlow(src.byteLength);
    out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return out;
  },
  deserialize: (e) => new Float64Array((e as Uint8Array).slice().buffer),
  bytes: byteLength,
};

const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore'.split(' ');

/** The issue's headline shape, `{ id, name, score, ok, tags }`: every string but `name` repeats, as in many real tables. */
function makeHeadlineRecords(count: number): unknown[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i,
    name: `user${i}`,
    score: (i * 7919) % 1000 / 7,
    ok: i % 3 === 0,
    tags: [words[i % words.length]!, words[(i * 7) % words.length]!],
  }));
}

/** Records holding sub-objects of one shape, as rows joined from several tables look. */
function makeNestedRecords(count: number): unknown[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i,
    name: `user${i}`,
    address: { city: words[i % words.length]!, zip: 10000 + (i % 5000) },
    geo: { lat: (i % 180) - 89.5, lon: (i % 360) - 179.5 },
    tags: [words[(i * 7) % words.length]!],
  }));
}

function makeRecords(count: number): unknown[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i,
    name: `user${i}`,
    email: `user${i}@example.com`,
    score: (i * 7919) % 1000 / 7,
    active: i % 3 === 0,
    tags: [words[i % words.length]!, words[(i * 7) % words.length]!],
  }));
}

function makeConfig(bytes: number): unknown {
  // Heterogeneous nesting: every section has its own keys, unlike records.
  let n = 0;
  const section = (depth: number): Record<string, unknown> => {
    const s: Record<string, unknown> = {};
    for (let i = 0; i < 6; i++) {
      const k = `${words[(n + i) % words.length]}_${n++}`;
      s[k] = i % 3 === 0 ? n * 1.5 : i % 3 === 1 ? `${words[n % words.length]} ${n}` : n % 2 === 0;
    }
    s['hosts'] = [`host-${n}.example.com`, `host-${n + 1}.example.com`];
    if (depth < 3) for (let i = 0; i < 3; i++) s[`child_${n}_${i}`] = section(depth + 1);
    return s;
  };
  const sections = Math.max(1, Math.round(bytes / 3400));
  const root: Record<string, unknown> = { version: 3, name: 'service' };
  for (let i = 0; i < sections; i++) root[`section_${i}`] = section(i === 0 && bytes < 2 * KB ? 3 : 0);
  return root;
}

function makeString(bytes: number): string {
  const line = 'The quick brown fox jumps over the lazy dog; 0123456789 lorem ipsum dolor sit amet.\n';
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

function make(kind: Kind, bytes: number): unknown {
  switch (kind) {
    case 'Float64Array':
      return Float64Array.from({ length: bytes / 8 }, (_, i) => Math.sin(i) * 1000);
    case 'records':
      return makeRecords(Math.max(1, Math.round(bytes / 95))); // ~95 v8 bytes per record
    case 'config':
      return makeConfig(bytes);
    case 'string':
      return makeString(bytes);
    case 'Map':
      return new Map(Array.from({ length: Math.max(1, Math.round(bytes / 24)) }, (_, i) => [`key-${i}`, i * 0.5]));
  }
}

function methodsFor(kind: Kind, bytes: number): Method[] {
  const methods = [skein, v8Method, skeinCrc];
  if (kind === 'Float64Array') methods.push(memcpy);
  if (kind === 'records') methods.push(msgpackr);
  // JSON of 256 MB (and of big typed arrays, as number text) takes minutes and gigabytes: skipped there.
  const jsonLimit = kind === 'Float64Array' ? 16 * MB : 64 * MB;
  if (bytes <= jsonLimit) methods.push(json(kind === 'Float64Array' ? (v) => Array.from(v as Float64Array) : kind === 'Map' ? (v) => [...(v as Map<unknown, unknown>)] : (v) => v));
  return methods;
}

/**
 * Calls per sample so that one sample takes at least ~3 ms (timer resolution and call overhead).
 * The first call is not timed (lazy compilation, loading a native addon); then the fastest of three
 * single calls sets the estimate, because one call that a GC pause lands in used to read as "slow"
 * and fix one call per sample for a microsecond-sized operation, so the whole cell timed the timer.
 */
function calibrate(fn: () => unknown): number {
  fn();
  let single = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    fn();
    single = Math.min(single, performance.now() - t0);
  }
  if (single >= 10) return 1;
  let k = Math.min(1 << 16, Math.max(1, Math.ceil(3 / Math.max(single, 1e-4))));
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < k; i++) fn();
    const dt = performance.now() - t0;
    if (dt >= 3 || k >= 1 << 16) return k;
    k *= 2;
  }
}

/**
 * The typed-array target on its own: skein's serialize of a Float64Array (defaults, and checksum on) against
 * one memcpy into a fresh buffer, and nothing else in the rounds. In the main table JSON and v8 share
 * the rounds, and their garbage (tens of MB per call) decides whether the next output buffer gets fresh
 * or recycled pages, which moves a 16 MB copy between 1 and 10 ms. Here the three allocate alike.
 */
function measureCopyFloor(bytes: number, quick: boolean): { label: string; memcpyMs: number; defaultVsCopy: number; crcVsCopy: number } {
  const cell = measureCell('Float64Array', bytes, formatBytes(bytes), make('Float64Array', bytes), quick, 15, [memcpy, skein, skeinCrc]);
  return {
    label: cell.label,
    memcpyMs: cell.results[memcpy.name]!.serializeMs,
    defaultVsCopy: paired(cell, skein.name, memcpy.name, 'serialize'),
    crcVsCopy: paired(cell, skeinCrc.name, memcpy.name, 'serialize'),
  };
}

/**
 * What the frame costs a small value per call: skein's serialize / deserialize against the
 * built-in serializer it picks, called directly on the same value in the same rounds.
 */
function measureFrameCost(quick: boolean): { label: string; serializeUs: number; deserializeUs: number }[] {
  const cases: [string, unknown][] = [
    ['8-byte Uint8Array', new Uint8Array(8)],
    ['Float64Array(4)', new Float64Array([1, 2, 3, 4])],
    ['short string', 'hello world'],
    ['number', 42],
    ['{ a, b }', { a: 1, b: 'x' }],
  ];
  return cases.map(([label, value]) => {
    const frame = serialize(value);
    const s = getSerializer(inspectFrame(frame).serializerId)!;
    // Given a fresh view per call, as skein gives it the payload (and a caller its new buffer): msgpackr caches a DataView on the buffer it reads.
    const bare: Method = {
      name: `${s.id} alone`,
      serialize: (v) => s.serialize(v),
      deserialize: (e) => s.deserialize(new Uint8Array((e as Uint8Array).buffer, (e as Uint8Array).byteOffset, (e as Uint8Array).byteLength)),
      bytes: byteLength,
    };
    const cell = measureCell('Map', 0, label, value, quick, 15, [skein, bare], { cellBudgetMs: quick ? 200 : 1500 });
    const diffUs = (op: 'serializeSamples' | 'deserializeSamples'): number =>
      median(cell.results[skein.name]![op].map((x, i) => x - cell.results[bare.name]![op][i]!)) * 1000;
    return { label, serializeUs: diffUs('serializeSamples'), deserializeUs: diffUs('deserializeSamples') };
  });
}

interface Cell {
  kind: Kind;
  size: number;
  label: string;
  /** Per method: medians, and the per-round samples the paired ratios are taken from. */
  results: Record<string, { serializeMs: number; deserializeMs: number; bytes: number; zeroCopy?: boolean; serializeSamples: number[]; deserializeSamples: number[] }>;
}

function measureCell(
  kind: Kind,
  size: number,
  label: string,
  value: unknown,
  quick: boolean,
  minRounds: number,
  methods = methodsFor(kind, size),
  { cellBudgetMs = 3000, maxRounds = 21 } = {},
): Cell {
  const byteLike = kind === 'Float64Array' || kind === 'string';
  const encoded = new Map(methods.map((m) => [m.name, m.serialize(value)]));
  const ks = new Map(methods.flatMap((m) => [[`s:${m.name}`, calibrate(() => m.serialize(value))], [`d:${m.name}`, calibrate(() => m.deserialize(encoded.get(m.name)))]]));
  const samples = new Map<string, number[]>([...ks.keys()].map((k) => [k, []]));
  const budgetMs = quick ? Math.min(300, cellBudgetMs) : cellBudgetMs;
  const start = performance.now();
  for (let round = 0; ; round++) {
    // Each round starts with a different method, so none always runs right after the same neighbour (and its garbage).
    for (const m of methods.map((_, i) => methods[(i + round) % methods.length]!)) {
      for (const [op, fn] of [['s', () => m.serialize(value)], ['d', () => m.deserialize(encoded.get(m.name))]] as const) {
        const k = ks.get(`${op}:${m.name}`)!;
        // Byte-like values of a megabyte or more: their time is mostly the output buffer, whose pages are
        // fresh or recycled depending on when the GC last freed the buffers before it. A full GC first puts
        // every method in the same allocator state. (Not for object graphs: the concurrent sweeping a GC
        // leaves behind slows the next heap walk, which would be charged to whichever method runs next.)
        if (k === 1 && byteLike) gc?.();
        const t0 = performance.now();
        for (let i = 0; i < k; i++) fn();
        samples.get(`${op}:${m.name}`)!.push((performance.now() - t0) / k);
      }
    }
    const elapsed = performance.now() - start;
    const rounds = round + 1;
    if (rounds >= (quick ? 3 : minRounds) && (elapsed > budgetMs || rounds >= maxRounds)) break;
  }
  const results: Cell['results'] = {};
  for (const m of methods) {
    const e = encoded.get(m.name);
    const back = m.deserialize(e);
    results[m.name] = {
      serializeMs: median(samples.get(`s:${m.name}`)!),
      deserializeMs: median(samples.get(`d:${m.name}`)!),
      serializeSamples: samples.get(`s:${m.name}`)!,
      deserializeSamples: samples.get(`d:${m.name}`)!,
      bytes: m.bytes(e),
      ...(m.name.startsWith('skein') && kind === 'Float64Array' ? { zeroCopy: (back as Float64Array).buffer === (e as Uint8Array).buffer } : {}),
    };
  }
  return { kind, size, label, results };
}

/**
 * How many times faster `b` is than `a` (a's time / b's time), as the median over rounds of the
 * ratio within each round: the two ran seconds apart, so the machine's slow drifts (other tenants,
 * frequency) cancel, which a ratio of two medians taken over the whole cell does not do.
 */
function paired(c: Cell, a: string, b: string, op: 'serialize' | 'deserialize'): number {
  const key = op === 'serialize' ? 'serializeSamples' : 'deserializeSamples';
  const xs = c.results[a]![key];
  const ys = c.results[b]![key];
  return median(xs.map((x, i) => x / ys[i]!));
}

const fmtMs = (ms: number | undefined): string => (ms === undefined ? '–' : ms < 0.01 ? `${(ms * 1000).toFixed(2)} µs` : ms < 10 ? `${ms.toFixed(3)} ms` : `${ms.toFixed(1)} ms`);
const ratio = (x: number): string => `${x.toFixed(2)}x`;

/** The issue's headline: skein as a user calls it vs raw msgpackr vs v8, nothing else in the rounds. */
export function measureHeadline(count: number, quick: boolean): Cell {
  return measureCell('records', count * 70, `${count / 1000}k records { id, name, score, ok, tags }`, makeHeadlineRecords(count), quick, 21, [skein, msgpackr, v8Method], {
    cellBudgetMs: 30_000,
    maxRounds: 41,
  });
}

/** The headline's ratios, each the median over rounds of the within-round ratio, over the rounds of `cells` pooled. */
export function headlineRatios(cells: Cell[]): { serVsRaw: number; deVsRaw: number; serVsV8: number; deVsV8: number; bytesVsV8: number; rawSerVsV8: number; rawDeVsV8: number; rounds: number } {
  const within = (a: string, b: string, op: 'serializeSamples' | 'deserializeSamples'): number =>
    median(cells.flatMap((c) => c.results[a]![op].map((x, i) => x / c.results[b]![op][i]!)));
  const h = cells[0]!.results;
  return {
    serVsRaw: within('skein', 'msgpackr', 'serializeSamples'),
    deVsRaw: within('skein', 'msgpackr', 'deserializeSamples'),
    serVsV8: within('v8', 'skein', 'serializeSamples'),
    deVsV8: within('v8', 'skein', 'deserializeSamples'),
    bytesVsV8: h['skein']!.bytes / h['v8']!.bytes,
    rawSerVsV8: within('v8', 'msgpackr', 'serializeSamples'),
    rawDeVsV8: within('v8', 'msgpackr', 'deserializeSamples'),
    rounds: cells.reduce((n, c) => n + c.results['skein']!.serializeSamples.length, 0),
  };
}

const scope: Scope = {
  name: 'serializers',
  description:
    "skein's serializer registry (`serialize`/`deserialize` with default options, i.e. without a payload checksum; and with `checksum: true`, as FileStore writes) vs `v8.serialize` alone vs `JSON` (and raw msgpackr for records), for a Float64Array, records (`{id, name, email, score, active, tags}`), a nested config object, a long ASCII string and a Map<string, number>. The headline is 200k records `{ id, name, score, ok, tags }`: skein as a user calls it vs raw msgpackr vs v8, alone in their rounds, measured first and again at the end of the run; also 200k records with an email field and with sub-objects (`{id, name, address: {city, zip}, geo: {lat, lon}, tags}`). Speed ratios are v8 time / skein time (above 1 = skein faster); bytes ratio is skein / v8.",
  async run(ctx): Promise<ScopeResult> {
    const kinds: Kind[] = ['Float64Array', 'records', 'config', 'string', 'Map'];
    const sizes = ctx.quick ? [KB, 64 * KB, MB] : [KB, 64 * KB, MB, 16 * MB, 64 * MB, 256 * MB];
    // Object graphs of 256 MB take ~3 GB of heap and minutes per round on this shared 2-core machine:
    // records stop at 64 MB, config and Map at 16 MB, to keep the run near 10 minutes.
    const maxSize: Record<Kind, number> = { Float64Array: 256 * MB, string: 256 * MB, records: 64 * MB, config: 16 * MB, Map: 16 * MB };
    const recordCount = ctx.quick ? 20_000 : 200_000;
    const headlineRuns = [measureHeadline(recordCount, ctx.quick)];
    gc?.();
    {
      const r = headlineRatios(headlineRuns);
      ctx.log(`headline (first): serialize ${ratio(r.serVsRaw)} raw msgpackr's time, deserialize ${ratio(r.deVsRaw)}; vs v8 ${ratio(r.serVsV8)} / ${ratio(r.deVsV8)}`);
    }
    const cells: Cell[] = [];
    for (const kind of kinds) {
      for (const size of sizes.filter((s) => s <= maxSize[kind])) {
        let value: unknown = make(kind, size);
        const cell = measureCell(kind, size, formatBytes(size), value, ctx.quick, size >= 64 * MB ? 5 : 9);
        value = undefined;
        cells.push(cell);
        const s = cell.results['skein']!;
        const v = cell.results['v8']!;
        ctx.log(`${kind} ${cell.label}: serialize ${ratio(paired(cell, 'v8', 'skein', 'serialize'))} vs v8, deserialize ${ratio(paired(cell, 'v8', 'skein', 'deserialize'))}, bytes ${ratio(s.bytes / v.bytes)}`);
        gc?.();
      }
    }
    // Two more record shapes with more rounds: msgpack's lead over v8 depends on the data
    // (a unique ~20-character string per record, the email, narrows it; sub-objects of one shape widen it).
    const headlines = [
      measureCell('records', recordCount * 95, `${recordCount / 1000}k records with email`, makeRecords(recordCount), ctx.quick, 15),
      measureCell('records', recordCount * 115, `${recordCount / 1000}k records with sub-objects`, makeNestedRecords(recordCount), ctx.quick, 15),
    ];
    cells.push(...headlines);
    gc?.();
    const copyFloor = (ctx.quick ? [MB] : [MB, 16 * MB, 64 * MB, 256 * MB]).map((b) => measureCopyFloor(b, ctx.quick));
    gc?.();
    const frameCost = measureFrameCost(ctx.quick);
    gc?.();
    headlineRuns.push(measureHeadline(recordCount, ctx.quick));

    const on = 'skein, checksum on';
    const columns = [
      'kind',
      'size',
      'skein ser',
      'checksum on ser',
      'v8 ser',
      'JSON ser',
      'skein de',
      'checksum on de',
      'v8 de',
      'JSON de',
      'skein bytes',
      'v8 bytes',
      'ser vs v8',
      'de vs v8',
      'ser vs v8, checksum on',
      'de vs v8, checksum on',
      'bytes vs v8',
    ];
    const headlineRow = (c: Cell, when: string): string[] => {
      const s = c.results['skein']!;
      const v = c.results['v8']!;
      const m = c.results['msgpackr']!;
      return [
        'records',
        `${c.label} (headline, ${when}; raw msgpackr ${fmtMs(m.serializeMs)} / ${fmtMs(m.deserializeMs)})`,
        fmtMs(s.serializeMs),
        '–',
        fmtMs(v.serializeMs),
        '–',
        fmtMs(s.deserializeMs),
        '–',
        fmtMs(v.deserializeMs),
        '–',
        formatBytes(s.bytes),
        formatBytes(v.bytes),
        ratio(paired(c, 'v8', 'skein', 'serialize')),
        ratio(paired(c, 'v8', 'skein', 'deserialize')),
        '–',
        '–',
        ratio(s.bytes / v.bytes),
      ];
    };
    const rows = [
      headlineRow(headlineRuns[0]!, 'first'),
      headlineRow(headlineRuns[1]!, 'again at the end'),
      ...cells.map((c) => {
        const s = c.results['skein']!;
        const n = c.results[on]!;
        const v = c.results['v8']!;
        const j = c.results['JSON'];
        return [
          c.kind,
          c.label,
          fmtMs(s.serializeMs),
          fmtMs(n.serializeMs),
          fmtMs(v.serializeMs),
          fmtMs(j?.serializeMs),
          fmtMs(s.deserializeMs),
          fmtMs(n.deserializeMs),
          fmtMs(v.deserializeMs),
          fmtMs(j?.deserializeMs),
          formatBytes(s.bytes),
          formatBytes(v.bytes),
          ratio(paired(c, 'v8', 'skein', 'serialize')),
          ratio(paired(c, 'v8', 'skein', 'deserialize')),
          ratio(paired(c, 'v8', on, 'serialize')),
          ratio(paired(c, 'v8', on, 'deserialize')),
          ratio(s.bytes / v.bytes),
        ];
      }),
    ];

    const targets: string[] = [];
    const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
    const label = headlineRuns[0]!.label;
    for (const [runs, when] of [
      [[headlineRuns[0]!], 'first run'],
      [[headlineRuns[1]!], 'run again at the end'],
      [headlineRuns, 'both runs pooled'],
    ] as const) {
      const r = headlineRatios([...runs]);
      targets.push(
        `${label}, ${when} (${r.rounds} rounds): serialize ${ratio(r.serVsRaw)} raw msgpackr's time (target <= 1.10x): ${met(r.serVsRaw <= 1.1)}; deserialize ${ratio(r.deVsRaw)} (target <= 1.00x): ${met(r.deVsRaw <= 1.0)}; ` +
          `serialize ${ratio(r.serVsV8)} faster than v8 (target >= 2x): ${met(r.serVsV8 >= 2)}; deserialize ${ratio(r.deVsV8)} (target >= 2.5x): ${met(r.deVsV8 >= 2.5)}; ` +
          `bytes ${ratio(r.bytesVsV8)} of v8 (target <= 0.6x): ${met(r.bytesVsV8 <= 0.6)}; raw msgpackr vs v8 in the same rounds: ${ratio(r.rawSerVsV8)} / ${ratio(r.rawDeVsV8)}`,
      );
    }
    for (const headline of headlines) {
      const h = headline.results;
      targets.push(
        `${headline.label}: serialize ${ratio(paired(headline, 'v8', 'skein', 'serialize'))} faster than v8 (raw msgpackr ${ratio(paired(headline, 'v8', 'msgpackr', 'serialize'))}), deserialize ${ratio(paired(headline, 'v8', 'skein', 'deserialize'))} (raw msgpackr ${ratio(paired(headline, 'v8', 'msgpackr', 'deserialize'))}), bytes ${ratio(h['skein']!.bytes / h['v8']!.bytes)} of v8; skein / raw msgpackr time: serialize ${ratio(paired(headline, 'skein', 'msgpackr', 'serialize'))}, deserialize ${ratio(paired(headline, 'skein', 'msgpackr', 'deserialize'))}`,
      );
    }
    const f64 = cells.filter((c) => c.kind === 'Float64Array');
    const floor = (pick: (f: (typeof copyFloor)[number]) => number): string => copyFloor.map((f) => `${f.label} ${ratio(1 / pick(f))}`).join(', ');
    targets.push(
      `Float64Array serialize with the default options, speed vs one memcpy (measured on their own, memcpy ${copyFloor.map((f) => `${f.label} ${fmtMs(f.memcpyMs)}`).join(', ')}): ${floor((f) => f.defaultVsCopy)} (target >= 0.9x from 1 MB up): ${met(copyFloor.every((f) => f.defaultVsCopy <= 1 / 0.9))}`,
    );
    targets.push(`Float64Array serialize with checksum: true, speed vs one memcpy: ${floor((f) => f.crcVsCopy)} (for reference: one more pass over the bytes)`);
    const zero = f64.every((c) => c.results['skein']!.zeroCopy === true);
    targets.push(
      `Float64Array deserialize is a zero-copy view of the frame at every size: ${met(zero)} (skein de / memcpy de: ${f64.map((c) => `${c.label} ${ratio(paired(c, 'skein', 'memcpy', 'deserialize'))}`).join(', ')})`,
    );
    targets.push(
      `small values, fixed frame cost per call (skein minus the serializer it picks, called alone; median of per-round differences): ${frameCost
        .map((f) => `${f.label} ${f.serializeUs.toFixed(2)} µs / ${f.deserializeUs.toFixed(2)} µs`)
        .join(', ')} (serialize / deserialize; target <= 0.5 µs): ${met(frameCost.every((f) => f.serializeUs <= 0.5 && f.deserializeUs <= 0.5))}`,
    );
    const slower = (name: string): string[] =>
      cells.flatMap((c) =>
        (['serialize', 'deserialize'] as const).flatMap((op) => {
          const r = paired(c, 'v8', name, op);
          return r < 1 / 1.1 ? [`${c.kind} ${c.label} ${op} ${ratio(r)}`] : [];
        }),
      );
    for (const [name, how] of [['skein', 'default options'], [on, 'checksum on']] as const) {
      const slow = slower(name);
      targets.push(`no kind slower than v8 by more than 10% (ratio >= 0.91x everywhere), ${how}: ${met(slow.length === 0)}${slow.length ? ` — below: ${slow.join('; ')}` : ''}`);
    }

    const points = cells
      .filter((c) => !headlines.includes(c))
      .flatMap((c) =>
        Object.entries(c.results).map(([method, r]) => ({ kind: c.kind, size: c.size, method, serializeMs: r.serializeMs, deserializeMs: r.deserializeMs, bytes: r.bytes })),
      );
    const ratios = cells
      .filter((c) => !headlines.includes(c))
      .flatMap((c) => {
        const s = c.results['skein']!;
        const v = c.results['v8']!;
        return [
          { kind: c.kind, size: c.size, op: 'serialize', ratio: paired(c, 'v8', 'skein', 'serialize') },
          { kind: c.kind, size: c.size, op: 'deserialize', ratio: paired(c, 'v8', 'skein', 'deserialize') },
          { kind: c.kind, size: c.size, op: 'serialize, checksum on', ratio: paired(c, 'v8', on, 'serialize') },
          { kind: c.kind, size: c.size, op: 'deserialize, checksum on', ratio: paired(c, 'v8', on, 'deserialize') },
          { kind: c.kind, size: c.size, op: 'bytes (v8 / skein)', ratio: v.bytes / s.bytes },
        ];
      });
    const suffix = ctx.quick ? '-quick' : '';
    const charts: string[] = [];
    const sizeAxis = { field: 'size', title: 'value size (bytes)', log: true };
    const common = { data: points, x: sizeAxis, series: { field: 'method', title: 'method' }, facet: { field: 'kind', columns: 3, sort: kinds } } as const;
    for (const [field, title, file] of [
      ['serializeMs', 'serialize time (ms, median)', 'serialize-time'],
      ['deserializeMs', 'deserialize time (ms, median)', 'deserialize-time'],
      ['bytes', 'encoded size (bytes)', 'bytes'],
    ] as const) {
      const rel = `results/serializers-${file}${suffix}.svg`;
      await seriesChart({ ...common, title: `serializers: ${title}`, y: { field, title, log: true } }, path.join(here, '..', rel));
      charts.push(rel);
    }
    const rel = `results/serializers-vs-v8${suffix}.svg`;
    await seriesChart(
      {
        title: 'serializers: skein vs v8 (above 1 = skein better)',
        data: ratios,
        x: sizeAxis,
        y: { field: 'ratio', title: 'v8 / skein', log: true },
        series: { field: 'op', title: '' },
        facet: { field: 'kind', columns: 3, sort: kinds },
        rule: 1,
      },
      path.join(here, '..', rel),
    );
    charts.push(rel);

    return {
      table: { columns, rows },
      parameters: {
        sizes: sizes.map(formatBytes),
        maxSizePerKind: Object.fromEntries(Object.entries(maxSize).map(([k, v]) => [k, formatBytes(v)])),
        headlineRecords: recordCount,
        rounds: ctx.quick ? 3 : 'adaptive: >= 9 (>= 5 at 64 MB+, >= 15 for the other record shapes), up to 21 or ~3 s per cell; headline >= 21, up to 41 or ~30 s per run',
        jsonSkipped: 'Float64Array > 16 MB, everything > 64 MB',
        statistic: 'times: median of rounds; ratios: median over rounds of the ratio within the round; methods interleaved, each round starting with the next method; a full GC between cells, and before each one-call sample of a Float64Array or string',
        checksum: 'off by default; with checksum: true, CRC-32 by @node-rs/crc32 (SIMD)',
      },
      data: { headlineRuns, cells, copyFloor, frameCost },
      targets,
      charts,
    };
  },
};

export default scope;
