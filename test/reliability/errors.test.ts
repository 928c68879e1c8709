import { afterAll, describe, expect, test } from '@jest/globals';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Parallel, SerializationError, SharedMemoryStore, delayed, task, wrapNonSerializable } from 'skein';
import { rejection } from '../helpers.js';

const par = new Parallel({ nJobs: 2 });
const settling = new Parallel({ nJobs: 2, errors: 'settle' });
afterAll(() => Promise.all([par.close(), settling.close()]));

describe('errors thrown in a task keep their shape across the thread', () => {
  test('AggregateError keeps `.errors`, each rebuilt with its class, stack and fields, recursively', async () => {
    function many() {
      const invalid = new TypeError('not a number');
      (invalid as TypeError & { field: string }).field = 'age';
      const inner = new AggregateError([new RangeError('too big'), 'a plain string'], 'inner group');
      throw new AggregateError([invalid, inner, new Error('third', { cause: new URIError('bad uri') })], 'several things failed');
    }
    const error = await rejection(par.run([delayed(many)()]));
    expect(error).toBeInstanceOf(AggregateError);
    expect(error.message).toBe('several things failed');
    expect(error.taskIndex).toBe(0);
    expect(Array.isArray(error.errors)).toBe(true);
    expect(error.errors).toHaveLength(3);
    // Not an own enumerable field, as on a fresh AggregateError.
    expect(Object.keys(error)).not.toContain('errors');

    const [invalid, inner, third] = error.errors;
    expect(invalid).toBeInstanceOf(TypeError);
    expect(invalid.message).toBe('not a number');
    expect(invalid.field).toBe('age');
    expect(invalid.stack).toMatch(/at many \(.*errors\.test\.ts:\d+:\d+\)/);

    expect(inner).toBeInstanceOf(AggregateError);
    expect(inner.message).toBe('inner group');
    expect(inner.errors).toHaveLength(2);
    expect(inner.errors[0]).toBeInstanceOf(RangeError);
    expect(inner.errors[0].message).toBe('too big');
    expect(inner.errors[1]).toBe('a plain string');

    expect(third.message).toBe('third');
    expect(third.cause).toBeInstanceOf(URIError);
  });

  test("AggregateError's `.errors` survive errors: 'settle' too", async () => {
    const group = () => {
      throw new AggregateError([new SyntaxError('one')], 'group');
    };
    const [record] = await settling.run([delayed(group)()]);
    const reason = (record as PromiseRejectedResult).reason as AggregateError;
    expect(reason).toBeInstanceOf(AggregateError);
    expect(reason.errors).toHaveLength(1);
    expect(reason.errors[0]).toBeInstanceOf(SyntaxError);
  });

  test.each([
    ['a plain TypeError', () => new TypeError('inner'), TypeError, 'TypeError'],
    ['a plain RangeError', () => new RangeError('inner'), RangeError, 'RangeError'],
    ['an unnamed subclass of TypeError', () => new (class MyTypeError extends TypeError {})('inner'), TypeError, 'TypeError'],
    [
      'a named subclass of TypeError',
      () => {
        class MyTypeError extends TypeError {
          override name = 'MyTypeError';
        }
        return new MyTypeError('inner');
      },
      TypeError,
      'MyTypeError',
    ],
    [
      'a named subclass of a subclass of RangeError',
      () => {
        class OutOfRange extends RangeError {}
        class TooLarge extends OutOfRange {
          override name = 'TooLarge';
        }
        return new TooLarge('inner');
      },
      RangeError,
      'TooLarge',
    ],
  ])('a cause that is %s keeps its built-in class and its name', async (_label, make, ctor, name) => {
    const fail = wrapNonSerializable(
      () => {
        throw new Error('outer', { cause: make() });
      },
      { make },
    );
    const error = await rejection(par.run([delayed(fail)()]));
    expect(error.message).toBe('outer');
    expect(error.cause).toBeInstanceOf(ctor);
    expect(error.cause.name).toBe(name);
    expect(error.cause.message).toBe('inner');
    expect(String(error.cause.stack)).toMatch(/errors\.test\.ts:\d+:\d+/);
  });

  test('a thrown subclass of a built-in error keeps the built-in class and its own name', async () => {
    function fail() {
      class ParseFailure extends SyntaxError {
        override name = 'ParseFailure';
        line = 3;
      }
      throw new ParseFailure('unexpected token');
    }
    const error = await rejection(par.run([delayed(fail)()]));
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error.name).toBe('ParseFailure');
    expect(error.line).toBe(3);
  });

  test('a cause that subclasses a registered skein class comes back as that class, with its name and fields', async () => {
    const fail = task(new URL('../fixtures/error-tasks.mjs', import.meta.url), 'failWithSkeinCause');
    const error = await rejection(par.run([delayed(fail)()]));
    expect(error.message).toBe('could not decode');
    expect(error.cause).toBeInstanceOf(SerializationError);
    expect(error.cause.name).toBe('StrictSchemaError');
    expect(error.cause.code).toBe('ERR_SKEIN_SERIALIZATION');
    expect(error.cause.path).toBe('row[3]');
    expect(error.cause.schema).toBe('v2');
  });

  test('a cause of an unknown class keeps its name', async () => {
    function fail() {
      class DatabaseError extends Error {
        override name = 'DatabaseError';
      }
      throw new Error('outer', { cause: new DatabaseError('connection lost') });
    }
    const error = await rejection(par.run([delayed(fail)()]));
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.cause.name).toBe('DatabaseError');
    expect(error.cause.message).toBe('connection lost');
  });
});

