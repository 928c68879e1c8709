import { expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const script = fileURLToPath(new URL('../fixtures/worker-options.mjs', import.meta.url));
const count = 400;
const settled = Array.from({ length: count }, (_, i) => ({ status: 'fulfilled', value: (i + 1) ** 2 }));

// Settle mode sends each outcome on the worker's own port before the batch's
// reply. The pool unrefs a worker once idle, so an outcome still on its way
// kept nothing alive: a script awaiting parallel() at top level could exit
// with code 13 (unsettled top-level await) and print nothing, about one run
// in twenty with 8 workers and one task per batch.
test('settle-mode runs awaited at top level always finish, however the outcome messages race the replies', async () => {
  const calls = Array.from({ length: 10 }, () => ({ nJobs: 8, batchSize: 1, errors: 'settle' }));
  const result = await runNode([script, JSON.stringify(calls), String(count)], 140000);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const outs = result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { out: unknown }).out);
  expect(outs).toEqual(calls.map(() => settled));
  // Ten runs each starting 8 workers: on a loaded machine this takes well past jest's default 30 s.
}, 150000);
