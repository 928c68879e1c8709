/**
 * One way of turning a kind of value into bytes and back. The registry tries
 * serializers in order and records the chosen `id` in the frame, so the
 * reading side needs the same serializer registered under the same id.
 *
 * @example
 * class Point { constructor(readonly x: number, readonly y: number) {} }
 * registerSerializer<Point>({
 *   id: 'app.point',
 *   canSerialize: (v): v is Point => v instanceof Point,
 *   serialize: (p) => new Uint8Array(new Float64Array([p.x, p.y]).buffer),
 *   deserialize: (b) => { const [x, y] = new Float64Array(b.slice().buffer); return new Point(x!, y!); },
 * });
 */
export interface Serializer<T = unknown> {
  /** Short and stable: it is written into every frame. Printable ASCII, 1–64 characters. */
  readonly id: string;
  /** Must be cheap and must not throw; a `true` here may still fall through if `serialize` throws. */
  canSerialize(value: unknown): value is T;
  serialize(value: T): Uint8Array;
  /**
   * `bytes` may be a view into a larger buffer (the frame, or shared memory)
   * and stays valid as long as the caller keeps it; copy (`bytes.slice()`)
   * anything you keep that must not change with it.
   */
  deserialize(bytes: Uint8Array): T;
  /**
   * Optional fast path for large payloads: return the payload preceded by
   * `reserved` bytes (a multiple of 8) that the registry overwrites with the
   * frame header, so the payload is never copied a second time. The result
   * must own its buffer: the registry returns it to the caller as the frame.
   */
  serializeReserving?(value: T, reserved: number): Uint8Array;
}

/** Compression applied to a frame's payload; recorded in the frame, so `deserialize` needs no option. */
export type Compression = 'none' | 'gzip' | 'deflate' | 'brotli' | 'zstd';

/** What `inspectFrame` reads from a frame's header without decoding its payload. */
export interface FrameInfo {
  readonly formatVersion: number;
  readonly serializerId: string;
  readonly compression: Compression;
  /** Whether the payload is covered by a CRC-32 (the header always is). */
  readonly checksum: boolean;
  readonly headerLength: number;
  /** Bytes stored after the header (compressed size when compressed). */
  readonly payloadLength: number;
  /** Bytes the serializer produced, before compression. */
  readonly rawLength: number;
}