describe('arguments with cycles through a store proxy', () => {
  const inspect = (a: { p: number[]; self: unknown }) => ({ self: a.self === a, length: a.p.length, first: a.p[0] });

  test('an object that refers to itself and holds a proxy reaches the task whole', async () => {
    await using store = new SharedMemoryStore();
    const a: { p: number[]; self?: unknown } = { p: store.proxy([7, 8, 9]) };
    a.self = a;
    expect(await par.run([delayed(inspect)(a as { p: number[]; self: unknown })])).toEqual([{ self: true, length: 3, first: 7 }]);
    // The caller's object is not touched: its proxy is still there.
    expect(a.self).toBe(a);
  });

  test('a cycle through an array, with proxies on the way, reaches the task whole', async () => {
    await using store = new SharedMemoryStore();
    const p = store.proxy([1, 2, 3]);
    const list: unknown[] = [{ p }];
    const root = { list, p, back: undefined as unknown };
    list.push(root);
    root.back = list;
    const check = (r: { list: unknown[]; p: number[]; back: unknown }) => [r.list[1] === r, r.back === r.list, (r.list[0] as { p: number[] }).p[2], r.p[0]];
    expect(await par.run([delayed(check)(root)])).toEqual([[true, true, 3, 1]]);
  });

  test('a cycle in captured values with a proxy reaches the task whole', async () => {
    await using store = new SharedMemoryStore();
    const config: { table: number[]; parent?: unknown } = { table: store.proxy([4, 5]) };
    config.parent = config;
    const read = wrapNonSerializable((i: number) => [config.parent === config, config.table[i]], { config });
    expect(await par.run([delayed(read)(1)])).toEqual([[true, 5]]);
  });
  test('what structured clone refuses inside a cycle is named, not lost to a stack overflow', async () => {
    const { port1 } = new MessageChannel();
    try {
      // The cycle comes first, so a search without a guard never reaches the port.
      const a: { self?: unknown; port?: MessagePort } = {};
      a.self = a;
      a.port = port1;
      const error = await rejection(par.run([delayed((x: unknown) => x)(a)]));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.path).toBe('args[0].port');
    } finally {
      port1.close();
    }
  });
});

describe('arguments delayed() cannot read', () => {
  const id = (x: unknown) => x;

  test('a revoked Proxy is a SerializationError naming the argument, with the cause', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    let error: any;
    try {
      delayed(id)(proxy);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.code).toBe('ERR_SKEIN_SERIALIZATION');
    expect(error.path).toBe('args[0]');
    expect(error.message).toContain('`args[0]`');
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.cause.message).toMatch(/revoked/);
  });

  test('a revoked Proxy deep inside an argument is located', () => {
    const { proxy, revoke } = Proxy.revocable([], {});
    revoke();
    expect(() => delayed((a: unknown, b: unknown) => [a, b])(1, { rows: [0, { inner: proxy }] })).toThrow(
      expect.objectContaining({ name: 'SerializationError', path: 'args[1].rows[1].inner' }),
    );
  });

  test('a getter that throws is a SerializationError naming the field, with the cause', () => {
    const boom = new Error('boom');
    const arg = {
      ok: 1,
      get x(): number {
        throw boom;
      },
    };
    let error: any;
    try {
      delayed(id)(arg);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.path).toBe('args[0].x');
    expect(error.message).toContain('`args[0].x`');
    expect(error.message).toContain('boom');
    expect(error.cause).toBe(boom);
  });

  test('a throwing getter inside an array inside a Map is located', () => {
    const row = Object.defineProperty({}, 'price', {
      enumerable: true,
      get() {
        throw new RangeError('no price');
      },
    });
    const arg = new Map([['rows', [row]]]);
    expect(() => delayed(id)(arg)).toThrow(expect.objectContaining({ name: 'SerializationError', path: 'args[0].get("rows")[0].price' }));
  });
});
