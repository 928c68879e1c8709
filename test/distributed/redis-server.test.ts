import { afterAll, expect, test } from '@jest/globals';
import { client } from './redis.js';

const redis = client();
afterAll(() => redis.quit());

test('the run has a real redis-server on loopback, without persistence and without eviction', async () => {
  expect(await redis.ping()).toBe('PONG');
  expect(await redis.config('GET', 'save')).toEqual(['save', '']);
  expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
  expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
  expect(await redis.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
});
