import { Unpackr } from 'msgpackr';
import { DeclinedError } from '../errors.js';
import type { Serializer } from '../serializer.js';
import { isPlainRoot, packPlainData } from './plain-data.js';

// Records: repeated object shapes are written once per frame and referenced
// after, which is where the 2–3x over v8 on arrays of records comes from.
// Without shared structures each frame is self-contained, so any Unpackr
// (another thread, another process) can read it.
const unpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, moreTypes: false });

/** Plain data (objects, arrays, strings, numbers, booleans, null, Dates), written in msgpackr's record format, read by msgpackr. */
export const msgpackSerializer: Serializer<unknown> = {
  id: 'msgpack',
  // Only the top of the value: the rest is checked as it is written, and a value that turns out not
  // to be plain data (or to be mostly one-off shapes, faster through v8) is declined from there.
  canSerialize: (value): value is unknown => isPlainRoot(value),
  serialize(value) {
    return this.serializeReserving!(value, 0);
  },
  serializeReserving(value, reserved) {
    const bytes = packPlainData(value, reserved);
    if (bytes === undefined) throw new DeclinedError('msgpack');
    return bytes;
  },
  deserialize: (bytes) => unpackr.unpack(bytes) as unknown,
};
