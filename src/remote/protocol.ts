/**
 * Every message between a caller and a remote environment's worker, and
 * between two environments' workers. Types only: both sides import this file
 * and nothing else of each other.
 *
 * The caller names every value: a handle's `id` is chosen by the caller when
 * the operation is made, so operations on a value not yet computed can be
 * sent at once (pipelining). The worker runs operations strictly in the order
 * they arrive.
 */
import type { MessagePort } from 'node:worker_threads';
import type { FunctionInstanceWire } from '../core/wire.js';
import type { StoreConfig } from '../store/index.js';

/** Stands for a value of the same environment inside an argument list. */
export interface HandleRefWire {
  readonly __skeinHandle: number;
}

/** Stands for a value of another environment, arriving on channel `chan` under `tag`. */
export interface MoveRefWire {
  readonly __skeinMove: number;
  readonly chan: number;
}

/**
 * `refs`: the arguments hold handle or move markers or store references (the
 * worker walks them only then). `stores`: some are store references.
 */
export type OpWire =
  /** Keeps `value` under `id`; `stored`: parts of it wait in the environment's store (transport.ts, storeLarge). */
  | { readonly o: 'put'; readonly id: number; readonly value: unknown; readonly refs?: true; readonly stores?: true; readonly stored?: true }
  /** Calls a shipped function with `args`; the (awaited) result is kept under `id`. */
  | { readonly o: 'run'; readonly id: number; readonly fn: FunctionInstanceWire; readonly args: readonly unknown[]; readonly refs?: true; readonly stores?: true }
  /** Reads `target[key]`; a function read this way remembers `target` as its `this`. */
  | { readonly o: 'get'; readonly id: number; readonly target: number; readonly key: string }
  /** Calls the function kept under `target`. */
  | { readonly o: 'call'; readonly id: number; readonly target: number; readonly args: readonly unknown[]; readonly refs?: true; readonly stores?: true }
  /**
   * `get` then `call` in one: reads `target[key]`, keeps it under `as` (the
   * property-read handle), and calls it with `target` as `this`. Made when a
   * property handle is called in the turn it was read (`h.m(1)`).
   */
  | { readonly o: 'invoke'; readonly id: number; readonly as: number; readonly target: number; readonly key: string; readonly args: readonly unknown[]; readonly refs?: true; readonly stores?: true }
  /** Starts iterating `target` (sync or async iterable); the iterator is kept under `id`. */
  | { readonly o: 'iter'; readonly id: number; readonly target: number }
  | { readonly o: 'release'; readonly ids: readonly number[] }
  /** A port to another environment's worker, known to both sides as `chan`. */
  | { readonly o: 'channel'; readonly chan: number; readonly port: MessagePort }
  /** Posts the value (or failure) of `target` on channel `chan` under `tag`: one side of a move. */
  | { readonly o: 'send'; readonly target: number; readonly chan: number; readonly tag: number }
  // The ops below answer: each ends the batch it is in.
  /** Answers with a copy of the value of `target` (or throws its failure). */
  | { readonly o: 'fetch'; readonly target: number }
  /** Answers with how many of `ids` were filled with the next items of iterator `target`. */
  | { readonly o: 'next'; readonly target: number; readonly ids: readonly number[] }
  /** Answers once every earlier operation has finished. */
  | { readonly o: 'sync' }
  | { readonly o: 'stats' };

export interface NextReplyWire {
  readonly count: number;
  readonly done: boolean;
}

export interface EnvStatsWire {
  /** Values held for handles. */
  readonly values: number;
  /** Of those, values that are failures (a thrown error kept for dependent operations). */
  readonly failures: number;
  /** The worker's V8 heap in use, in bytes. */
  readonly heapUsed: number;
}

/** What crosses a channel between two workers for one move. */
export type MoveWire =
  | { readonly tag: number; readonly value: unknown; readonly stored?: true }
  | { readonly tag: number; readonly thrown: unknown };

/** The object the worker exposes through comlink. */
export interface EnvWorkerApi {
  exec(batch: readonly OpWire[]): unknown;
}

/** `workerData` of an environment's worker. */
export interface EnvSetupWire {
  readonly name: string;
  /** Values at least this many bytes long are copied once and transferred rather than cloned. */
  readonly transferBytes: number;
  /** The environment's store: large values of fetches and moves go through it. */
  readonly store?: StoreConfig;
}

/** A fetch's answer when the environment has a store: `stored` says parts of `value` wait there. */
export interface FetchReplyWire {
  readonly value: unknown;
  readonly stored: boolean;
}
