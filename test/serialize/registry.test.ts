import { describe, expect, it } from '@jest/globals';
import {
  SerializationError,
  SerializerRegistry,
  UnknownSerializerError,
  deserialize,
  getSerializer,
  inspectFrame,
  listSerializers,
  registerSerializer,
  serialize,
  unregisterSerializer,
  type Serializer,
} from 'skein';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

const isPoint = (v: unknown): v is Point => typeof v === 'object' && v !== null && (v as { constructor?: unknown }).constructor === Point;

function pointSerializer(id = 'test.point'): Serializer<Point> {
  return {
    id,
    canSerialize: isPoint,
    serialize: (p) => new Uint8Array(new Float64Array([p.x, p.y]).buffer),
    deserialize: (b) => {
      const [x, y] = new Float64Array(b.slice().buffer);
      return new Point(x!, y!);
    },
  };
}

const BUILTINS = ['bytes', 'string', 'typed-array', 'arrow', 'msgpack', 'v8', 'identity'];

describe('registration', () => {
  it('starts with the built-ins in trial order', () => {
    expect(new SerializerRegistry().list()).toEqual(BUILTINS);
    expect(new SerializerRegistry({ builtins: false }).list()).toEqual([]);
  });

  it('tries user serializers first, in registration order', () => {
    const r = new SerializerRegistry();
    r.register(pointSerializer('a'));
    r.register(pointSerializer('b'));
    expect(r.list()).toEqual(['a', 'b', ...BUILTINS]);
    expect(inspectFrame(r.serialize(new Point(1, 2))).serializerId).toBe('a');
    const back = r.deserialize(r.serialize(new Point(1, 2)));
    expect(back).toBeInstanceOf(Point);
    expect(back).toEqual(new Point(1, 2));
  });

  it('places a serializer with `before`, among user ones or built-ins', () => {
    const r = new SerializerRegistry();
    r.register(pointSerializer('a'));
    r.register(pointSerializer('b'), { before: 'a' });
    r.register(pointSerializer('c'), { before: 'v8' });
    r.register(pointSerializer('d'));
    expect(r.list()).toEqual(['b', 'a', 'd', 'bytes', 'string', 'typed-array', 'arrow', 'msgpack', 'c', 'v8', 'identity']);
  });

  it('a serializer placed after msgpack only sees what msgpack declines', () => {
    const r = new SerializerRegistry();
    const seen: unknown[] = [];
    r.register(
      { id: 'spy', canSerialize: (v): v is unknown => (seen.push(v), false), serialize: () => new Uint8Array(), deserialize: () => null },
      { before: 'v8' },
    );
    r.serialize({ a: 1 });
    r.serialize(new Map());
    // Declined midway: a Map after the first record.
    const late = [{ a: 1 }, new Map()];
    expect(inspectFrame(r.serialize(late)).serializerId).toBe('v8');
    expect(seen).toEqual([new Map(), late]);
  });

  it('rejects duplicate ids, unknown `before`, malformed serializers', () => {
    const r = new SerializerRegistry();
    r.register(pointSerializer('p'));
    expect(() => r.register(pointSerializer('p'))).toThrow(/already registered/);
    expect(() => r.register(pointSerializer('msgpack'))).toThrow(SerializationError);
    expect(() => r.register(pointSerializer('q'), { before: 'nope' })).toThrow(/Expected `before` to name a registered serializer, got `"nope"` \(string\)/);
    expect(() => r.register(pointSerializer(''))).toThrow(TypeError);
    expect(() => r.register(pointSerializer('has space'))).toThrow(/printable ASCII/);
    expect(() => r.register(pointSerializer('x'.repeat(65)))).toThrow(TypeError);
    expect(() => r.register({ id: 'z', canSerialize: () => true } as unknown as Serializer)).toThrow(/`serialize` method/);
    expect(() => r.register(null as unknown as Serializer)).toThrow(/Expected a serializer object/);
    expect(r.list()).toEqual(['p', ...BUILTINS]);
  });

  it('unregisters user serializers and built-ins', () => {
    const r = new SerializerRegistry();
    r.register(pointSerializer('p'));
    expect(r.unregister('p')).toBe(true);
    expect(r.unregister('p')).toBe(false);
    const frame = r.serialize({ a: 1 });
    expect(r.unregister('msgpack')).toBe(true);
    expect(inspectFrame(r.serialize({ a: 1 })).serializerId).toBe('v8');
    expect(() => r.deserialize(frame)).toThrow(UnknownSerializerError);
    r.register(pointSerializer('after'));
    expect(r.list()[0]).toBe('after');
  });

  it('the free functions use the default registry', () => {
    registerSerializer(pointSerializer('default.point'));
    try {
      expect(listSerializers()[0]).toBe('default.point');
      expect(getSerializer('default.point')?.id).toBe('default.point');
      expect(deserialize(serialize(new Point(3, 4)))).toEqual(new Point(3, 4));
    } finally {
      expect(unregisterSerializer('default.point')).toBe(true);
    }
    expect(getSerializer('default.point')).toBeUndefined();
  });
});

