import assert from 'node:assert/strict';
import type { Connector } from '../connector.js';
import { connectorFromConfig } from '../registry.js';

/**
 * The parts of a test runner the contract needs, passed in so this module
 * imports none (Jest, Vitest and node:test all fit). Assertions use
 * node:assert, which every runner reports as a failure.
 */
export interface ContractRunner {
  describe(name: string, body: () => void): void;
  test(name: string, body: () => Promise<void> | void, timeout?: number): void;
  afterEach(body: () => Promise<void> | void): void;
  /** Accepted for symmetry with the runner's globals; unused. */
  readonly expect?: unknown;
  readonly beforeEach?: unknown;
}

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const list = (b: Uint8Array | undefined): number[] | undefined => (b === undefined ? undefined : Array.from(b));

/**
 * What every connector must do, over its async API and, when it has one,
 * its `sync` capability: round trips, distinct keys, copies taken at `put`,
 * eviction, batch forms, key checks, rebuilding from config (the type must
 * be registered with `registerConnector`), and the owner's close freeing
 * its entries for every connector rebuilt from its config.
 *
 * @example
 * import { describe, test, expect, afterEach } from '@jest/globals';
 * connectorContract('redis', () => new RedisConnector({ url }), { describe, test, expect, afterEach });
 */
export function connectorContract(name: string, make: () => Connector<unknown> | Promise<Connector<unknown>>, t: ContractRunner): void {
  t.describe(`${name} connector contract`, () => {
    const made: Connector<unknown>[] = [];
    const create = async (): Promise<Connector<unknown>> => {
      const c = await make();
      made.push(c);
      return c;
    };
    t.afterEach(async () => {
      await Promise.all(made.splice(0).map((c) => c.close()));
    });

    t.test('names itself: a type string and a description', async () => {
      const c = await create();
      assert.equal(typeof c.type, 'string');
      assert.ok(c.type.length > 0);
      assert.equal(typeof c.description, 'string');
      assert.equal(c.config().type, c.type);
    });

    t.test('put/get/exists/evict round-trip; evicting twice is fine; a missing key reads as undefined', async () => {
      const c = await create();
      const key = await c.put(bytes(1, 2, 3));
      assert.deepEqual(list(await c.get(key)), [1, 2, 3]);
      assert.equal(await c.exists(key), true);
      await c.evict(key);
      assert.equal(await c.exists(key), false);
      assert.equal(await c.get(key), undefined);
      await c.evict(key);
    });

    t.test('empty and large payloads; every put a distinct key', async () => {
      const c = await create();
      const keys = await Promise.all([0, 1, 2].map(() => c.put(new Uint8Array(0))));
      assert.equal(new Set(keys.map((k) => c.keyId(k))).size, 3);
      assert.equal((await c.get(keys[0]))!.byteLength, 0);
      const large = new Uint8Array(1 << 20).map((_, i) => i % 251);
      const back = (await c.get(await c.put(large)))!;
      assert.equal(back.byteLength, large.byteLength);
      assert.equal(back[1000], large[1000]);
      assert.equal(back[large.byteLength - 1], large[large.byteLength - 1]);
    });

    t.test('the stored bytes do not change when the caller reuses its buffer', async () => {
      const c = await create();
      const buf = bytes(9, 9);
      const key = await c.put(buf);
      buf[0] = 0;
      assert.deepEqual(list(await c.get(key)), [9, 9]);
    });

    t.test('putMany and getMany keep the order', async () => {
      const c = await create();
      const keys = await c.putMany([bytes(1), bytes(2), bytes(3)]);
      assert.equal(keys.length, 3);
      await c.evict(keys[1]);
      assert.deepEqual((await c.getMany(keys)).map(list), [[1], undefined, [3]]);
      assert.deepEqual(await c.getMany([]), []);
    });

    t.test('checkKey returns its own keys and refuses things that are not keys', async () => {
      const c = await create();
      const key = await c.put(bytes(1));
      assert.equal(c.keyId(c.checkKey(key)), c.keyId(key));
      assert.equal(typeof c.keyId(key), 'string');
      for (const bad of [42, null, undefined, {}]) assert.throws(() => c.checkKey(bad));
    });

    t.test('a connector rebuilt from a cloned config reaches the same bytes, and closing it frees nothing', async () => {
      const c = await create();
      const key = await c.put(bytes(7));
      const again = connectorFromConfig(structuredClone(c.config()));
      assert.equal(again.type, c.type);
      assert.deepEqual(list(await again.get(again.checkKey(structuredClone(key)))), [7]);
      await again.close();
      assert.equal(await c.exists(key), true);
    });

    t.test("the owner's close frees its entries for every connector rebuilt from its config", async () => {
      const c = await make();
      const key = await c.put(bytes(1));
      const again = connectorFromConfig(c.config());
      await c.close();
      assert.equal(await again.exists(again.checkKey(key)), false);
      await again.close();
    });

    t.test('the sync capability, when present, agrees with the async API', async () => {
      const c = await create();
      const sync = c.sync;
      if (sync === undefined) return; // async-only connectors have nothing more to prove here
      const k1 = sync.put(bytes(4));
      const k2 = await c.put(bytes(5));
      assert.deepEqual(list(await c.get(k1)), [4]);
      assert.deepEqual(list(sync.get(k2)), [5]);
      assert.equal(sync.exists(k2), true);
      sync.evict(k2);
      assert.equal(await c.exists(k2), false);
      assert.equal(sync.get(k2), undefined);
      await c.evict(k1);
      assert.equal(sync.exists(k1), false);
    });
  });
}
