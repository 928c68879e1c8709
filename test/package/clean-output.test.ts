// `npm test` prints what a newcomer can act on and nothing else: no ts-jest
// deprecation, no ExperimentalWarning for the VM modules Jest's ESM needs.
import { expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

test('a Jest run of a suite prints no warning', async () => {
  const jest = fileURLToPath(new URL('../../node_modules/jest/bin/jest.js', import.meta.url));
  const suite = fileURLToPath(new URL('../core/values.test.ts', import.meta.url));
  const result = await runNode(['--experimental-vm-modules', jest, '--ci', suite], 120000);
  expect(result.code).toBe(0);
  expect(result.stderr).toMatch(/Tests:\s+\d+ passed/);
  expect(result.stderr).not.toMatch(/warn|deprecat/i);
}, 120000);
