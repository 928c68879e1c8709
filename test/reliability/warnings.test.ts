import { expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const script = fileURLToPath(new URL('../fixtures/worker-options.mjs', import.meta.url));
const count = 400;
const squares = Array.from({ length: count }, (_, i) => (i + 1) ** 2);

// nJobs 8 is the default on a machine with 8 cores. With 2*nJobs batches in
// flight, one abort listener per batch on a signal shared by the run passed
// Node's limit of 10 and printed MaxListenersExceededWarning.
test('plain calls with nJobs 8 and many batches print no warning', async () => {
  const calls = [
    { nJobs: 8 },
    { nJobs: 8, batchSize: 1 },
    { nJobs: 8, batchSize: 1, timeout: 60000 },
    { nJobs: 8, batchSize: 1, preDispatch: 'all', signal: true },
    { nJobs: 8, batchSize: 1, errors: 'settle' },
  ];
  const result = await runNode([script, JSON.stringify(calls), String(count)], 60000);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const outs = result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { out: unknown }).out);
  expect(outs).toEqual(calls.map((c) => ('errors' in c ? squares.map((value) => ({ status: 'fulfilled', value })) : squares)));
});
