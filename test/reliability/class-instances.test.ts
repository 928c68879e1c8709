import { afterAll, describe, expect, test } from '@jest/globals';
import { Parallel, SerializationError, delayed, wrapNonSerializable } from 'skein';
import { thrown } from '../helpers.js';

// Before: an instance arrived in the worker as a plain object (`p.twice is not
// a function`), came back as one, and a returned Error lost its `code`.

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
  twice(): Point {
    return new Point(2 * this.x, 2 * this.y);
  }
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

const par = new Parallel({ nJobs: 2 });
const settling = new Parallel({ nJobs: 2, errors: 'settle' });
afterAll(() => Promise.all([par.close(), settling.close()]));

describe('instances of a class that can travel keep their prototype, both ways', () => {
  test('as an argument, at any depth, and returned', async () => {
    const [doubled, norm, fromMap, fromSet] = await par.run([
      delayed((p: Point) => p.twice())(new Point(1, 2)),
      delayed((o: { points: Point[] }) => o.points[1]!.norm())({ points: [new Point(0, 0), new Point(3, 4)] }),
      delayed((m: Map<string, Point>) => m.get('a')!.norm())(new Map([['a', new Point(6, 8)]])),
      delayed((s: Set<Point>) => [...s][0]!.twice().x)(new Set([new Point(5, 0)])),
    ]);
    expect(doubled).toBeInstanceOf(Point);
    expect(doubled).toEqual(new Point(2, 4));
    expect((doubled as Point).norm()).toBeCloseTo(Math.hypot(2, 4));
    expect(norm).toBe(5);
    expect(fromMap).toBe(10);
    expect(fromSet).toBe(10);
  });

  test('map() over instances, alone or after plain items, keeps them', async () => {
    const norms = await par.map((p: Point) => p.norm(), [new Point(3, 4), new Point(6, 8)]);
    expect(norms).toEqual([5, 10]);
    const items: (number | Point)[] = [...Array.from({ length: 600 }, (_, i) => i), new Point(3, 4)];
    const kinds = await par.map((v: number | Point) => (typeof v === 'number' ? v : v.twice()), items);
    expect(kinds[599]).toBe(599);
    expect(kinds[600]).toBeInstanceOf(Point);
    expect(kinds[600]).toEqual(new Point(6, 8));
  });

  test('shared references and cycles stay so', async () => {
    const a = new Point(1, 1) as Point & { self?: unknown };
    a.self = a;
    const value = { a, again: a };
    const [seen, back] = await par.run([
      delayed((v: typeof value) => [v.a === v.again, v.a.self === v.a, v.a.norm()])(value),
      delayed((v: typeof value) => v)(value),
    ]);
    expect(seen).toEqual([true, true, Math.SQRT2]);
    const b = back as typeof value;
    expect(b.a).toBeInstanceOf(Point);
    expect(b.again).toBe(b.a);
    expect(b.a.self).toBe(b.a);
  });

  test('an argument passed to many tasks (checked once, then remembered) keeps its instances in every one', async () => {
    const shared = { p: new Point(3, 4) };
    const norm = delayed((o: typeof shared) => o.p.norm());
    expect(await par.run([norm(shared), norm(shared), norm(shared)])).toEqual([5, 5, 5]);
  });

  test('a class with captures, given through wrapNonSerializable, travels with them both ways', async () => {
    const factor = 3;
    const Scaled = wrapNonSerializable(
      class Scaled {
        constructor(public v: number) {}
        get(): number {
          return this.v * factor;
        }
      },
      { factor },
    );
    const [got, back] = await par.run([delayed((s: InstanceType<typeof Scaled>) => s.get())(new Scaled(2)), delayed((s: InstanceType<typeof Scaled>) => s)(new Scaled(5))]);
    expect(got).toBe(6);
    expect(back).toBeInstanceOf(Scaled);
    expect((back as InstanceType<typeof Scaled>).get()).toBe(15);
  });

  test('instances the worker makes of a class sent along with the function come back as that class', async () => {
    const make = wrapNonSerializable((x: number) => ({ p: new Point(x, x) }), { Point });
    const [out] = await par.run([delayed(make)(2)]);
    expect(out!.p).toBeInstanceOf(Point);
    expect(out!.p.norm()).toBeCloseTo(2 * Math.SQRT2);
  });

  test('a captured instance travels too (the fix for a method that uses `this`)', async () => {
    class Scaler {
      constructor(public k: number) {}
      scale(x: number): number {
        return this.k * x;
      }
    }
    const s = new Scaler(3);
    expect(await par.run([delayed(wrapNonSerializable((x: number) => s.scale(x), { s }))(2)])).toEqual([6]);
  });

  test('large arguments full of instances (above maxNbytes, which would be offloaded) keep them', async () => {
    const small = new Parallel({ nJobs: 2, maxNbytes: '1K' });
    try {
      const points = Array.from({ length: 2000 }, (_, i) => new Point(i, 0));
      const [sum] = await small.run([delayed((ps: Point[]) => ps.reduce((acc, p) => acc + p.twice().x, 0))(points)]);
      expect(sum).toBe(2 * ((1999 * 2000) / 2));
    } finally {
      await small.close();
    }
  });

  test("errors: 'settle' brings instances back too", async () => {
    const [record] = await settling.run([delayed((p: Point) => p.twice())(new Point(7, 0))]);
    expect(record).toEqual({ status: 'fulfilled', value: new Point(14, 0) });
    expect((record as PromiseFulfilledResult<Point>).value).toBeInstanceOf(Point);
  });

  test('the sequential backend hands over the very objects, as before', async () => {
    const p = new Point(1, 2);
    const [same] = await new Parallel({ nJobs: 1 }).run([delayed((q: Point) => q)(p)]);
    expect(same).toBe(p);
  });
});

