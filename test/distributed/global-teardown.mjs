import { rmSync } from 'node:fs';

export default async function teardown() {
  const state = globalThis.__skeinRedis;
  if (!state) return;
  const { keeper, dir } = state;
  if (keeper.exitCode === null) {
    const exited = new Promise((resolve) => keeper.once('exit', resolve));
    keeper.stdin.end();
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
