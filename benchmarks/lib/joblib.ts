/**
 * joblib beside skein: a temporary virtualenv with joblib and numpy (made
 * once, from the package index), and benchmarks/python/joblib_bench.py run
 * as a child process that prints its timings as JSON. Without python3 (or
 * venv, or the index) the comparison is skipped with a note.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const VENV = path.join(tmpdir(), 'skein-bench-venv');
const SCRIPT = fileURLToPath(new URL('../python/joblib_bench.py', import.meta.url));

let ready: Promise<string | undefined> | undefined;

/** The virtualenv's python with joblib and numpy importable, or undefined (after logging why) when there is none to be had. */
export function joblibPython(log: (line: string) => void): Promise<string | undefined> {
  return (ready ??= (async () => {
    const python = path.join(VENV, 'bin', 'python');
    const importable = () =>
      run(python, ['-c', 'import joblib, numpy'], { timeout: 60_000 }).then(
        () => true,
        () => false,
      );
    try {
      if (!(await access(python).then(() => true, () => false))) {
        log(`making a virtualenv for joblib at ${VENV}`);
        await run('python3', ['-m', 'venv', VENV], { timeout: 300_000 });
      }
      if (!(await importable())) {
        log('installing joblib and numpy into it');
        await run(path.join(VENV, 'bin', 'pip'), ['install', '--quiet', 'joblib', 'numpy'], { timeout: 900_000 });
      }
      if (!(await importable())) throw new Error('joblib or numpy still not importable');
      return python;
    } catch (error) {
      log(`joblib comparison skipped: no python3 with venv and joblib/numpy available (${(error as Error).message.split('\n')[0]})`);
      return undefined;
    }
  })());
}

export interface JoblibDispatch {
  readonly tasks: number;
  readonly coldMs: number;
  readonly warmMs: number[];
  readonly sequentialMs: number;
  readonly versions: Record<string, string>;
}

export interface JoblibTransfer {
  readonly bytes: number;
  readonly tasks: number;
  readonly wallMs: number[];
  readonly floorMs: number[];
  readonly versions: Record<string, string>;
}

/** One run of the python side in a fresh process. */
export async function runJoblib(python: string, mode: 'dispatch', size: number, repeats: number): Promise<JoblibDispatch>;
export async function runJoblib(python: string, mode: 'transfer', size: number, repeats: number): Promise<JoblibTransfer>;
export async function runJoblib(python: string, mode: string, size: number, repeats: number): Promise<unknown> {
  const { stdout } = await run(python, [SCRIPT, mode, String(size), String(repeats)], { timeout: 600_000, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}