describe('errors returned or passed keep their fields', () => {
  test('a returned Error keeps `.code`, its class and its own fields', async () => {
    const [error, typeError] = await par.run([
      delayed(() => Object.assign(new Error('gone'), { code: 'ENOENT', path: '/x' }))(),
      delayed(() => Object.assign(new TypeError('bad'), { code: 'E_BAD' }))(),
    ]);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ message: 'gone', code: 'ENOENT', path: '/x' });
    expect(typeError).toBeInstanceOf(TypeError);
    expect((typeError as { code?: string }).code).toBe('E_BAD');
  });

  test('an Error argument keeps `.code` in the worker', async () => {
    const [code] = await par.run([delayed((e: Error & { code?: string }) => `${e.name}:${e.code}`)(Object.assign(new RangeError('r'), { code: 'E_R' }))]);
    expect(code).toBe('RangeError:E_R');
  });
});

describe('anything else fails at delayed(), naming the path and the fix: never a silent plain object', () => {
  test('a class that uses outer variables', () => {
    const unit = 'cm';
    class Length {
      constructor(public n: number) {}
      toString(): string {
        return `${this.n}${unit}`;
      }
    }
    const error = thrown(() => delayed((o: { len: Length }) => o.len.toString())({ len: new Length(2) }));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.path).toBe('args[0].len');
    expect(error.message).toBe(
      '`args[0].len` is an instance of class Length, which uses outer variable `unit`: it cannot be sent to a worker. ' +
        'Fix: const Length = wrapNonSerializable(class Length { ... }, { unit }) and make its instances with that, or send plain data and rebuild the instance in the task.',
    );
  });

  test.each([
    [
      'private members',
      () => {
        class Counter {
          #n = 0;
          bump(): number {
            return ++this.#n;
          }
        }
        return new Counter();
      },
      /^`args\[0\]\.v` is an instance of class Counter, which has private members `#n`: it cannot be sent to a worker\. .*Fix: make them ordinary fields/,
    ],
    [
      'a function-style constructor',
      () => {
        function Old(this: { x: number }, x: number) {
          this.x = x;
        }
        Old.prototype.get = function (this: { x: number }) {
          return this.x;
        };
        return new (Old as unknown as new (x: number) => object)(1);
      },
      /^`args\[0\]\.v` is an instance of Old, made by a function-style constructor: .*declare it with `class`/,
    ],
    [
      'methods added outside the class body',
      () => {
        class Patched {
          a(): number {
            return 1;
          }
        }
        (Patched.prototype as unknown as { b: () => number }).b = () => 2;
        return new Patched();
      },
      /^`args\[0\]\.v` is an instance of class Patched, whose prototype has members added outside its class body \(`b`\)/,
    ],
    ['an object made with Object.create', () => Object.create({ greet: () => 'hi' }), /^`args\[0\]\.v` is an object whose prototype is not a class's/],
    ['a URL', () => new URL('https://example.org/'), /^`args\[0\]\.v` is a URL, which structured clone copies as an empty object: .*its href/],
    [
      'a subclass of Array',
      () => {
        class Vec extends Array<number> {}
        return Vec.from([1, 2]);
      },
      /^`args\[0\]\.v` is an instance of class Vec, a subclass of Array: .*keeps only the Array/,
    ],
  ])('%s', (_, make, message) => {
    const error = thrown(() => delayed((o: { v: unknown }) => o.v)({ v: make() }));
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.path).toBe('args[0].v');
    expect(error.message).toMatch(message);
  });
});

describe('results: an instance whose class the calling thread does not have fails in the worker, saying so', () => {
  test('a class made inside the task', async () => {
    function makes() {
      class Inner {
        a = 1;
      }
      return { v: new Inner() };
    }
    const error = await par.run([delayed(makes)()]).then(
      () => undefined,
      (e: unknown) => e as SerializationError,
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect(error!.path).toBe('result.v');
    expect(error!.message).toMatch(/^`result\.v` is an instance of class Inner, which the calling thread does not have .*: it cannot be sent back from the worker\. Fix: return plain data/);
  });
});

describe('task graphs', () => {
  test("a node's instance result reaches the nodes that use it as an instance", async () => {
    const make = wrapNonSerializable((x: number, y: number) => new Point(x, y), { Point });
    const point = delayed(make)(3, 4);
    const norm = delayed((p: Point) => p.norm())(point);
    const both = delayed((p: Point, q: Point) => p.twice().x + q.y)(point, delayed((p: Point) => p.twice())(point));
    expect(await norm.compute({ parallel: par })).toBe(5);
    expect(await both.compute({ parallel: par })).toBe(6 + 8);
  });
});
