/**
 * A connector from outside src/, registered with registerConnector: async
 * only, it passes the contract kit and serves as a store, a Parallel offload
 * store and the source of proxies resolved in real workers.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  ProxyResolveError,
  Store,
  SyncUnsupportedError,
  connectorContract,
  connectorFromConfig,
  extract,
  getOrCreateStore,
  isResolved,
  proxyFromReference,
  resolveAsync,
  storeReference,
} from 'skein';
import { ToyConnector } from './toy-connector.js';

connectorContract('toy', () => new ToyConnector(), { describe, test, expect, afterEach });

const stores: Store<unknown>[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
function toyStore(options: { compression?: 'gzip' } = {}): Store<string> {
  const store = new Store(new ToyConnector(), options);
  stores.push(store as Store<unknown>);
  return store;
}

describe('a Store on an async-only connector', () => {
  test('put/get/exists/evict and the cache work without sync', async () => {
    const store = toyStore();
    expect(store.sync).toBe(false);
    const key = await store.put({ a: [1, 2] });
    const first = await store.get(key);
    expect(first).toEqual({ a: [1, 2] });
    expect(await store.get(key)).toBe(first);
    await store.evict(key);
    await expect(store.get(key)).rejects.toThrow(/is not in store/);
  });

  test('blocking operations raise SyncUnsupportedError saying what to use instead', async () => {
    const store = toyStore();
    const key = await store.put(1);
    const caught = (fn: () => unknown): SyncUnsupportedError => {
      try {
        fn();
      } catch (error) {
        return error as SyncUnsupportedError;
      }
      throw new Error('expected a throw');
    };
    for (const error of [caught(() => store.getSync(key)), caught(() => store.putSync(1)), caught(() => store.evictSync(key))]) {
      expect(error.name).toBe('SyncUnsupportedError');
      expect(error.code).toBe('ERR_SKEIN_SYNC_UNSUPPORTED');
      expect(error.message).toContain(store.name);
      expect(error.message).toContain('no sync capability');
    }
    expect(caught(() => store.getSync(key)).message).toContain('await resolveAsync(p)');
  });

  test('a proxy resolves with resolveAsync, then works synchronously; unresolved, it names the fix', async () => {
    const store = toyStore();
    const key = await store.put({ v: 7 });
    const early = store.proxyFromKey<{ v: number }>(key);
    let error: unknown;
    try {
      void early.v;
    } catch (e) {
      error = e;
    }
    expect((error as ProxyResolveError).name).toBe('ProxyResolveError');
    expect((error as Error).message).toContain('await resolveAsync(p)');
    const p = proxyFromReference<{ v: number }>(structuredClone(storeReference(store.proxyFromKey(key))!));
    await resolveAsync(p);
    expect(isResolved(p)).toBe(true);
    expect(p.v).toBe(7);
  });

  test('Store.fromConfig rebuilds it through the registry, compression included', async () => {
    const store = toyStore({ compression: 'gzip' });
    const key = await store.put({ x: 'y'.repeat(1000) });
    const config = structuredClone(store.config());
    expect(config.compression).toBe('gzip');
    expect(config.connector.type).toBe('toy');
    expect(connectorFromConfig(config.connector)).toBeInstanceOf(ToyConnector);
    const rebuilt = Store.fromConfig(config);
    expect(rebuilt.owner).toBe(false);
    expect(rebuilt.config()).toEqual(config);
    expect(await rebuilt.get(key)).toEqual({ x: 'y'.repeat(1000) });
    expect(getOrCreateStore(config)).toBe(store);
    await rebuilt.close();
    expect(extract(await store.get(key))).toEqual({ x: 'y'.repeat(1000) });
  });
});

test('as a Parallel offload store: large arguments and lazy proxies resolve in real workers', async () => {
  // Workers load the TypeScript task module (which registers the toy connector) through tsx.
  const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
  const script = fileURLToPath(new URL('./fixtures/toy-parallel.ts', import.meta.url));
  const child = spawn(process.execPath, [tsx, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual({ offloaded: [50_000, 50_000, 50_000, 50_000], proxies: [3, 3], entries: 1 });
}, 60_000);
