import { Packr, RESERVE_START_SPACE, RESET_BUFFER_MODE, REUSE_BUFFER_MODE, Unpackr } from 'msgpackr';
import type { Serializer } from '../serializer.js';
import { plainDataShape } from './plain-data.js';

// Records: repeated object shapes are written once per frame and referenced
// after, which is where the 2–3x over v8 on arrays of records comes from.
// Without shared structures each pack() is self-contained, so any Unpackr
// (another thread, another process) can read it.
const packr = new Packr({ useRecords: true, moreTypes: false });
const unpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, moreTypes: false });

// msgpackr packs into a buffer of its own and we copy the result out, so
// every pack may start over at the same place (RESET_BUFFER_MODE): packing
// into warm memory is ~2x faster on large values than growing a fresh buffer
// again (page faults, regrowth copies). A buffer grown past RETAIN_LIMIT is
// kept only while large values keep coming: a timer drops it RELEASE_MS after
// the last one (timers run when the thread yields), so a burst does not pin
// its memory for the thread's life.
const RETAIN_LIMIT = 8 << 20;
const RELEASE_MS = 1000;
let lastLargePack = 0;
let releaseTimer: NodeJS.Timeout | undefined;

function releaseLater(): void {
  const idle = performance.now() - lastLargePack;
  if (idle >= RELEASE_MS) {
    releaseTimer = undefined;
    packr.useBuffer(Buffer.allocUnsafeSlow(8192));
    return;
  }
  releaseTimer = setTimeout(releaseLater, RELEASE_MS - idle);
  releaseTimer.unref();
}

/** What pack() returns in REUSE_BUFFER_MODE: its own buffer, the packed bytes at [start, end). */
type Packed = Buffer & { start: number; end: number };

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
    // msgpackr leaves `reserved` bytes in front of what it writes (up to 255), so one copy moves both.
    const inPlace = reserved <= 0xff;
    // REUSE_BUFFER_MODE: msgpackr's whole buffer comes back with start/end set, instead of a new view of it per call.
    const packed = packr.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE | (inPlace && reserved > 0 ? RESERVE_START_SPACE | reserved : 0)) as Packed;
    const offset = inPlace ? 0 : reserved;
    // Not zero-filled (pooled below 4 KB): the copy and the header overwrite every byte.
    const out = Buffer.allocUnsafe(offset + packed.end - packed.start);
    packed.copy(out, offset, packed.start, packed.end);
    if (packed.buffer.byteLength > RETAIN_LIMIT) {
      // msgpackr grows its buffer up to 4x at a time; keeping ~32 MB for a 12 MB value made the
      // next large deserialize ~1.5-2x slower here (more external memory, earlier full GCs).
      if (packed.buffer.byteLength > 1.5 * packed.end) packr.useBuffer(Buffer.allocUnsafeSlow(Math.ceil(packed.end * 1.25)));
      lastLargePack = performance.now();
      if (releaseTimer === undefined) releaseLater();
    }
    return out;
  },
  deserialize: (bytes) => unpackr.unpack(bytes) as unknown,
};
