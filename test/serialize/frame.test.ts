import { describe, expect, it } from '@jest/globals';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { CorruptFrameError, FORMAT_VERSION, SerializationError, SerializerRegistry, UnknownSerializerError, availableCompressions, deserialize, inspectFrame, serialize, type Compression } from 'skein';
import { crc32, crc32Implementation, crc32Portable } from '#src/serialize/checksum.js';

function failure(bytes: unknown): CorruptFrameError | SerializationError {
  try {
    deserialize(bytes as Uint8Array);
  } catch (e) {
    expect(e).toBeInstanceOf(SerializationError);
    return e as SerializationError;
  }
  throw new Error('deserialize did not throw');
}

const sample = (): Uint8Array => serialize({ hello: 'world', xs: [1, 2, 3] });

describe('frame layout', () => {
  it('starts with magic, version, and an 8-byte aligned payload', () => {
    const frame = sample();
    expect(Buffer.from(frame.subarray(0, 4)).toString('latin1')).toBe('SKNF');
    expect(frame[4]).toBe(FORMAT_VERSION);
    const info = inspectFrame(frame);
    expect(info).toMatchObject({ formatVersion: 1, serializerId: 'msgpack', compression: 'none', checksum: false });
    expect(info.headerLength % 8).toBe(0);
    expect(info.headerLength + info.payloadLength).toBe(frame.length);
  });

  it('accepts a Buffer, an ArrayBuffer and a SharedArrayBuffer', () => {
    const frame = sample();
    const shared = new SharedArrayBuffer(frame.length);
    new Uint8Array(shared).set(frame);
    for (const input of [Buffer.from(frame), frame.slice().buffer, shared]) expect(deserialize(input)).toEqual({ hello: 'world', xs: [1, 2, 3] });
  });

  it('computes the same CRC-32 as zlib, natively or not, in one call or continued', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), (data, at) => {
        expect(crc32Portable(data)).toBe(crc32(data));
        if (typeof (zlib as { crc32?: unknown }).crc32 === 'function') expect(crc32(data)).toBe(zlib.crc32(data) >>> 0);
        const cut = data.length === 0 ? 0 : at % data.length;
        expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(crc32(data));
      }),
    );
    const big = new Uint8Array(new SharedArrayBuffer(1 << 20)).map((_, i) => (i * 2654435761) >>> 24);
    expect(crc32(big)).toBe(crc32Portable(big));
  });

  it('uses the SIMD CRC-32 where its binary ships (Linux, macOS, Windows)', () => {
    if (['linux', 'darwin', 'win32'].includes(process.platform)) expect(crc32Implementation).toBe('@node-rs/crc32');
    else expect(['@node-rs/crc32', 'node:zlib', 'portable']).toContain(crc32Implementation);
  });
});

describe('frame memory', () => {
  const small = (): unknown[] => [
    'short text',
    new Float64Array([1.5, -2, Math.PI]),
    new Uint8Array([1, 2, 3]),
    { id: 1, name: 'a', tags: ['x'] },
    [{ id: 1 }, { id: 2 }],
    new Map([['k', 1]]),
    new Set([1n]),
  ];

  it('returns plain Uint8Arrays, whose slice() is a copy of their own', () => {
    for (const value of small()) {
      const frame = serialize(value);
      expect(Buffer.isBuffer(frame)).toBe(false);
      expect(Object.getPrototypeOf(frame)).toBe(Uint8Array.prototype);
      const copy = frame.slice();
      expect(copy.buffer).not.toBe(frame.buffer);
      expect(copy.byteOffset).toBe(0);
      expect(copy.buffer.byteLength).toBe(frame.byteLength);
      expect(deserialize(copy.buffer)).toEqual(value);
    }
  });

  it('keeps many small frames intact while they share pooled memory', () => {
    const values = Array.from({ length: 300 }, (_, i) => small()[i % 7]);
    const frames = values.map((v) => serialize(v));
    // Small frames come from Node's Buffer pool, so several share one ArrayBuffer...
    expect(new Set(frames.map((f) => f.buffer)).size).toBeLessThan(frames.length);
    // ...and none is overwritten by the frames made after it.
    frames.forEach((f, i) => expect(deserialize(f)).toEqual(values[i]));
  });

  it('gives a serializer its payload as a plain Uint8Array', () => {
    const r = new SerializerRegistry();
    let seen: Uint8Array | undefined;
    r.register<{ tag: 'probe' }>({
      id: 'test.probe',
      canSerialize: (v): v is { tag: 'probe' } => (v as { tag?: unknown } | null)?.tag === 'probe',
      serialize: () => new Uint8Array([7, 8, 9]),
      deserialize: (bytes) => {
        seen = bytes;
        return { tag: 'probe' };
      },
    });
    r.deserialize(r.serialize({ tag: 'probe' }));
    expect(Buffer.isBuffer(seen)).toBe(false);
    expect([...seen!.slice()]).toEqual([7, 8, 9]);
  });
});

