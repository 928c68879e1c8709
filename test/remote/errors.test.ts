import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteEnv, type Handle, type RemoteEnv } from 'skein';

let env: RemoteEnv;
beforeAll(async () => {
  env = await createRemoteEnv({ name: 'errors' });
});
afterAll(() => env.close());

/** Handles typed loosely, to try what the types would refuse. */
const loose = (h: unknown) => h as Handle<any>;

const rejection = (p: Promise<unknown>) => p.then(
  () => {
    throw new Error('expected a rejection');
  },
  (e: unknown) => e as Error & Record<string, unknown>,
);

describe('remote environment: errors come back with full fidelity', () => {
  test('class, message, stack, code, cause and own fields', async () => {
    const h = env.run(() => {
      class QuotaError extends Error {
        limit = 3;
        constructor(message: string, options?: ErrorOptions) {
          super(message, options);
          this.name = 'QuotaError';
        }
      }
      const e = new QuotaError('over quota', { cause: new RangeError('inner') });
      (e as unknown as { code: string }).code = 'E_QUOTA';
      throw e;
    });
    const error = await rejection(h.fetch());
    expect(error.name).toBe('QuotaError');
    expect(error.message).toBe('over quota');
    expect(error.code).toBe('E_QUOTA');
    expect(error.limit).toBe(3);
    expect((error.cause as Error).name).toBe('RangeError');
    expect((error.cause as Error).message).toBe('inner');
    expect(error.stack).toMatch(/over quota/);
    expect(error.stack).toMatch(/errors\.test\.ts:\d+:\d+/);
  });

  test('an operation that depends on a failed handle fails with the same error, not a new one', async () => {
    const bad = env.run(() => {
      throw new TypeError('first failure');
    });
    const first = await rejection(bad.fetch());
    const dependents = [loose(bad).a!, loose(bad).a!.b!(1), env.run((x: unknown) => x, bad), env.run((o: unknown) => o, { nested: [bad] } as never)];
    for (const d of dependents) {
      const error = await rejection(d.fetch());
      expect(error.name).toBe('TypeError');
      expect(error.message).toBe('first failure');
      expect(error.stack).toBe(first.stack);
    }
    // Unrelated operations go on.
    await expect(env.put(1).fetch()).resolves.toBe(1);
  });

  test('a method that throws fails its own handle only', async () => {
    const obj = env.run(() => ({ n: 1, boom() { throw new SyntaxError('bad call'); } }));
    const error = await rejection(obj.boom().fetch());
    expect(error.name).toBe('SyntaxError');
    await expect(obj.n.fetch()).resolves.toBe(1);
  });

  test('a rejected promise is a failure like a throw', async () => {
    const h = env.run(async () => {
      throw new RangeError('async failure');
    });
    expect((await rejection(h.fetch())).name).toBe('RangeError');
  });

  test('a thrown non-error keeps its value', async () => {
    await expect(env.run(() => { throw { code: 7, why: 'plain object' }; }).fetch()).rejects.toEqual({ code: 7, why: 'plain object' });
    await expect(env.run(() => { throw 'a string'; }).fetch()).rejects.toBe('a string');
  });

  test('calling a value that is not a function fails that operation with a clear error', async () => {
    const h = env.put({ n: 1 });
    const error = await rejection(loose(h).n!(2).fetch());
    expect(error.name).toBe('TypeError');
    expect(error.message).toMatch(/not a function/);
  });

  test('fetching a value that cannot be copied back fails, and the value stays usable in the worker', async () => {
    const h = env.run(() => ({ f() { return 1; } }));
    const error = await rejection(h.fetch());
    expect(error.name).toBe('SerializationError');
    expect(error.message).toMatch(/cannot be copied to the caller/);
    await expect(h.f().fetch()).resolves.toBe(1);
  });

  test('a released handle cannot be used', async () => {
    const h = env.put(1);
    h.release();
    h.release();
    expect(() => loose(h).x).toThrow(expect.objectContaining({ name: 'HandleReleasedError' }));
    expect(() => env.run((x: number) => x, h)).toThrow(expect.objectContaining({ name: 'HandleReleasedError' }));
    expect((await rejection(h.fetch())).name).toBe('HandleReleasedError');
  });
});

