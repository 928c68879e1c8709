import { describe, expect, test } from '@jest/globals';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runNode } from '../helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

// Before: every one of these frames named the file the worker compiled, `skein-task:///parseRecord-adf6a025.js:3:65`.
describe('stack frames of shipped functions point where they were written', () => {
  test('a function, a captured helper, a method and a callback it left behind: file, line and column', async () => {
    const result = await runNode([fixture('stack-origin.mjs')]);
    expect(result.code).toBe(0);
    const url = pathToFileURL(fixture('stack-origin.mjs')).href;
    expect(JSON.parse(result.stdout)).toEqual([
      { frames: [`at parseRecord (${url}:7:30)`] },
      { frames: [`at check (${url}:12:11)`, `at eval (${url}:16:46)`] },
      { frames: [`at deep (${url}:17:46)`] },
      { frames: [], cause: [`at Timeout.eval [as _onTimeout] (${url}:20:11)`] },
    ]);
  });

  test('TypeScript run by tsx: through the source map, to the line of the .ts file', async () => {
    const result = await runNode([tsx, fixture('stack-origin.mts')]);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([`at parseRecord (${pathToFileURL(fixture('stack-origin.mts')).href}:10:30)`]);
  });
});
