// Finds redis-server for the distributed tests, installing the Debian package
// when it is missing and this machine allows it (root with apt-get, as CI
// runs). Where it cannot, it fails naming the one command to run: the
// distributed suite must run, never skip.
// Usage: `node scripts/redis-server.mjs` (npm's pretest) or import `ensureRedisServer`.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export const INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y redis-server';

/** The redis-server command to run, or undefined when it is not on PATH. */
export function findRedisServer() {
  const explicit = process.env.REDIS_SERVER;
  for (const command of [explicit, 'redis-server', '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (!command) continue;
    const probe = spawnSync(command, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0 && /Redis server/i.test(probe.stdout)) return command;
  }
  return undefined;
}

function canInstall() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  return spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    // No questions asked; policy-rc.d (as in containers) keeps the package from starting a server of its own.
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

/** Returns the redis-server command, installing it if needed and allowed; throws saying what to run otherwise. */
export function ensureRedisServer() {
  const found = findRedisServer();
  if (found) return found;
  if (canInstall()) {
    process.stderr.write('redis-server is missing: installing the Debian package (apt-get install -y redis-server)\n');
    if (run('apt-get', ['update']) && run('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'])) {
      const installed = findRedisServer();
      if (installed) return installed;
    }
  }
  throw new Error(
    `The distributed tests need redis-server, which is not installed${canInstall() ? ' (installing it failed, see above)' : ''}. Run: ${INSTALL_COMMAND}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const command = ensureRedisServer();
    process.stdout.write(`${spawnSync(command, ['--version'], { encoding: 'utf8' }).stdout.trim()}\n`);
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
