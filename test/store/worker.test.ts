/**
 * Store proxies across a real thread boundary: only `storeReference(p)`
 * (key + store config) is posted, and the worker resolves it itself.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  FileStore,
  LocalConnector,
  SharedMemoryStore,
  Store,
  isResolved,
  shared,
  storeReference,
  type StoreReference,
} from 'skein';

const here = path.dirname(fileURLToPath(import.meta.url));

class Remote {
  readonly #worker = new Worker(path.join(here, 'fixtures', 'store-worker.mjs'));
  readonly #pending = new Map<number, (m: Reply) => void>();
  #next = 0;

  constructor() {
    this.#worker.on('message', (m: Reply & { id: number }) => this.#pending.get(m.id)?.(m));
    this.#worker.on('error', (error) => {
      throw error;
    });
  }

  call<T = Record<string, unknown>>(op: string, args: object): Promise<Reply<T>> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, (m) => {
        this.#pending.delete(id);
        resolve(m as Reply<T>);
      });
      this.#worker.postMessage({ id, op, args });
    });
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}

type Reply<T = unknown> = { result?: T; error?: Record<string, string> };

let remote: Remote;
beforeAll(() => {
  remote = new Remote();
});
afterAll(async () => {
  await remote.terminate();
});

const stores: Store<unknown>[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

type ResolveResult = { out: { before: boolean; type: string; isArray: boolean; sum?: number; shared?: boolean; json?: string }[]; stats: { hits: number; misses: number } };

describe.each([
  ['shared-memory', () => new SharedMemoryStore() as Store<unknown>],
  ['file', () => new FileStore() as Store<unknown>],
])('%s store in a worker', (_name, make) => {
  const create = (): Store<unknown> => {
    const s = make();
    stores.push(s);
    return s;
  };

  test('the worker resolves the reference itself; the caller stays unresolved', async () => {
    const s = create();
    const p = s.proxy(new Float64Array([1, 2, 3.5]));
    const list = s.proxy([{ a: 1 }, { b: 2 }]);
    const { result, error } = await remote.call<ResolveResult>('resolve', { refs: [storeReference(p), storeReference(list)] });
    expect(error).toBeUndefined();
    expect(result!.out[0]).toMatchObject({ before: false, type: '[object Float64Array]', sum: 6.5 });
    expect(result!.out[1]).toMatchObject({ isArray: true, json: '[{"a":1},{"b":2}]' });
    expect(isResolved(p)).toBe(false);
    expect(isResolved(list)).toBe(false);
  });

  test('many proxies of one key in a worker resolve once, through its LRU cache', async () => {
    const s = create();
    const ref = storeReference(s.proxy({ shared: 'once' }))!;
    const { result } = await remote.call<ResolveResult>('resolve', { refs: Array.from({ length: 10 }, () => ref) });
    expect(result!.stats).toMatchObject({ misses: 1, hits: 9 });
    expect(s.stats()).toMatchObject({ hits: 0, misses: 0 }); // the caller's cache is its own
  });

  test('an evicted key raises ProxyResolveError naming key and store in the worker, even after the worker cached it', async () => {
    const s = create();
    const p = s.proxy({ v: 1 });
    const ref = storeReference(p)!;
    expect((await remote.call('resolve', { refs: [ref] })).error).toBeUndefined(); // now in the worker's cache
    await s.evict(ref.key);
    const { error } = await remote.call('resolve', { refs: [ref] });
    expect(error).toMatchObject({
      name: 'ProxyResolveError',
      code: 'ERR_SKEIN_PROXY_RESOLVE',
      key: s.describeKey(ref.key),
      store: s.name,
      cause: 'KeyNotFoundError',
    });
  });

  test('a closed store: the key is missing in the worker', async () => {
    const s = make();
    const ref = storeReference(s.proxy({ v: 1 }))!;
    await s.close();
    const { error } = await remote.call('resolve', { refs: [ref] });
    expect(error).toMatchObject({ name: 'ProxyResolveError', store: s.name });
  });

  test('an ephemeral proxy resolved in the worker is evicted for everyone', async () => {
    const s = create();
    const ref = storeReference(s.proxy({ once: true }, { evict: true }))!;
    expect((await remote.call('resolve', { refs: [ref] })).error).toBeUndefined();
    expect(await s.exists(ref.key)).toBe(false);
    expect(s.stats().entries).toBe(0);
  });

  test('resolveAsync in the worker', async () => {
    const s = create();
    const ref = storeReference(s.proxy({ fetched: 'in background' }))!;
    const { result } = await remote.call('async', { ref });
    expect(result).toEqual({ resolved: true, value: '{"fetched":"in background"}' });
  });
});

describe('shared memory is not copied', () => {
  test('a worker writes into the resolved view and the caller sees it (store copy)', async () => {
    const s = new SharedMemoryStore();
    stores.push(s);
    const p = s.proxy(new Float64Array(4));
    const ref = storeReference(p) as StoreReference;
    const { result } = await remote.call<ResolveResult>('resolve', { refs: [ref] });
    expect(result!.out[0]!.shared).toBe(true);
    await remote.call('write', { ref, index: 2, value: 99 });
    expect(p[2]).toBe(99);
  });

  test("a shared() array: the worker writes into the caller's own array", async () => {
    const s = new SharedMemoryStore();
    stores.push(s);
    const xs = shared(Int32Array, 8);
    const ref = storeReference(s.proxy(xs))!;
    await remote.call('write', { ref, index: 5, value: 1234 });
    expect(xs[5]).toBe(1234);
  });
});

test('a local store cannot be reached from another thread: ProxyResolveError, not undefined', async () => {
  const s = new Store(new LocalConnector());
  stores.push(s as Store<unknown>);
  const ref = storeReference(s.proxy({ v: 1 }))!;
  const { error } = await remote.call('resolve', { refs: [ref] });
  expect(error).toMatchObject({ name: 'ProxyResolveError', store: s.name });
});
