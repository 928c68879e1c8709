// `npm run docs` builds the API reference from the doc comments with
// warnings as errors: a broken link or an undocumented referenced type fails
// here rather than in front of a reader. `--emit none` checks without writing.
import { expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

test('the API reference builds without a warning', async () => {
  const typedoc = fileURLToPath(new URL('../../node_modules/typedoc/bin/typedoc', import.meta.url));
  const result = await runNode([typedoc, '--emit', 'none'], 180000);
  expect(result.stdout + result.stderr).not.toMatch(/warning|error/i);
  expect(result.code).toBe(0);
}, 180000);
