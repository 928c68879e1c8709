import { Packr, Unpackr } from 'msgpackr';
import type { Serializer } from '../serializer.js';
import { plainDataShape } from './plain-data.js';

// Records: repeated object shapes are written once per frame and referenced
// after, which is where the 2–3x over v8 on arrays of records comes from.
// Without shared structures each pack() is self-contained, so any Unpackr
// (another thread, another process) can read it.
const packr = new Packr({ useRecords: true, moreTypes: false });
const unpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, moreTypes: false });

// pack() returns a view of msgpackr's own growing buffer; after a large one
// we hand it a fresh small buffer so that memory is not kept for the process's life.
const RETAIN_LIMIT = 8 << 20;

/** Plain data (objects, arrays, strings, numbers, booleans, null, Dates) through msgpackr with records. */
export const msgpackSerializer: Serializer<unknown> = {
  id: 'msgpack',
  canSerialize: (value): value is unknown => {
    const shape = plainDataShape(value);
    // Many one-off shapes (a large config) write 2-7x slower through msgpackr than v8: leave those to v8.
    return shape.plain && shape.records;
  },
  serialize(value) {
    return this.serializeReserving!(value, 0);
  },
  serializeReserving(value, reserved) {
    const p = packr;
    const packed = p.pack(value);
    const out = new Uint8Array(reserved + packed.byteLength);
    out.set(packed, reserved);
    if (packed.buffer.byteLength > RETAIN_LIMIT) p.useBuffer(Buffer.allocUnsafeSlow(8192));
    return out;
  },
  deserialize: (bytes) => unpackr.unpack(bytes) as unknown,
};