describe('serializer ids', () => {
  it('are read from each frame, even when one buffer is reused for frames of different serializers', () => {
    // 'app.seq' and 'msgpack' have the same length: a cached id must not alias the buffer it was read from.
    const registry = new SerializerRegistry();
    registry.register<number[]>({
      id: 'app.seq',
      canSerialize: (v): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number'),
      serialize: (xs) => Buffer.from(xs.join(',')),
      deserialize: (b) => Buffer.from(b).toString().split(',').map(Number),
    });
    const frames = [registry.serialize({ a: 1 }), registry.serialize([1, 2]), registry.serialize('text'), registry.serialize(new Map([[1, 2]])), registry.serialize([3])];
    expect(frames.map((f) => inspectFrame(f).serializerId)).toEqual(['msgpack', 'app.seq', 'string', 'v8', 'app.seq']);
    const shared = Buffer.alloc(Math.max(...frames.map((f) => f.length)));
    for (const frame of [...frames, ...frames.reverse()]) {
      shared.fill(0);
      shared.set(frame);
      const view = shared.subarray(0, frame.length);
      expect(inspectFrame(view).serializerId).toBe(inspectFrame(frame.slice()).serializerId);
      expect(registry.deserialize(view)).toEqual(registry.deserialize(frame.slice()));
    }
  });

  it('reject a damaged id even when its header checksum was recomputed', () => {
    const frame = serialize({ a: 1 });
    frame[32] = 0x20; // a space: not a valid id character
    const crcOf = (b: Uint8Array): number => crc32(b.subarray(32, 40), crc32(b.subarray(0, 28)));
    new DataView(frame.buffer, frame.byteOffset).setUint32(28, crcOf(frame), true);
    expect(failure(frame)).toMatchObject({ defect: 'bad-header' });
  });
});

