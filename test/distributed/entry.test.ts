import { expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
// CommonJS modules loaded by import() still land in require.cache, which tells whether bullmq or ioredis was loaded.
const probe = (entry: string): string => `
  await import(${JSON.stringify(root + entry)});
  const { createRequire } = await import('node:module');
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules\\/(bullmq|ioredis)\\//.test(p));
  console.log(JSON.stringify({ ioredis: loaded.some((p) => p.includes('/ioredis/')) }));
`;

test('core skein loads neither bullmq nor ioredis; skein/distributed does', async () => {
  const core = await runNode(['--input-type=module', '-e', probe('dist/src/index.js')]);
  expect(core.stderr).toBe('');
  expect(JSON.parse(core.stdout)).toEqual({ ioredis: false });
  const distributed = await runNode(['--input-type=module', '-e', probe('dist/src/distributed/index.js')]);
  expect(JSON.parse(distributed.stdout)).toEqual({ ioredis: true });
});
