// The package as a newcomer gets it: `npm pack`, the tarball installed into a
// new app, then plain ESM, CommonJS, a TypeScript consumer with the config
// `tsc --init` writes and no @types/node, and tsx with a `.ts` task module
// named by its `.js` name. Offline: the app gets a lockfile cut from ours, so
// npm takes every dependency from the cache the repository's install filled.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const tsx = path.join(root, 'node_modules/tsx/dist/cli.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// npm run-script exports the outer package's settings (npm_package_*,
// npm_config_local_prefix, ...) to its children; an npm started from here
// must see the app as its project, not skein.
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^(npm_(package|lifecycle|command|config_local_prefix)|INIT_CWD$)/i.test(name)),
);

function run(command: string, args: string[], cwd: string, timeoutMs = 120000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function succeed(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

let app: string;
let files: string[];

beforeAll(async () => {
  app = mkdtempSync(path.join(tmpdir(), 'skein-package-'));
  // dist/ is built by pretest; --ignore-scripts keeps `prepare` from building again.
  const packed = JSON.parse(await succeed('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', app], root)) as [
    { filename: string; files: { path: string }[] },
  ];
  const tarball = `file:${packed[0].filename}`;
  files = packed[0].files.map((f) => f.path);

  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  // skein's runtime dependencies sit where our own install put them.
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { skein: tarball } },
    'node_modules/skein': {
      version: manifest.version,
      resolved: tarball,
      license: manifest.license,
      dependencies: manifest.dependencies,
      engines: manifest.engines,
      bin: manifest.bin,
    },
  };
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where !== '' && !entry.dev && !entry.devOptional) packages[where] = entry;
  }
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { skein: tarball } }));
  writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
  await succeed('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
}, 180000);

afterAll(() => {
  if (app !== undefined) rmSync(app, { recursive: true, force: true });
});

describe('the tarball', () => {
  test('holds the build, its sources, the license and the changelog, and no tests', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'src/index.ts']) {
      expect(files).toContain(file);
    }
    expect(files.filter((f) => /^(test|benchmarks|examples|scripts)\//.test(f))).toEqual([]);
  });

  test('every source map and declaration map points at a file that ships', () => {
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(path.join(app, 'node_modules/skein', map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const target = path.posix.join(path.posix.dirname(map), source);
        if (!files.includes(target)) missing.push(`${map} → ${target}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('a new app that installed the tarball', () => {
  test('plain ESM imports skein and skein/distributed and runs a parallel job', async () => {
    writeFileSync(
      path.join(app, 'main.mjs'),
      `import { parallel, delayed } from 'skein';
import { bullmq } from 'skein/distributed';
const out = await parallel([1, 2, 3, 4].map((x) => delayed((y) => y * y)(x)), { nJobs: 2 });
console.log(JSON.stringify({ out, bullmq: typeof bullmq }));
`,
    );
    const result = await run(process.execPath, [path.join(app, 'main.mjs')], app);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ out: [1, 4, 9, 16], bullmq: 'function' });
  });

  test('CommonJS require()s skein and skein/distributed and runs a parallel job', async () => {
    writeFileSync(
      path.join(app, 'main.cjs'),
      `const { Parallel, delayed } = require('skein');
const { bullmq } = require('skein/distributed');
const par = new Parallel({ nJobs: 2 });
par.run([1, 2, 3, 4].map((x) => delayed((y) => y * y)(x)))
  .then((out) => console.log(JSON.stringify({ out, bullmq: typeof bullmq })))
  .finally(() => par.close());
`,
    );
    const result = await run(process.execPath, [path.join(app, 'main.cjs')], app);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ out: [1, 4, 9, 16], bullmq: 'function' });
  });

  test('a TypeScript consumer type-checks with the tsconfig `tsc --init` writes, without @types/node', async () => {
    expect(() => createRequire(path.join(app, 'x.js')).resolve('@types/node/package.json')).toThrow();
    writeFileSync(
      path.join(app, 'consumer.ts'),
      `import { Parallel, delayed, parallel, type ParallelOptions } from 'skein';
import { bullmq } from 'skein/distributed';

const options = { nJobs: 2 } satisfies ParallelOptions;
const squares: number[] = await parallel([1, 2].map((x) => delayed((y: number) => y * y)(x)), options);

await using par = new Parallel({ nJobs: 2 });
const lengths: number[] = await par.run(['a', 'bb'].map((s) => delayed((t: string) => t.length)(s)));

const other = new Parallel({ nJobs: 2 });
try {
  // @ts-expect-error: the types are skein's, not any
  await other.run([delayed((y: number) => y)('not a number')]);
} finally {
  await other.close();
}
export { squares, lengths, bullmq };
`,
    );
    await succeed(process.execPath, [tsc, '--init'], app);
    expect(existsSync(path.join(app, 'tsconfig.json'))).toBe(true);
    const defaults = await run(process.execPath, [tsc, '-p', app, '--noEmit'], app);
    expect(defaults.stdout + defaults.stderr).toBe('');
    expect(defaults.code).toBe(0);
    // A `lib` that stops before esnext (here through the target) was where
    // `await using` could not find AsyncDisposable.
    const older = await run(process.execPath, [tsc, '-p', app, '--noEmit', '--target', 'es2022'], app);
    expect(older.stdout + older.stderr).toBe('');
    expect(older.code).toBe(0);
  }, 120000);

  test('tsx runs a .ts task module named by its .js name', async () => {
    writeFileSync(path.join(app, 'fib.ts'), 'export function fib(n: number): number {\n  return n < 2 ? n : fib(n - 1) + fib(n - 2);\n}\n');
    writeFileSync(
      path.join(app, 'run-fib.ts'),
      `import { parallel, delayed, task } from 'skein';
const fib = task<typeof import('./fib.js').fib>(new URL('./fib.js', import.meta.url), 'fib');
console.log(JSON.stringify(await parallel([10, 20].map((n) => delayed(fib)(n)), { nJobs: 2 })));
`,
    );
    const result = await run(process.execPath, [tsx, path.join(app, 'run-fib.ts')], app);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([55, 6765]);
  }, 60000);
});
