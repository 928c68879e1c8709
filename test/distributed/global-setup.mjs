// Once per jest run: a real redis-server on a free loopback port, with no
// persistence, for the distributed suites (each uses its own queue prefix).
// Its URL reaches the tests as SKEIN_TEST_REDIS_URL.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureRedisServer } from '../../scripts/redis-server.mjs';

export default async function setup() {
  const command = ensureRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'skein-redis-'));
  const keeper = spawn(process.execPath, [new URL('./redis-keeper.mjs', import.meta.url).pathname, command, dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    keeper.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /ready (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    keeper.on('exit', (code) => reject(new Error(`redis-server for the tests did not start (keeper exited with ${code})`)));
  });
  keeper.removeAllListeners('exit');
  globalThis.__skeinRedis = { keeper, dir };
  process.env.SKEIN_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
}