describe('corruption is reported, never decoded', () => {
  it('empty input', () => {
    expect(failure(new Uint8Array(0))).toMatchObject({ defect: 'empty', message: expect.stringMatching(/empty/) });
  });

  it('not bytes at all', () => {
    expect(failure('SKNF')).toMatchObject({ defect: 'not-bytes' });
    expect(failure(null)).toMatchObject({ defect: 'not-bytes' });
  });

  it('every truncation', () => {
    const frame = sample();
    for (let n = 1; n < frame.length; n++) {
      const e = failure(frame.subarray(0, n));
      expect(e).toBeInstanceOf(CorruptFrameError);
      expect((e as CorruptFrameError).defect).toBe('truncated');
    }
  });

  it('trailing bytes', () => {
    const frame = sample();
    const longer = new Uint8Array(frame.length + 3);
    longer.set(frame);
    expect(failure(longer)).toMatchObject({ defect: 'trailing-bytes', message: expect.stringMatching(/3 unexpected byte/) });
  });

  it('every single flipped bit, header or payload, with the payload checksum on', () => {
    const frame = serialize({ hello: 'world', xs: [1, 2, 3] }, { checksum: true });
    for (let i = 0; i < frame.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = frame.slice();
        bad[i]! ^= 1 << bit;
        const e = failure(bad);
        expect(e).toBeInstanceOf(CorruptFrameError);
      }
    }
  });

  it('a flipped payload byte is named as a payload checksum mismatch', () => {
    const frame = serialize(new Float64Array(100).fill(1), { checksum: true });
    frame[frame.length - 5]! ^= 0xff;
    expect(failure(frame)).toMatchObject({ defect: 'payload-checksum', serializerId: 'typed-array' });
  });

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        expect(failure(bytes)).toBeInstanceOf(CorruptFrameError);
      }),
    );
  });

  it('random bytes behind a valid magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        const bytes = new Uint8Array(4 + tail.length);
        bytes.set([0x53, 0x4b, 0x4e, 0x46]);
        bytes.set(tail, 4);
        expect(failure(bytes)).toBeInstanceOf(CorruptFrameError);
      }),
    );
  });

  it('an unknown serializer id', () => {
    const frame = serialize(new Uint8Array([1]), { serializer: { id: 'someone.else', canSerialize: (v): v is unknown => true, serialize: () => new Uint8Array([1]), deserialize: () => 1 } });
    const e = failure(frame);
    expect(e).toBeInstanceOf(UnknownSerializerError);
    expect(e).toMatchObject({ serializerId: 'someone.else', message: expect.stringMatching(/"someone.else", which is not registered here/) });
  });

  it('a payload its serializer cannot decode', () => {
    const frame = serialize(new Uint8Array([0x92, 0x01]), { serializer: { id: 'msgpack', canSerialize: (v): v is unknown => true, serialize: (v) => v as Uint8Array, deserialize: () => 1 } });
    expect(failure(frame)).toMatchObject({ defect: 'payload', serializerId: 'msgpack' });
  });

  it('without a payload checksum the header is still verified', () => {
    const frame = serialize('some text', { checksum: false });
    expect(inspectFrame(frame).checksum).toBe(false);
    expect(deserialize(frame)).toBe('some text');
    const bad = frame.slice();
    bad[8]! ^= 1; // payload length
    expect(failure(bad)).toMatchObject({ defect: 'header-checksum' });
  });
});

describe('payload checksum: off by default, on when asked', () => {
  const values = (): [string, unknown][] => [
    ['a Float64Array', Float64Array.from({ length: 64 }, (_, i) => i * 1.5)],
    ['records', Array.from({ length: 40 }, (_, i) => ({ id: i, name: `user${i}`, score: i / 7, ok: i % 2 === 0, tags: ['a', 'b'] }))],
    ['a string', 'some text, long enough to have a payload worth flipping'],
    ['a Map', new Map([['k', 1]])],
  ];
  const HEADER_DEFECTS = ['bad-magic', 'truncated', 'header-checksum', 'unsupported-version', 'bad-header'];

  it('serialize() leaves it off; `checksum: true` turns it on, and inspectFrame says which', () => {
    for (const [, value] of values()) {
      expect(inspectFrame(serialize(value)).checksum).toBe(false);
      expect(inspectFrame(serialize(value, { checksum: true })).checksum).toBe(true);
      expect(deserialize(serialize(value, { checksum: true }))).toEqual(value);
    }
  });

  it('on: every flipped payload byte raises a payload checksum mismatch', () => {
    for (const [, value] of values()) {
      const frame = serialize(value, { checksum: true });
      const { headerLength } = inspectFrame(frame);
      for (let i = headerLength; i < frame.length; i++) {
        const bad = frame.slice();
        bad[i]! ^= 0x5a;
        expect(failure(bad)).toMatchObject({ defect: 'payload-checksum' });
      }
    }
  });

  it('off: a flipped payload byte can decode to another value, but never passes for a header defect', () => {
    const frame = serialize(Float64Array.from({ length: 64 }, (_, i) => i * 1.5));
    const bad = frame.slice();
    bad[bad.length - 3]! ^= 0x5a;
    const back = deserialize(bad) as Float64Array;
    expect(back[63]).not.toBe(63 * 1.5);
    expect(back[0]).toBe(0);
    for (const [, value] of values()) {
      const f = serialize(value);
      const { headerLength } = inspectFrame(f);
      for (let i = headerLength; i < f.length; i++) {
        const flipped = f.slice();
        flipped[i]! ^= 0x5a;
        let error: unknown;
        try {
          deserialize(flipped);
        } catch (e) {
          error = e;
        }
        // Decoded (to something) or refused by the serializer that read it: the header was checked and held.
        if (error !== undefined) expect(error).toMatchObject({ defect: 'payload' });
      }
    }
  });

  it.each([true, false])('checksum %s: header damage, truncation and random bytes always raise', (checksum) => {
    for (const [, value] of values()) {
      const frame = serialize(value, { checksum });
      const { headerLength } = inspectFrame(frame);
      for (let i = 0; i < headerLength; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const bad = frame.slice();
          bad[i]! ^= 1 << bit;
          const e = failure(bad);
          expect(e).toBeInstanceOf(CorruptFrameError);
          expect(HEADER_DEFECTS).toContain((e as CorruptFrameError).defect);
        }
      }
      for (let n = 1; n < frame.length; n++) expect(failure(frame.subarray(0, n))).toMatchObject({ defect: 'truncated' });
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
        expect(failure(bytes)).toBeInstanceOf(CorruptFrameError);
      }),
    );
  });
});

