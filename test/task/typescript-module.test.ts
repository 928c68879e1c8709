import { describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { task } from 'skein';
import { runNode } from '../helpers.js';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe('task() names a TypeScript module as TypeScript does', () => {
  test('under tsx, `./ts-task.js` runs ts-task.ts in the workers', async () => {
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const result = await runNode([tsx, fileURLToPath(fixture('run-ts-task-by-js-name.ts'))], 30000);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ url: 'ts-task.ts', out: ['A:0cc175', 'B:92eb5f'] });
  });

  // A worker that inherits tsx's preload starts several times slower and gets none of its hooks on Node 20.
  test('under tsx, pool workers start without its preload, and TypeScript task modules still run in them', async () => {
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const result = await runNode([tsx, fileURLToPath(fixture('pool-flags-under-tsx.ts'))], 30000);
    expect(result.stderr).toBe('');
    const { caller, worker, out } = JSON.parse(result.stdout) as { caller: string[]; worker: string[]; out: string[] };
    expect(caller.some((flag) => /[\\/]tsx[\\/]dist[\\/]/.test(flag))).toBe(true);
    expect(worker.some((flag) => /[\\/]tsx[\\/]dist[\\/]/.test(flag))).toBe(false);
    expect(out).toEqual(['A:0cc175', 'B:92eb5f']);
  });

  test('under tsx with a flag workers may not be given (--expose-gc), the pool starts with none and runs', async () => {
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const result = await runNode([tsx, '--expose-gc', fileURLToPath(fixture('pool-flags-under-tsx.ts'))], 30000);
    expect(result.stderr).toBe('');
    const { caller, worker, out } = JSON.parse(result.stdout) as { caller: string[]; worker: string[]; out: string[] };
    expect(caller).toContain('--expose-gc');
    expect(worker).toEqual([]);
    expect(out).toEqual(['A:0cc175', 'B:92eb5f']);
  });

  test('a .js file that exists is used as it is', () => {
    expect(task(fixture('math-task.mjs'), 'digest').url).toBe(fixture('math-task.mjs').href);
  });

  test('without tsx, the .ts found for a .js name asks for tsx or a build, rather than saying not found', () => {
    expect(() => task(fixture('ts-task.js'), 'shout')).toThrow(/ts-task\.ts is TypeScript: run the caller under tsx/);
  });

  test('a name with neither file is still not found', () => {
    expect(() => task(fixture('no-such-task.js'), 'f')).toThrow(/Task module not found: .*no-such-task\.js$/);
    expect(() => task(fixture('no-such-task.mjs'), 'f')).toThrow(/Task module not found/);
  });
});
