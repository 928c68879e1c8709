/**
 * What travels between the `bullmq` backend and `skein-worker` processes.
 * BullMQ stores job data and return values as JSON, so the batch itself is
 * never in them: it is a serializer-registry frame, inline as base64 when
 * small, otherwise in Redis under a key of the run's `RedisConnector` (raw
 * bytes, chunked, checksummed) with only the key in the job.
 * Types and constants only.
 */
import type { BatchResultWire, BatchWire, ErrorWire } from '../core/wire.js';

/**
 * Frames up to this many bytes ride inside the job as base64; larger ones go
 * to Redis under a key. One job's round trip on loopback (benchmarks/distributed/frames.ts,
 * 2026-11-30): inline is faster at 1-4 KB (the key costs ~1.5x: two more
 * commands), even at 16 KB, and the key wins from 64 KB (256 KB: 4.9 vs 21 ms;
 * 1 MB: 7 vs 81 ms): base64 grows the frame by a third and BullMQ copies job
 * data as JSON through Lua scripts and events.
 */
export const INLINE_BYTES = 16 * 1024;

/** Where a frame is: inline (base64) or under a key of the namespace the job names. */
export type FrameRef = { readonly inline: string } | { readonly key: string };

export interface JobData {
  readonly v: 1;
  readonly batch: FrameRef;
  /** Namespace of the run's RedisConnector: where `key` frames live and results larger than INLINE_BYTES go. */
  readonly ns: string;
  /** TTL (ms) for the result frame the worker writes, or null. */
  readonly ttl: number | null;
  /** Per-task limit in ms. */
  readonly timeout?: number;
}

/** What the job's frame decodes to. */
export type JobBatch = BatchWire;

/** What the worker's result frame decodes to. */
export type JobOutcome = (
  | { readonly kind: 'done'; readonly result: BatchResultWire }
  | { readonly kind: 'timeout'; readonly offset: number; readonly timeout: number }
  | { readonly kind: 'crashed'; readonly offset: number; readonly error: ErrorWire }
) & {
  readonly worker: WorkerIdentity;
  /** Bytes of offloaded arguments the worker process fetched from Redis for this batch (absent: none). */
  readonly fetchedBytes?: number;
};

export interface WorkerIdentity {
  readonly host: string;
  readonly pid: number;
}

/** A job's return value. */
export type JobReturn = FrameRef;

/** Name of the BullMQ jobs skein adds. */
export const JOB_NAME = 'skein-batch';

/** A caller's message to the workers on the queue's cancel channel. */
export interface CancelMessage {
  readonly jobs: readonly string[];
  /** `kill`: stop the running task now (the run was aborted); `skip`: run no further task of the batch (a task failed). */
  readonly mode: 'kill' | 'skip';
}

/** Where skein keeps its own keys for a queue: next to BullMQ's (`bull:jobs:skein…`). */
export function skeinPrefix(prefix: string | undefined, queue: string): string {
  const wanted = `${prefix ?? 'bull'}:${queue}:skein`;
  return /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/.test(wanted) ? wanted : 'skein:frames';
}

/** The pub/sub channel callers use to stop running batches of a queue. */
export function cancelChannel(prefix: string | undefined, queue: string): string {
  return `${prefix ?? 'bull'}:${queue}:skein-cancel`;
}
