import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { deserialize, inspectFrame, serialize, type Compression } from 'skein';
import { sameValue } from './same-value.js';

const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

// JSON-like data with the edge values msgpackr must either keep or decline.
const { plain } = fc.letrec((tie) => ({
  plain: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('array'), tie('record')),
  leaf: fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.double(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.boolean(),
    fc.constant(null),
    fc.date(),
    fc.constantFrom(-0, NaN, Infinity, undefined),
  ),
  array: fc.array(tie('plain'), { maxLength: 5 }),
  record: fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), tie('plain'), { maxKeys: 5 }),
}));

const records = fc.array(
  fc.record(
    { id: fc.nat(), name: fc.string(), score: fc.double(), ok: fc.boolean(), when: fc.date({ noInvalidDate: true }) },
    { noNullPrototype: true },
  ),
  { maxLength: 50 },
);

describe('deserialize(serialize(x)) deep-equals x (Object.is semantics)', () => {
  it('for anything structured clone handles', () => {
    fc.assert(fc.property(anything, (x) => sameValue(deserialize(serialize(x)), x)), { numRuns: 500 });
  });

  it('for plain data and its edge values', () => {
    fc.assert(fc.property(plain, (x) => sameValue(deserialize(serialize(x)), x)), { numRuns: 1000 });
  });

  it('for records, which all take the msgpack path', () => {
    fc.assert(
      fc.property(records, (xs) => {
        const frame = serialize(xs);
        const valid = xs.every((r) => !Object.is(r.score, -0));
        if (valid) expect(inspectFrame(frame).serializerId).toBe('msgpack');
        return sameValue(deserialize(frame), xs);
      }),
    );
  });

  it('with every compression', () => {
    fc.assert(
      fc.property(anything, fc.constantFrom<Compression>('gzip', 'deflate', 'brotli'), (x, compression) =>
        sameValue(deserialize(serialize(x, { compression, minCompressBytes: 0 })), x),
      ),
      { numRuns: 200 },
    );
  });

  it('for typed arrays of every dtype', () => {
    const typed = fc.oneof(
      fc.float32Array(),
      fc.float64Array(),
      fc.int8Array(),
      fc.int16Array(),
      fc.int32Array(),
      fc.uint8ClampedArray(),
      fc.uint16Array(),
      fc.uint32Array(),
      fc.bigInt64Array(),
      fc.bigUint64Array(),
    );
    fc.assert(fc.property(typed, (xs) => sameValue(deserialize(serialize(xs)), xs)));
  });
});
