// The plain-JavaScript examples run with plain `node` after `npm run build`,
// importing skein by the package's own name.
import { expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

test('examples/quickstart.mjs', async () => {
  const result = await runNode([example('quickstart.mjs')], 120000);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('same answers as the sequential loop: true');
  expect(result.stdout).toContain('fast then slow');
  expect(result.stdout).toContain('wrapped: [false,true]');
  expect(result.stdout).toMatch(/5\. SyntaxError from task 2/);
}, 120000);

test('examples/large-argument.mjs, on a small dataset', async () => {
  const result = await runNode([example('large-argument.mjs'), '4'], 120000);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('same statistics in every mode: true');
}, 120000);
