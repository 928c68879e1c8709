import type { RedisConnector } from '../connectors/redis.js';
import { deserialize, serialize } from '../serialize/index.js';
import { INLINE_BYTES, type FrameRef } from './protocol.js';

/** A value as a frame: base64 inside the job when small, otherwise raw bytes in Redis. */
export async function storeFrame(value: unknown, connector: RedisConnector): Promise<FrameRef> {
  // The registry picks: msgpack records for plain data, v8 for the rest (Maps, typed arrays, undefined).
  const frame = serialize(value);
  if (frame.byteLength <= INLINE_BYTES) return { inline: Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64') };
  return { key: await connector.put(frame) };
}

/** The value of a frame; `undefined` when a keyed frame is gone (expired, or the run ended and deleted it). */
export async function loadFrame(ref: FrameRef, connector: RedisConnector): Promise<{ value: unknown } | undefined> {
  if ('inline' in ref) return { value: deserialize(Buffer.from(ref.inline, 'base64')) };
  const bytes = await connector.get(ref.key);
  return bytes === undefined ? undefined : { value: deserialize(bytes) };
}
