// Runs one throwaway redis-server for a test run and stops it when the test
// runner lets go of this process's stdin, including when the runner is
// killed: a crashed run must not leave a server behind.
// argv: <redis-server command> <temp dir>. Prints `ready <port>` once it accepts connections.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const [command, dir] = process.argv.slice(2);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function start(attempt) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--maxmemory-policy', 'noeviction', '--dir', dir, '--daemonize', 'no', '--loglevel', 'notice'];
  const server = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let log = '';
  let ready = false;
  server.stdout.on('data', (chunk) => {
    if (ready) return;
    log += chunk;
    if (/Ready to accept connections/.test(log)) {
      ready = true;
      process.stdout.write(`ready ${port}\n`);
    }
  });
  server.on('exit', (code, signal) => {
    if (!ready && attempt < 5 && /Address already in use/.test(log)) return void start(attempt + 1);
    if (!ready) process.stderr.write(`redis-server exited (${code ?? signal}) before it was ready:\n${log}\n`);
    process.exit(ready ? 0 : 1);
  });
  const stop = () => server.kill('SIGTERM');
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.on('SIGTERM', stop);
  process.stdin.resume();
}

await start(0);
