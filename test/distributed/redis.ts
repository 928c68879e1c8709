import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The run's redis-server, started by test/distributed/global-setup.mjs. */
export function redisUrl(): string {
  const url = process.env.SKEIN_TEST_REDIS_URL;
  if (!url) throw new Error('SKEIN_TEST_REDIS_URL is not set: run the tests through jest.config.js (its globalSetup starts redis-server)');
  return url;
}

/** A prefix of this suite's own, so suites sharing the server never see each other's keys. */
export function suitePrefix(name: string): string {
  return `t-${name}-${randomUUID().slice(0, 8)}`;
}

export function client(): Redis {
  return new Redis(redisUrl());
}

/** Every key under `pattern`, found with SCAN. */
export async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}
