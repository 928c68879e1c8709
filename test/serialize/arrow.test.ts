import { describe, expect, it } from '@jest/globals';
import { deserialize, inspectFrame, preloadArrow, serialize } from 'skein';

// A devDependency: when it is missing this suite fails at import instead of skipping unseen.
const arrow = await import('apache-arrow');

describe('Arrow tables', () => {
  it('round-trip through Arrow IPC, as the same Table class', async () => {
    expect(await preloadArrow()).toBe(true);
    const { tableFromArrays, Table } = arrow;
    const table = tableFromArrays({
      id: Int32Array.from({ length: 1000 }, (_, i) => i),
      value: Float64Array.from({ length: 1000 }, (_, i) => i / 3),
      name: Array.from({ length: 1000 }, (_, i) => `row${i}`),
    });
    const frame = serialize(table);
    expect(inspectFrame(frame).serializerId).toBe('arrow');
    const back = deserialize(frame) as InstanceType<typeof Table>;
    expect(back).toBeInstanceOf(Table);
    expect(back.numRows).toBe(1000);
    expect(back.schema.fields.map((f) => f.name)).toEqual(['id', 'value', 'name']);
    expect(back.getChild('name')?.get(999)).toBe('row999');
    expect(back.getChild('value')?.get(3)).toBe(1);
    expect(back.toArray().map((r) => r.toJSON())).toEqual(table.toArray().map((r) => r.toJSON()));
  });

  it('compresses like anything else', () => {
    const table = arrow.tableFromArrays({ x: new Float64Array(10_000) });
    const frame = serialize(table, { compression: 'gzip' });
    expect(inspectFrame(frame).compression).toBe('gzip');
    expect((deserialize(frame) as { numRows: number }).numRows).toBe(10_000);
  });

  it('objects that merely look like tables are not taken for Arrow', () => {
    expect(inspectFrame(serialize({ schema: {}, batches: [], numRows: 0 })).serializerId).toBe('msgpack');
  });
});