describe('choosing and falling through', () => {
  it('falls through when a serializer throws, and when canSerialize throws', () => {
    const r = new SerializerRegistry();
    r.register({ id: 'broken', canSerialize: (v): v is unknown => true, serialize: () => { throw new Error('boom'); }, deserialize: () => null });
    r.register({ id: 'worse', canSerialize: (v): v is unknown => { throw new Error('bad check'); }, serialize: () => new Uint8Array(), deserialize: () => null });
    r.register({ id: 'not-bytes', canSerialize: (v): v is unknown => true, serialize: () => 'oops' as unknown as Uint8Array, deserialize: () => null });
    expect(inspectFrame(r.serialize({ a: 1 })).serializerId).toBe('msgpack');
    expect(r.deserialize(r.serialize({ a: 1 }))).toEqual({ a: 1 });
  });

  it('names the type and path of what nothing can take', () => {
    const value = { model: { layers: [1, 2], predict: function predict() {} } };
    let error: unknown;
    try {
      serialize(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SerializationError);
    const e = error as SerializationError;
    expect(e.path).toBe('value.model.predict');
    expect(e.message).toMatch(/\(Function\) at `value\.model\.predict`/);
    expect(e.message).toMatch(/tried v8/);
    expect(e.code).toBe('ERR_SKEIN_SERIALIZATION');
    expect(e.cause).toBeDefined();
  });

  it('uses the caller-given root in paths, through Maps and odd keys', () => {
    const value = [0, new Map([['k', { 'odd key': Symbol('s') }]])];
    expect(() => serialize(value, { path: 'args' })).toThrow(
      expect.objectContaining({ path: 'args[1].get("k")["odd key"]' }) as unknown as Error,
    );
  });

  it('a top-level function is refused by every serializer', () => {
    expect(() => serialize(() => 1)).toThrow(/no registered serializer claims it/);
    expect(() => serialize(Symbol('x'))).toThrow(/\(symbol\)/);
  });

  it('reports which serializer it would try first', () => {
    const r = new SerializerRegistry();
    expect(r.serializerFor(new Float32Array(2))?.id).toBe('typed-array');
    expect(r.serializerFor([{ a: 1 }])?.id).toBe('msgpack');
    expect(r.serializerFor(new Set())?.id).toBe('v8');
    expect(r.serializerFor(() => 1)).toBeUndefined();
  });
});

describe('explicit serializers (the stores’ per-call overrides)', () => {
  it('serializes with a named serializer, and refuses values it cannot take', () => {
    const frame = serialize({ a: 1 }, { serializer: 'v8' });
    expect(inspectFrame(frame).serializerId).toBe('v8');
    expect(deserialize(frame)).toEqual({ a: 1 });
    expect(() => serialize(new Map(), { serializer: 'msgpack' })).toThrow(/Serializer "msgpack" cannot serialize/);
    expect(() => serialize([{ a: 1 }, { m: new Map() }], { serializer: 'msgpack' })).toThrow(/Serializer "msgpack" cannot serialize `\[/);
    expect(() => serialize(1, { serializer: 'nope' })).toThrow(UnknownSerializerError);
  });

  it('identity keeps bytes exactly as given', () => {
    const bytes = new Uint8Array([9, 8, 7]);
    const frame = serialize(bytes, { serializer: 'identity' });
    const info = inspectFrame(frame);
    expect(info.serializerId).toBe('identity');
    expect(info.payloadLength).toBe(3);
    expect(frame.subarray(info.headerLength)).toEqual(bytes);
    expect(deserialize(frame)).toEqual(bytes);
  });

  it('takes serializer and deserializer functions', () => {
    const frame = serialize(new Point(5, 6), { serializer: (p) => Buffer.from(JSON.stringify(p)) });
    expect(inspectFrame(frame).serializerId).toBe('identity');
    expect(Buffer.from(deserialize(frame) as Uint8Array).toString()).toBe('{"x":5,"y":6}');
    const back = deserialize(frame, { deserializer: (b) => JSON.parse(Buffer.from(b).toString()) as unknown });
    expect(back).toEqual({ x: 5, y: 6 });
    expect(() => serialize(1, { serializer: () => 'text' as unknown as Uint8Array })).toThrow(/expected a Uint8Array/);
  });

  it('takes an unregistered Serializer object on both sides', () => {
    const s = pointSerializer('adhoc.point');
    const frame = serialize(new Point(1, 1), { serializer: s });
    expect(() => deserialize(frame)).toThrow(/not registered here/);
    expect(deserialize(frame, { deserializer: s })).toEqual(new Point(1, 1));
    expect(() => deserialize(frame, { deserializer: pointSerializer('other') })).toThrow(/written by serializer "adhoc.point"/);
  });

  it('wraps a failing explicit serializer with its cause', () => {
    const s: Serializer = { id: 'fails', canSerialize: (v): v is unknown => true, serialize: () => { throw new RangeError('nope'); }, deserialize: () => null };
    expect(() => serialize(1, { serializer: s })).toThrow(/Serializer "fails" failed on `1` \(number\): RangeError: nope/);
  });
});
