/**
 * The serializer registry: what each built-in picks, a custom serializer for
 * your own class, and an Arrow table round trip.
 *
 *   npm run build && npx tsx examples/serializers.ts
 */
import { deserialize, inspectFrame, listSerializers, preloadArrow, registerSerializer, serialize, type Serializer } from 'skein';

function show(label: string, value: unknown): unknown {
  const frame = serialize(value);
  const info = inspectFrame(frame);
  const back = deserialize(frame);
  console.log(`${label.padEnd(26)} -> ${info.serializerId.padEnd(12)} ${String(frame.byteLength).padStart(7)} bytes`);
  return back;
}

console.log('serializers, in the order they are tried:', listSerializers().join(', '));
console.log();
show('Float64Array(100_000)', new Float64Array(100_000));
show('Buffer', Buffer.from('raw bytes'));
show('string', 'hello, world');
show('10k records', Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `user${i}`, score: i / 3 })));
show('10k records, sub-objects', Array.from({ length: 10_000 }, (_, i) => ({ id: i, address: { city: `c${i % 9}`, zip: 10_000 + i } })));
show('Map', new Map([['a', 1]]));
show('object with -0 inside', { x: -0 }); // msgpack would lose the sign, so v8 takes it
const view = show('zero-copy view', Float64Array.of(1, 2, 3)) as Float64Array;
console.log('  back as', view.constructor.name, [...view], '(a view into the frame, no copy)');

// A class of your own: registered serializers are tried before the built-ins.
class Money {
  constructor(
    readonly cents: bigint,
    readonly currency: string,
  ) {}
  toString(): string {
    return `${this.cents / 100n}.${String(this.cents % 100n).padStart(2, '0')} ${this.currency}`;
  }
}

const moneySerializer: Serializer<Money> = {
  id: 'example.money',
  canSerialize: (v): v is Money => v instanceof Money,
  serialize: (m) => Buffer.from(`${m.cents}:${m.currency}`),
  deserialize: (bytes) => {
    const [cents, currency] = Buffer.from(bytes).toString().split(':');
    return new Money(BigInt(cents!), currency!);
  },
};
registerSerializer(moneySerializer);

console.log();
const price = show('Money (custom)', new Money(123_45n, 'EUR')) as Money;
console.log('  back as', price instanceof Money ? 'a Money:' : 'NOT a Money:', String(price));

// Compression is per call and recorded in the frame.
const text = 'all work and no play makes jack a dull boy. '.repeat(2000);
const plain = serialize(text);
const gz = serialize(text, { compression: 'gzip' });
console.log(`\ncompression: ${plain.byteLength} bytes plain, ${gz.byteLength} gzip (${inspectFrame(gz).compression}); same text back: ${deserialize(gz) === text}`);

// The header is always checked; a payload CRC-32 is off by default and added by checksum: true (as FileStore does).
const checked = serialize(new Float64Array(1_000_000), { checksum: true });
console.log(`checksum: ${inspectFrame(serialize(new Float64Array(4))).checksum} by default, ${inspectFrame(checked).checksum} with checksum: true`);

// A damaged frame raises SerializationError: always for the header, for the payload when it has a checksum.
const damaged = serialize({ a: 1 }, { checksum: true });
damaged[damaged.length - 1]! ^= 0xff;
try {
  deserialize(damaged);
} catch (e) {
  console.log(`corrupted frame: ${(e as Error).name}: ${(e as Error).message}`);
}

// Apache Arrow tables, when apache-arrow is installed.
if (await preloadArrow()) {
  const { tableFromArrays } = await import('apache-arrow');
  const table = tableFromArrays({
    city: ['Lyon', 'Oslo', 'Kyoto'],
    temperature: Float64Array.of(21.5, 9.25, 27.0),
  });
  const back = show('Arrow table', table) as typeof table;
  console.log(`  back as ${back.constructor.name} with ${back.numRows} rows:`, back.toArray().map((r) => r.toJSON()));
} else {
  console.log('\napache-arrow is not installed: Arrow tables would fall back to other serializers');
}
