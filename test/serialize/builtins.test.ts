import { describe, expect, it } from '@jest/globals';
import { Packr, Unpackr } from 'msgpackr';
import { deserialize, inspectFrame, serialize } from 'skein';
import { shapeChecks } from '#src/serialize/builtins/plain-data.js';
import { runNode } from '../helpers.js';
import { sameValue } from './same-value.js';

const idOf = (value: unknown): string => inspectFrame(serialize(value)).serializerId;
const roundTrip = <T>(value: T): T => deserialize(serialize(value)) as T;

describe('bytes', () => {
  it.each([
    ['Uint8Array', new Uint8Array([1, 2, 3])],
    ['Buffer', Buffer.from('hello')],
    ['ArrayBuffer', new Uint8Array([4, 5]).buffer],
    ['SharedArrayBuffer', new SharedArrayBuffer(3)],
    ['empty Uint8Array', new Uint8Array(0)],
  ])('round-trips a %s as the same kind', (_, value) => {
    expect(idOf(value)).toBe('bytes');
    const back = roundTrip(value);
    expect(Object.prototype.toString.call(back)).toBe(Object.prototype.toString.call(value));
    expect(Buffer.isBuffer(back)).toBe(Buffer.isBuffer(value));
    expect(sameValue(back, value)).toBe(true);
  });

  it('returns views of the frame, not copies', () => {
    const frame = serialize(new Uint8Array([1, 2, 3]));
    const back = deserialize(frame) as Uint8Array;
    expect(back.buffer).toBe(frame.buffer);
  });
});

describe('string', () => {
  it.each([
    ['empty', ''],
    ['ascii', 'hello world'],
    ['short unicode', 'héllo wörld ✓ 日本 😀'],
    ['long ascii', 'x'.repeat(100_000)],
    ['long unicode', 'é😀'.repeat(50_000)],
    ['latin1 only', 'ÿé'.repeat(5000)],
  ])('round-trips %s text', (_, s) => {
    expect(idOf(s)).toBe('string');
    expect(roundTrip(s)).toBe(s);
  });

  it('uses UTF-8 for short text and UTF-16 for long non-ASCII text', () => {
    const short = serialize('é');
    expect(inspectFrame(short).payloadLength).toBe(1 + 2);
    expect(inspectFrame(serialize('é'.repeat(10_000))).payloadLength).toBe(1 + 20_000);
  });

  it('leaves lone surrogates to v8, which keeps them', () => {
    for (const s of ['\ud800', 'a\udc00b', `${'x'.repeat(5000)}\ud83d`]) {
      expect(idOf(s)).toBe('v8');
      expect(roundTrip(s)).toBe(s);
    }
  });
});