describe('remote environment: a worker that dies', () => {
  test('process.exit rejects every pending and later operation with EnvCrashedError', async () => {
    const doomed = await createRemoteEnv({ name: 'doomed' });
    const before = doomed.put(1);
    doomed.run(async () => {
      await new Promise((r) => setTimeout(r, 20));
      process.exit(3);
    });
    const pending = [doomed.put(2).fetch(), before.fetch().then(() => doomed.put(3).fetch())];
    for (const p of pending) {
      const error = await rejection(p);
      expect(error.name).toBe('EnvCrashedError');
      expect(error.code).toBe('ERR_SKEIN_ENV_CRASHED');
      expect((error.cause as Error).message).toMatch(/code 3/);
    }
    expect(doomed.closed).toBe(true);
    expect(doomed.crashed?.name).toBe('EnvCrashedError');
    const later = await rejection(doomed.put(4).fetch());
    expect(later.name).toBe('EnvCrashedError');
    expect((await rejection(doomed.stats())).name).toBe('EnvCrashedError');
    await doomed.close();
  });

  test('out of memory under resourceLimits crashes the env, not the process', async () => {
    const small = await createRemoteEnv({ name: 'small', resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 } });
    const hog = small.run(() => {
      const keep: number[][] = [];
      for (;;) keep.push(Array.from({ length: 1e5 }, (_, i) => i));
    });
    const error = await rejection(hog.fetch());
    expect(error.name).toBe('EnvCrashedError');
    expect((error.cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    expect(small.closed).toBe(true);
  });

  test('an uncaught error thrown later in the worker crashes it with that error as cause', async () => {
    const flaky = await createRemoteEnv({ name: 'flaky' });
    flaky.run(() => {
      setTimeout(() => {
        throw new RangeError('escaped');
      }, 10);
    });
    const error = await rejection(flaky.run(() => new Promise(() => {})).fetch());
    expect(error.name).toBe('EnvCrashedError');
    expect((error.cause as Error).message).toBe('escaped');
  });

  test('an env waiting for a value from an env that dies fails instead of hanging', async () => {
    const [src, dst] = await Promise.all([createRemoteEnv({ name: 'src' }), createRemoteEnv({ name: 'dst' })]);
    src.run(() => process.exit(1));
    const value = src.put(5);
    const error = await rejection(dst.run((x: number) => x, value).fetch());
    expect(error.message).toMatch(/closed before sending/);
    await expect(dst.put(1).fetch()).resolves.toBe(1);
    await dst.close();
  });
});

describe('remote environment: close', () => {
  test('close() waits for the operations already made; later operations reject with EnvClosedError', async () => {
    const e = await createRemoteEnv({ name: 'closing' });
    // Shared memory: the caller sees what the worker wrote, after the worker is gone.
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const done = e.run(async (f: Int32Array) => {
      await new Promise((r) => setTimeout(r, 30));
      Atomics.store(f, 0, 1);
      return 'finished';
    }, flag);
    await e.close();
    expect(Atomics.load(flag, 0)).toBe(1);
    expect(e.closed).toBe(true);
    expect((await rejection(done.fetch())).name).toBe('EnvClosedError');
    expect((await rejection(e.put(1).fetch())).name).toBe('EnvClosedError');
    await e.close();
  });

  test('close({ force: true }) rejects what is pending at once', async () => {
    const e = await createRemoteEnv({ name: 'forced' });
    const never = rejection(e.run(() => new Promise(() => {})).fetch());
    await e.close({ force: true });
    expect((await never).name).toBe('EnvClosedError');
  });
});