describe('compression', () => {
  const text = 'the quick brown fox jumps over the lazy dog '.repeat(500);
  const compressions = availableCompressions().filter((c) => c !== 'none');

  it('offers gzip, deflate and brotli, and zstd only where node:zlib has it', () => {
    expect(compressions).toEqual(expect.arrayContaining(['gzip', 'deflate', 'brotli']));
    expect(compressions.includes('zstd')).toBe(typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function');
  });

  it.each(compressions)('%s: recorded in the frame, smaller, and transparent to deserialize', (c) => {
    const frame = serialize(text, { compression: c });
    const info = inspectFrame(frame);
    expect(info.compression).toBe(c);
    expect(info.rawLength).toBe(text.length + 1);
    expect(frame.length).toBeLessThan(text.length / 5);
    expect(deserialize(frame)).toBe(text);
  });

  it.each(compressions)('%s: typed arrays come back right (aligned copy)', (c) => {
    const xs = Float64Array.from({ length: 10_000 }, (_, i) => i % 7);
    const back = deserialize(serialize(xs, { compression: c })) as Float64Array;
    expect(back).toHaveLength(xs.length);
    expect(back.every((v, i) => v === xs[i])).toBe(true);
  });

  it('is skipped below minCompressBytes and when it would not help', () => {
    expect(inspectFrame(serialize('tiny', { compression: 'gzip' })).compression).toBe('none');
    expect(inspectFrame(serialize(text, { compression: 'gzip', minCompressBytes: 1e9 })).compression).toBe('none');
    const noise = new Uint8Array(4096).map(() => Math.floor(Math.random() * 256));
    expect(inspectFrame(serialize(noise, { compression: 'brotli' })).compression).toBe('none');
  });

  it('honours the level', () => {
    const raw = serialize(text, { compression: 'none' });
    const payload = raw.subarray(inspectFrame(raw).headerLength);
    // gzip's header records the level class (byte 8: 4 = fastest, 2 = best), and the bytes are zlib's at that level.
    for (const level of [1, 9]) {
      const frame = serialize(text, { compression: 'gzip', compressionLevel: level });
      const compressed = frame.subarray(inspectFrame(frame).headerLength);
      expect(Buffer.from(compressed).equals(zlib.gzipSync(payload, { level }))).toBe(true);
      expect(compressed[8]).toBe(level === 1 ? 4 : 2);
    }
  });

  it('rejects an unknown compression', () => {
    expect(() => serialize(1, { compression: 'lzma' as Compression })).toThrow(/Expected `compression` to be one of 'none', 'gzip'/);
  });

  it('a damaged compressed payload is caught', () => {
    const frame = serialize(text, { compression: 'gzip', checksum: true });
    frame[frame.length - 10]! ^= 0xff;
    expect(failure(frame)).toMatchObject({ defect: 'payload-checksum' });
    const unchecked = serialize(text, { compression: 'deflate', checksum: false });
    unchecked[unchecked.length - 10]! ^= 0xff;
    expect(failure(unchecked)).toBeInstanceOf(CorruptFrameError);
  });
});