describe('typed arrays and DataView', () => {
  const all: [string, ArrayBufferView][] = [
    ['Int8Array', Int8Array.of(-1, 2)],
    ['Uint8ClampedArray', Uint8ClampedArray.of(0, 255)],
    ['Int16Array', Int16Array.of(-300, 300)],
    ['Uint16Array', Uint16Array.of(65535)],
    ['Int32Array', Int32Array.of(-(2 ** 31))],
    ['Uint32Array', Uint32Array.of(2 ** 32 - 1)],
    ['Float32Array', Float32Array.of(1.5, NaN, -0)],
    ['Float64Array', Float64Array.of(Math.PI, -Infinity, -0)],
    ['BigInt64Array', BigInt64Array.of(-(2n ** 63n))],
    ['BigUint64Array', BigUint64Array.of(2n ** 64n - 1n)],
    ['DataView', new DataView(Uint8Array.of(1, 2, 3).buffer)],
  ];

  it.each(all)('round-trips %s with its dtype', (name, value) => {
    expect(idOf(value)).toBe('typed-array');
    const back = roundTrip(value);
    expect(Object.prototype.toString.call(back)).toBe(`[object ${name}]`);
    expect(sameValue(back, value)).toBe(true);
  });

  it('keeps only the viewed part of a larger buffer', () => {
    const whole = Float64Array.of(1, 2, 3, 4);
    const back = roundTrip(whole.subarray(1, 3));
    expect([...back]).toEqual([2, 3]);
    expect(back.byteLength).toBe(16);
  });

  it('deserializes as an aligned zero-copy view of the frame', () => {
    const frame = serialize(new Float64Array(1000).fill(7));
    expect(frame.byteOffset % 8).toBe(0);
    const info = inspectFrame(frame);
    expect(info.headerLength % 8).toBe(0);
    const back = deserialize(frame) as Float64Array;
    expect(back.buffer).toBe(frame.buffer);
    expect(back.byteOffset % 8).toBe(0);
    frame[frame.length - 1] = 0; // the view sees the frame's bytes
    expect(back[999]).not.toBe(7);
  });

  it('copies to an aligned array when the frame sits at an unaligned offset', () => {
    const frame = serialize(Float64Array.of(1, 2, 3));
    const shifted = new Uint8Array(frame.length + 1).subarray(1);
    shifted.set(frame);
    const back = deserialize(shifted) as Float64Array;
    expect([...back]).toEqual([1, 2, 3]);
    expect(back.buffer).not.toBe(shifted.buffer);
  });

  it('reads zero-copy out of shared memory', () => {
    const frame = serialize(Int32Array.of(1, 2, 3));
    const shared = new Uint8Array(new SharedArrayBuffer(frame.length));
    shared.set(frame);
    const back = deserialize(shared) as Int32Array;
    expect(back.buffer).toBe(shared.buffer);
    expect([...back]).toEqual([1, 2, 3]);
  });

  it('writes the same bytes every time (no uninitialized memory in frames)', () => {
    for (const value of [Float64Array.of(1, 2), new Uint8Array(3), 'abc', 'é'.repeat(5000), [{ a: 1 }], new Map([[1, 2]])]) {
      const frames = Array.from({ length: 3 }, () => Buffer.from(serialize(value)).toString('hex'));
      expect(new Set(frames).size).toBe(1);
    }
    const frame = serialize(Float64Array.of(1));
    const { headerLength } = inspectFrame(frame);
    expect([...frame.subarray(headerLength + 2, headerLength + 8)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('leaves subclasses to other serializers', () => {
    class Vec extends Float64Array {}
    expect(idOf(new Vec(2))).toBe('v8');
  });
});

describe('msgpack: plain data only, exactly', () => {
  it.each([
    ['records', Array.from({ length: 100 }, (_, i) => ({ id: i, name: `n${i}`, ok: i % 2 === 0, score: i / 3, tags: ['a'] }))],
    ['nested config', { server: { port: 8080, hosts: ['a', 'b'], tls: null }, retries: 3.5, on: true }],
    ['numbers', [0, 1, -1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e300, 5e-324, NaN, Infinity, -Infinity, 0.1]],
    ['dates', [new Date(0), new Date(-1e12), new Date(8.64e15), new Date(1234567890123)]],
    ['empty things', [{}, [], '']],
    ['integer-like keys', { 2: 'b', 1: 'a', x: 'c' }],
    ['top-level number', 42],
    ['top-level null', null],
    ['top-level boolean', false],
  ])('takes %s and gives them back', (_, value) => {
    expect(idOf(value)).toBe('msgpack');
    const back = roundTrip(value);
    expect(sameValue(back, value)).toBe(true);
    if (typeof value === 'object' && value !== null) expect(Object.keys(back as object)).toEqual(Object.keys(value));
  });

  it.each([
    ['-0', -0],
    ['-0 nested', { a: [1, -0] }],
    ['undefined in an array', [1, undefined]],
    ['undefined property', { a: undefined }],
    ['a sparse array', [1, , 3]],
    ['a class instance', [new (class Foo { a = 1 })()]],
    ['a null-prototype object', Object.assign(Object.create(null) as object, { a: 1 })],
    ['a Map', { m: new Map([[1, 2]]) }],
    ['a Set', new Set([1])],
    ['a BigInt', { n: 1n }],
    ['an invalid Date', new Date(NaN)],
    ['a Date with own properties', Object.assign(new Date(0), { tz: 'UTC' })],
    ['a typed array inside', { xs: new Float64Array(2) }],
    ['a __proto__ key', JSON.parse('{"__proto__": {"polluted": true}}') as unknown],
    ['a lone surrogate key', { '\ud800': 1 }],
    ['a RegExp', [/x/g]],
    ['an Error', new Error('e')],
    ['a boxed primitive', [Object(1) as unknown]],
  ])('sends %s to v8, which keeps it', (_, value) => {
    expect(idOf(value)).toBe('v8');
    expect(sameValue(roundTrip(value), value)).toBe(true);
  });

  it('sends cycles and very deep nesting to v8', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(idOf(cyclic)).toBe('v8');
    const back = roundTrip(cyclic) as Record<string, unknown>;
    expect(back['self']).toBe(back);
    let deep: unknown = 1;
    for (let i = 0; i < 500; i++) deep = [deep];
    expect(idOf(deep)).toBe('v8');
    expect(sameValue(roundTrip(deep), deep)).toBe(true);
  });

  it('leaves large objects of one-off shapes (a big config) to v8, where they are faster', () => {
    const config: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) config[`section${i}`] = { [`a${i}`]: i, [`b${i}`]: `v${i}`, nested: { [`c${i}`]: true } };
    expect(idOf(config)).toBe('v8');
    expect(sameValue(roundTrip(config), config)).toBe(true);
  });

  it('checks every record of a repeated shape, not just the first', () => {
    const base = (): Record<string, unknown>[] => Array.from({ length: 50 }, (_, i) => ({ id: i, name: `n${i}`, tags: ['a', 'b'], when: new Date(i) }));
    const spoilers: [string, unknown][] = [
      ['-0', -0],
      ['undefined', undefined],
      ['a lone surrogate', 'x\ud800'],
      ['a Map', new Map()],
      ['a class instance', new (class Foo {})()],
      ['a hole', [1, , 3]],
      ['a nested -0', { deep: [0, -0] }],
      ['a BigInt', 1n],
    ];
    for (const [, bad] of spoilers) {
      for (const key of ['id', 'name', 'tags']) {
        const records = base();
        records[37]![key] = bad;
        expect(idOf(records)).toBe('v8');
        expect(sameValue(roundTrip(records), records)).toBe(true);
      }
    }
    const proto = base();
    proto[20] = Object.assign(Object.create({ inherited: 1 }) as object, proto[20]);
    expect(idOf(proto)).toBe('v8');
  });

  it('keeps records whose keys change order, count or names midway', () => {
    const records: Record<string, unknown>[] = Array.from({ length: 40 }, (_, i) => ({ a: i, b: `s${i}`, c: i % 2 === 0 }));
    records[10] = { b: 'swapped', a: 10, c: true };
    records[11] = { a: 11, b: 's11' };
    records[12] = { a: 12, b: 's12', c: false, d: [1, 2] };
    records[13] = { x: 13 };
    records[14] = {};
    for (const r of [records, [...records].reverse()]) {
      expect(idOf(r)).toBe('msgpack');
      const back = roundTrip(r) as Record<string, unknown>[];
      expect(sameValue(back, r)).toBe(true);
      back.forEach((b, i) => expect(Object.keys(b)).toEqual(Object.keys(r[i]!)));
    }
  });

  describe('long runs of one shape (checked by a checker compiled for the shape)', () => {
    const N = 300;
    const base = (): Record<string, unknown>[] => Array.from({ length: N }, (_, i) => ({ id: i, name: `n${i}`, tags: ['a', 'b'], when: new Date(i), pos: [i, i / 2] }));

    it('compiles a checker once a shape repeats, and still takes the records', () => {
      shapeChecks.clear();
      const records = base();
      expect(idOf(records)).toBe('msgpack');
      expect(shapeChecks.size).toBe(1);
      expect(sameValue(roundTrip(records), records)).toBe(true);
      // A second array of the same shape reuses it.
      idOf(base());
      expect(shapeChecks.size).toBe(1);
    });

    it('sends a spoiled record anywhere past the compile point to v8', () => {
      const spoilers: unknown[] = [-0, undefined, 'x\ud800', new Map(), new (class Foo {})(), [1, , 3], ['a', undefined], ['a', -0], [new (class Bar {})()], { deep: [0, -0] }, 1n, new Date(NaN)];
      for (const bad of spoilers) {
        for (const key of ['id', 'name', 'tags', 'pos']) {
          for (const at of [70, 199, N - 1]) {
            const records = base();
            records[at]![key] = bad;
            expect(idOf(records)).toBe('v8');
            expect(sameValue(roundTrip(records), records)).toBe(true);
          }
        }
      }
    });

    it('keeps records whose keys change past the compile point', () => {
      const records = base();
      records[100] = { name: 'n100', id: 100, tags: ['a'], when: new Date(100), pos: [] }; // order
      records[150] = { id: 150, name: 'n150', tags: [], when: new Date(150) }; // one fewer
      records[151] = { ...records[151], extra: [true, null] }; // one more
      records[152] = { id: 152, name: 'n152', tags: ['a'], when: new Date(152), other: 1 }; // same count, another name
      expect(idOf(records)).toBe('msgpack');
      const back = roundTrip(records) as Record<string, unknown>[];
      expect(sameValue(back, records)).toBe(true);
      back.forEach((b, i) => expect(Object.keys(b)).toEqual(Object.keys(records[i]!)));
    });

    it('reads keys that need escaping in source as plain property names', () => {
      const keys = ['a"b', "c'd", 'e\\f', '\u2028', '${x}', '`', '0', '10', 'constructor', "']; throw 1; //", ''];
      const records = Array.from({ length: 200 }, (_, i) => Object.fromEntries(keys.map((k, j) => [k, `${i}:${j}`])) as Record<string, unknown>);
      expect(idOf(records)).toBe('msgpack');
      expect(sameValue(roundTrip(records), records)).toBe(true);
      records[150]!["']; throw 1; //"] = undefined;
      expect(idOf(records)).toBe('v8');
    });

    it('runs getters the same way the uncompiled check does', () => {
      const records: object[] = base();
      let reads = 0;
      records[120] = {
        id: 120,
        name: 'n120',
        get tags() {
          reads++;
          return reads > 0 ? ['a'] : undefined;
        },
        when: new Date(120),
        pos: [120],
      };
      expect(idOf(records)).toBe('msgpack');
      expect(reads).toBeGreaterThan(0);
    });

    it('takes records holding sub-objects of a repeated shape, and checks every one', () => {
      const rows = (n: number): Record<string, unknown>[] =>
        Array.from({ length: n }, (_, i) => ({ id: i, address: { city: `c${i % 7}`, zip: 10000 + i }, geo: { lat: i / 8, lon: -(i + 1) / 8 }, tags: ['a'] }));
      for (const n of [20, N]) {
        const records = rows(n);
        expect(idOf(records)).toBe('msgpack');
        expect(sameValue(roundTrip(records), records)).toBe(true);
      }
      const spoilers: unknown[] = [-0, undefined, new Map(), new (class Foo {})(), [1, , 3], 1n];
      for (const bad of spoilers) {
        for (const at of [10, 70, N - 1]) {
          const records = rows(N);
          (records[at]!['geo'] as Record<string, unknown>)['lon'] = bad;
          expect(idOf(records)).toBe('v8');
          expect(sameValue(roundTrip(records), records)).toBe(true);
        }
      }
      // A sub-object whose keys change midway is checked the long way and kept as it is.
      const changed = rows(N);
      changed[100]!['address'] = { zip: 1, city: 'swapped' };
      changed[101]!['address'] = { city: 'x', zip: 2, extra: [true] };
      expect(idOf(changed)).toBe('msgpack');
      const back = roundTrip(changed) as Record<string, Record<string, unknown>>[];
      expect(sameValue(back, changed)).toBe(true);
      expect(Object.keys(back[100]!['address']!)).toEqual(['zip', 'city']);
    });

    it('works where code generation from strings is disallowed', async () => {
      const script = `
        import('skein').then(({ serialize, deserialize, inspectFrame }) => {
          const rs = Array.from({ length: 300 }, (_, i) => ({ id: i, s: 'v' + i }));
          const ok = inspectFrame(serialize(rs)).serializerId === 'msgpack' && JSON.stringify(deserialize(serialize(rs))) === JSON.stringify(rs);
          rs[200].id = -0;
          process.stdout.write(String(ok && inspectFrame(serialize(rs)).serializerId === 'v8'));
        });`;
      const { code, stdout, stderr } = await runNode(['--disallow-code-generation-from-strings', '--input-type=module', '-e', script]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toBe('true');
    });
  });

  it('gives back earlier frames intact after later ones reuse the packing buffer', () => {
    const a = Array.from({ length: 2000 }, (_, i) => ({ i, s: `a${i}` }));
    const b = Array.from({ length: 10 }, (_, i) => ({ j: -i, t: 'b' }));
    const fa = serialize(a);
    const fb = serialize(b);
    serialize(a.map((r) => ({ ...r, s: 'overwritten' })));
    expect(deserialize(fa)).toEqual(a);
    expect(deserialize(fb)).toEqual(b);
    expect(fa.byteOffset).toBe(0);
    expect(fa.buffer.byteLength).toBe(fa.byteLength);
  });

  describe('written by skein in msgpackr’s record format, checked as it is written', () => {
    const payload = (frame: Uint8Array): Uint8Array => frame.subarray(inspectFrame(frame).headerLength);

    it('gives the bytes msgpackr’s Packr gives, which a plain Unpackr reads', () => {
      const values: unknown[] = [
        Array.from({ length: 300 }, (_, i) => ({ id: i, name: `user${i}`, score: i / 7, ok: i % 3 === 0, tags: ['a', 'b'] })),
        Array.from({ length: 100 }, (_, i) => ({ id: i, address: { city: `c${i % 5}`, zip: 10000 + i }, when: new Date(i * 1e9) })),
        { server: { port: 8080, hosts: ['a', 'b'], tls: null }, retries: 3.5, on: true, nested: [[1, [2, [3]]], {}] },
        [0, 0x3f, 0x40, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, NaN],
        ['', 'é', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(20), 'x'.repeat(63), 'x'.repeat(64), '日'.repeat(100), '😀'.repeat(40), 'y'.repeat(70_000)],
      ];
      const unpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, moreTypes: false });
      for (const value of values) {
        const frame = serialize(value);
        expect(inspectFrame(frame).serializerId).toBe('msgpack');
        expect(Buffer.from(payload(frame)).equals(Buffer.from(new Packr({ useRecords: true, moreTypes: false }).pack(value)))).toBe(true);
        expect(sameValue(unpackr.unpack(payload(frame)), value)).toBe(true);
      }
    });

    it('keeps more than 64 shapes in one value apart (record ids are reused past 64)', () => {
      const shapes = 150;
      const rows: Record<string, unknown>[] = [];
      for (let round = 0; round < 2; round++) {
        for (let s = 0; s < shapes; s++) {
          for (let k = 0; k < 4; k++) rows.push({ [`k${s}`]: k, common: `r${round}`, sub: { [`s${s % 70}`]: [s, k] } });
        }
      }
      expect(idOf(rows)).toBe('msgpack');
      const back = roundTrip(rows) as Record<string, unknown>[];
      expect(sameValue(back, rows)).toBe(true);
      back.forEach((b, i) => expect(Object.keys(b)).toEqual(Object.keys(rows[i]!)));
    });

    it('keeps thousands of shapes in one value apart, past the writer’s shape cache', () => {
      const rows: Record<string, number>[] = [];
      for (let s = 0; s < 4500; s++) for (let k = 0; k < 4; k++) rows.push({ [`k${s}`]: k, [`j${s % 3}`]: s });
      expect(idOf(rows)).toBe('msgpack');
      expect(sameValue(roundTrip(rows), rows)).toBe(true);
      expect(idOf(rows.slice(0, 4000))).toBe('msgpack');
      expect(sameValue(roundTrip(rows.slice(0, 4000)), rows.slice(0, 4000))).toBe(true);
    });

    it('round-trips strings at every header size, and sends a lone surrogate anywhere to v8', () => {
      const strings = [31, 32, 33, 63, 64, 65, 255, 256, 65_535, 65_536].flatMap((n) => ['a'.repeat(n), 'é'.repeat(n), `${'b'.repeat(n - 1)}😀`, '日'.repeat(n)]);
      const records = strings.map((s, i) => ({ i, s }));
      expect(idOf(records)).toBe('msgpack');
      expect(sameValue(roundTrip(records), records)).toBe(true);
      for (const bad of ['\ud800', 'ab\udc00', `${'c'.repeat(40)}\ud83d`, `\ude00${'d'.repeat(100)}`, `${'e'.repeat(5000)}\ud800x`]) {
        for (const at of [0, records.length - 1]) {
          const spoiled = records.map((r) => ({ ...r }));
          spoiled[at]!.s = bad;
          expect(idOf(spoiled)).toBe('v8');
          expect(sameValue(roundTrip(spoiled), spoiled)).toBe(true);
        }
      }
    });

    it('round-trips Dates in each timestamp form', () => {
      const dates = [0, 1, 999, 1000, -1, -1500, 2 ** 32 * 1000 - 1, 2 ** 32 * 1000, 8.64e15, -8.64e15, 1234567890123].map((t) => new Date(t));
      expect(idOf(dates)).toBe('msgpack');
      expect((roundTrip(dates) as Date[]).map((d) => d.getTime())).toEqual(dates.map((d) => d.getTime()));
    });

    it('lets v8 take a value serialized by a getter while skein writes the outer one', () => {
      const inner = new Map([['k', 1]]);
      let frame: Uint8Array | undefined;
      const records: object[] = Array.from({ length: 100 }, (_, i) => ({ id: i, v: `v${i}` }));
      records[50] = {
        id: 50,
        get v() {
          frame = serialize([{ nested: true }, inner]);
          return 'v50';
        },
      };
      expect(idOf(records)).toBe('msgpack');
      expect(inspectFrame(frame!).serializerId).toBe('v8');
      expect(sameValue(deserialize(frame!), [{ nested: true }, inner])).toBe(true);
      expect(roundTrip(records)).toEqual(records.map((r) => ({ ...r })));
    });

    it('never writes a record whose values disagree with its keys when a getter changes the object', () => {
      const records: Record<string, unknown>[] = Array.from({ length: 200 }, (_, i) => ({ a: i, b: `b${i}`, c: [i] }));
      const victim = records[150]!;
      Object.defineProperty(victim, 'a', {
        enumerable: true,
        get() {
          delete victim['c'];
          return 150;
        },
      });
      const back = roundTrip(records) as Record<string, unknown>[];
      expect(sameValue(back.slice(0, 150), records.slice(0, 150))).toBe(true);
      expect(back[150]).toEqual({ a: 150, b: 'b150' });
      expect(back[151]).toEqual({ a: 151, b: 'b151', c: [151] });
    });
  });

  it('writes records much smaller than v8', () => {
    const records = Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `user${i}`, score: i * 0.5 }));
    expect(serialize(records).length).toBeLessThan(serialize(records, { serializer: 'v8' }).length / 2);
  });
});

describe('v8 fallback', () => {
  it.each([
    ['Map', new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]])],
    ['Set', new Set([1, 'two', 3n])],
    ['BigInt', 2n ** 100n],
    ['RegExp', /ab+c/gi],
    ['undefined', undefined],
    ['sparse array', [, 1, , 2]],
  ])('round-trips %s', (_, value) => {
    expect(idOf(value)).toBe('v8');
    expect(sameValue(roundTrip(value), value)).toBe(true);
  });

  it('keeps Errors, shared references and cycles', () => {
    const err = roundTrip(new RangeError('bad')) as Error;
    expect(err.name).toBe('RangeError');
    expect(err.message).toBe('bad');
    const shared = { s: 1 };
    const back = roundTrip(new Map([['a', shared], ['b', shared]]));
    expect(back.get('a')).toBe(back.get('b'));
  });
});
