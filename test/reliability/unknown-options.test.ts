import { describe, expect, test } from '@jest/globals';
import { FileStore, Parallel, compute, SharedMemoryStore, Store, createRemoteEnv, delayed, parallel, parallelConfig } from 'skein';
import { LocalConnector } from '#src/connectors/local.js';

// Before: every one of these was ignored without a word (`n_jobs` ran on all cores).
describe('unknown options are refused, naming the closest known one', () => {
  test.each([
    [{ n_jobs: 2 }, 'Unknown option `n_jobs`: did you mean `nJobs`?'],
    [{ batch_size: 4 }, 'Unknown option `batch_size`: did you mean `batchSize`?'],
    [{ verbosity: 1 }, 'Unknown option `verbosity`: did you mean `verbose`?'],
    [{ timeOut: 10 }, 'Unknown option `timeOut`: did you mean `timeout`?'],
    [{ max_nbytes: '1M' }, 'Unknown option `max_nbytes`: did you mean `maxNbytes`?'],
    [{ resourceLimits: { maxOldGenSizeMb: 64 } }, 'Unknown option `resourceLimits.maxOldGenSizeMb`: did you mean `resourceLimits.maxOldGenerationSizeMb`?'],
  ])('new Parallel(%p)', (options, message) => {
    expect(() => new Parallel(options as never)).toThrow(new TypeError(message));
  });

  test('a name close to none lists the known ones', () => {
    expect(() => new Parallel({ colour: 'red' } as never)).toThrow(/^Unknown option `colour`: expected one of `nJobs`, `backend`, .*`resourceLimits`$/);
  });

  test('parallel() refuses before any worker starts', async () => {
    await expect(parallel([delayed((x: number) => x)(1)], { n_jobs: 2 } as never)).rejects.toThrow('Unknown option `n_jobs`: did you mean `nJobs`?');
  });

  test('parallelConfig checks its options on entry, as joblib parallel_config does, and runs nothing', () => {
    let ran = false;
    const body = () => {
      ran = true;
    };
    expect(() => parallelConfig({ n_jobs: 2 } as never, body)).toThrow(new TypeError('Unknown option `n_jobs`: did you mean `nJobs`?'));
    expect(() => parallelConfig({ nJobs: 0 }, body)).toThrow(new RangeError('Expected `nJobs` to be a non-zero integer, got `0` (number)'));
    expect(() => parallelConfig({ batchSize: 'big' } as never, body)).toThrow(RangeError);
    expect(ran).toBe(false);
    expect(parallelConfig({ nJobs: 2 }, () => new Parallel().nJobs)).toBe(2);
  });

  test('delayed(fn, options)', () => {
    expect(() => delayed((x: number) => x, { nmae: 'f' } as never)).toThrow(new TypeError('Unknown option `nmae`: did you mean `name`?'));
  });

  test('stores', async () => {
    expect(() => new Store(new LocalConnector(), { cache_size: 4 } as never)).toThrow(new TypeError('Unknown option `cache_size`: did you mean `cacheSize`?'));
    expect(() => new SharedMemoryStore({ checksums: true } as never)).toThrow(new TypeError('Unknown option `checksums`: did you mean `checksum`?'));
    expect(() => new FileStore({ directory: '/tmp/x' } as never)).toThrow(/^Unknown option `directory`: /);
    expect(() => new FileStore({ dri: '/tmp/x' } as never)).toThrow(new TypeError('Unknown option `dri`: did you mean `dir`?'));
    const store = new FileStore({ cacheSize: 2 });
    await store.close();
  });

  test('compute() and d.compute(), before anything runs', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const d = delayed((c: Int32Array) => Atomics.add(c, 0, 1))(counter);
    await expect(compute(d, { error: 'settle' } as never)).rejects.toThrow(new TypeError('Unknown option `error`: did you mean `errors`?'));
    await expect(d.compute({ paralel: undefined } as never)).rejects.toThrow(new TypeError('Unknown option `paralel`: did you mean `parallel`?'));
    expect(Atomics.load(counter, 0)).toBe(0);
  });

  test('createRemoteEnv', async () => {
    await expect(createRemoteEnv({ transfer_bytes: 10 } as never)).rejects.toThrow(new TypeError('Unknown option `transfer_bytes`: did you mean `transferBytes`?'));
  });
});
