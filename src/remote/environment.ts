import { Worker, MessageChannel, type MessagePort, type ResourceLimits, type WorkerOptions } from 'node:worker_threads';
import { transferHandlers } from 'comlink/dist/esm/comlink.mjs';
import { describeValue } from '../core/errors.js';
import { checkKnownOptions } from '../core/options.js';
import { withWorkerFlags } from '../core/worker-flags.js';
import { SerializationError } from '../serialize/errors.js';
import { shipFunction } from '../task/ship.js';
import { assertCloneable } from '../task/cloneable.js';
import { isProxy } from '../proxy/index.js';
import { encodeReferences } from '../store/travel.js';
import { SharedMemoryStore, type Store } from '../store/index.js';
import { isPlainObject } from '../core/values.js';
import { EnvClosedError, EnvCrashedError, HandleReleasedError } from './errors.js';
import { handleState, makeHandle, type Handle, type HandleArgs, type HandleHost, type HandleState } from './handle.js';
import type { EnvSetupWire, EnvStatsWire, FetchReplyWire, HandleRefWire, MoveRefWire, NextReplyWire, OpWire } from './protocol.js';
import { detachLarge, installThrowHandler, storeLarge, takeStored } from './transport.js';

const WORKER = new URL('./worker.js', import.meta.url);

installThrowHandler();

export interface RemoteEnvOptions {
  /**
   * Shown in errors and in the worker's thread name.
   * @default 'remote'
   * @example
   * await createRemoteEnv({ name: 'model' });
   */
  name?: string;
  /**
   * V8 limits of the worker; past them it dies with `EnvCrashedError` rather than taking the process down.
   * @default Node's own limits
   * @example
   * await createRemoteEnv({ resourceLimits: { maxOldGenerationSizeMb: 512 } });
   */
  resourceLimits?: ResourceLimits;
  /**
   * Values (typed arrays, ArrayBuffers) of at least this many bytes, at the top
   * level or one level inside an array or plain object, are copied once and
   * transferred by `put`, `fetch` and moves instead of being structured-cloned
   * (which copies twice). Values in shared memory are never copied.
   * @default 65536
   * @example
   * await createRemoteEnv({ transferBytes: 1 << 20 }); // transfer from 1 MiB up
   */
  transferBytes?: number;
  /**
   * Where those large values wait in transit instead: `put` stores them and
   * the worker takes them out, `fetch()` and moves the other way; each entry
   * is evicted once taken. `'shared'`: a SharedMemoryStore of the environment
   * (closed with it), so typed arrays arrive as views of shared memory, never
   * copied twice nor cloned. A Store of yours (a FileStore, ...) stays open on
   * `close()`, which evicts the entries still in transit.
   * @default undefined (copy once and transfer)
   * @example
   * await using env = await createRemoteEnv({ store: 'shared' });
   */
  store?: 'shared' | Store<unknown>;
}

export interface PutOptions {
  /**
   * ArrayBuffers (or ports) to move into the worker, as with postMessage: the caller's copies are detached.
   * @default []
   * @example
   * const h = env.put(bytes, { transfer: [bytes.buffer] });
   */
  transfer?: readonly Transferable[];
}

export interface EnvStats {
  /** Handles this caller holds that are neither released nor collected, when stats() was called. */
  handles: number;
  /** Values the worker holds (after the operations sent so far). */
  values: number;
  /** Of those, failures kept for the operations that depend on them. */
  failures: number;
  /** The worker's V8 heap in use, in bytes. */
  heapUsed: number;
  /** Requests awaiting the worker's answer, when stats() was called. */
  pending: number;
}

type Transferable = ArrayBuffer | MessagePort;

interface Request {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** The operations sent: if they could not be posted, their handles fail with why. */
  readonly batch: readonly OpWire[];
  /** Store keys of the batch's puts. */
  readonly keys: readonly unknown[];
  readonly onError: ((error: unknown) => unknown) | undefined;
}

/** What comlink's expose() answers: `{ id, type: 'RAW', value }`, or `{ id, type: 'HANDLER', name: 'throw', value }`. */
type ReplyWire = { readonly id?: unknown; readonly type?: string; readonly name?: string; readonly value?: unknown };

const EXEC_PATH = ['exec'];
type EnvState = 'open' | 'closing' | 'closed' | 'crashed';

// Caller-wide, so a move's tag and channel are unique between any two environments.
let nextChannel = 1;
let nextTag = 1;
const ITERATION_BATCH = 32;

/**
 * A dedicated worker thread whose values stay there, behind handles
 * (ray-proxy). Operations are batched per microtask and sent without waiting
 * for an answer; only `fetch()` (and iteration) wait.
 */
export class RemoteEnv implements HandleHost {
  readonly name: string;
  readonly #worker: Worker;
  #state: EnvState = 'open';
  #crash: EnvCrashedError | undefined;
  #queue: OpWire[] = [];
  #transfer: Transferable[] = [];
  #scheduled = false;
  #nextId = 1;
  #live = 0;
  #pending = 0;
  /** Requests awaiting the worker's answer, by the comlink message id they were sent under. */
  readonly #requests = new Map<number, Request>();
  #nextRequest = 1;
  /** Ids of collected handles, released in one operation per turn. */
  #collected: number[] = [];
  /** Ids whose operation never reached the worker (its batch could not be posted), with why. */
  readonly #lost = new Map<number, unknown>();
  readonly #channels = new WeakMap<RemoteEnv, number>();
  readonly #registry = new FinalizationRegistry<HandleState>((state) => this.#onCollected(state));
  #closing: Promise<void> | undefined;
  readonly #transferBytes: number;
  readonly #store: Store<unknown> | undefined;
  /** Whether close() closes the store (the environment made it). */
  readonly #ownsStore: boolean;
  /** Keys this side put in the store that the worker has not taken out yet (evicted on close). */
  readonly #inTransit = new Set<unknown>();
  #queueKeys: unknown[] = [];

  /** Use `createRemoteEnv()`, which also waits until the worker is ready. */
  constructor(options: RemoteEnvOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
    checkKnownOptions(options, Object.keys({ name: 1, resourceLimits: 1, transferBytes: 1, store: 1 } satisfies Record<keyof RemoteEnvOptions, 1>));
    const name = options.name ?? 'remote';
    if (typeof name !== 'string' || name === '') throw new TypeError(`Expected \`name\` to be a non-empty string, got ${describeValue(name)}`);
    const transferBytes = options.transferBytes ?? 65536;
    if (!(Number.isInteger(transferBytes) && transferBytes >= 0)) {
      throw new TypeError(`Expected \`transferBytes\` to be a non-negative integer, got ${describeValue(transferBytes)}`);
    }
    const store = options.store;
    if (store !== undefined && store !== 'shared' && !isStore(store)) {
      throw new TypeError(`Expected \`store\` to be 'shared' or a Store, got ${describeValue(store)}`);
    }
    if (isStore(store) && store.config().connector.type === 'local') {
      throw new TypeError('Expected `store` to reach the worker, got a store on a LocalConnector (its entries live in one thread): use \'shared\', a SharedMemoryStore or a FileStore.');
    }
    this.name = name;
    this.#transferBytes = transferBytes;
    this.#ownsStore = store === 'shared';
    // No LRU cache: every entry is read once, then evicted.
    this.#store = store === 'shared' ? new SharedMemoryStore({ name: `env-${name}`, cacheSize: 0 }) : store;
    this.#worker = startWorker({
      name: `skein-env:${name}`,
      workerData: { name, transferBytes, ...(this.#store ? { store: this.#store.config() } : {}) } satisfies EnvSetupWire,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // An idle environment never keeps the process alive: the worker is
    // referenced only while an answer is awaited (see #flush).
    this.#worker.unref();
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) => this.#fail(new Error(`the worker exited with code ${code}`)));
    this.#worker.on('message', (reply: ReplyWire) => this.#onReply(reply));
  }

  /** Whether the environment is closed or its worker died (then `crashed` holds why). */
  get closed(): boolean {
    return this.#state === 'closed' || this.#state === 'crashed';
  }

  /** The error every operation rejects with since the worker died; undefined while it lives. */
  get crashed(): EnvCrashedError | undefined {
    return this.#crash;
  }

  /** Resolves once the worker has started and has run every operation made so far. */
  ready(): Promise<void> {
    return this.#ask({ o: 'sync' }).then(() => undefined);
  }

  /**
   * Keeps `value` in the worker and returns its handle at once. Large typed
   * arrays are copied once and transferred; values in shared memory are not copied.
   */
  put<T>(value: T, options: PutOptions = {}): Handle<T> {
    const id = this.#newId();
    const encoded = this.#encodeArgs([value], 'value');
    const transfer = options.transfer ? [...options.transfer] : [];
    if (this.#store !== undefined && !options.transfer && this.#state === 'open') {
      const keys: unknown[] = [];
      const payload = storeLarge(encoded.args[0], this.#transferBytes, this.#store, keys);
      for (const key of keys) this.#inTransit.add(key);
      this.#queueKeys.push(...keys);
      this.#send({ o: 'put', id, value: payload, ...flags(encoded), ...(keys.length > 0 ? { stored: true as const } : {}) });
      return this.#handle(id) as Handle<T>;
    }
    const payload = options.transfer ? encoded.args[0] : detachLarge(encoded.args[0], this.#transferBytes, transfer);
    this.#send({ o: 'put', id, value: payload, ...flags(encoded) }, transfer);
    return this.#handle(id) as Handle<T>;
  }

  /**
   * Runs `fn(...args)` in the worker and returns a handle to its (awaited)
   * result at once. `fn` travels as in `delayed`: by source (closures are
   * refused here), `wrapNonSerializable`, or `task(url, name)`.
   */
  run<A extends unknown[], R>(fn: (...args: A) => R, ...args: HandleArgs<A>): Handle<Awaited<R>> {
    if (handleState(fn) !== undefined) {
      throw new TypeError('Expected `fn` to be a function to ship, got a handle: call a remote function through its handle instead, h(...args).');
    }
    const shipped = shipFunction(fn);
    const id = this.#newId();
    const encoded = this.#encodeArgs(args, 'args');
    this.#send({ o: 'run', id, fn: shipped.wire, args: encoded.args, ...flags(encoded) });
    return this.#handle(id) as Handle<Awaited<R>>;
  }

  /** Live handles now, and the worker's counts once the operations made so far have run. */
  async stats(): Promise<EnvStats> {
    const handles = this.#live;
    const pending = this.#pending;
    const wire = (await this.#ask({ o: 'stats' })) as EnvStatsWire;
    return { handles, values: wire.values, failures: wire.failures, heapUsed: wire.heapUsed, pending };
  }

  /**
   * Ends the worker. By default waits for the operations already made to
   * finish (their failures are theirs, not close()'s); `force: true` stops it
   * at once. Pending and later operations reject with `EnvClosedError`.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    if (this.#state === 'crashed') return (this.#closing = this.#releaseStore());
    const drained = options.force ? Promise.resolve() : this.#ask({ o: 'sync' }).then(
      () => undefined,
      () => undefined,
    );
    this.#closing = drained.then(async () => {
      if (this.#state === 'open' || this.#state === 'closing') this.#state = 'closed';
      this.#rejectPending(new EnvClosedError(this.name));
      await this.#worker.terminate();
      await this.#releaseStore();
    });
    this.#state = this.#state === 'open' ? 'closing' : this.#state;
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- HandleHost: what handles ask of their environment ----

  get(state: HandleState, key: string): unknown {
    this.#assertUsable(state);
    const id = this.#newId();
    this.#send({ o: 'get', id, target: state.id, key });
    return this.#handle(id);
  }

  call(state: HandleState, args: unknown[]): unknown {
    this.#assertUsable(state);
    const id = this.#newId();
    const encoded = this.#encodeArgs(args, 'args');
    // `h.m(1)`: the read of `m` is still the last operation queued, so it and the call go as one.
    const previous = this.#queue[this.#queue.length - 1];
    if (previous?.o === 'get' && previous.id === state.id) {
      this.#queue[this.#queue.length - 1] = { o: 'invoke', id, as: previous.id, target: previous.target, key: previous.key, args: encoded.args, ...flags(encoded) };
    } else {
      this.#send({ o: 'call', id, target: state.id, args: encoded.args, ...flags(encoded) });
    }
    return this.#handle(id);
  }

  fetch(state: HandleState): Promise<unknown> {
    if (state.released) return Promise.reject(new HandleReleasedError(this.name, state.id));
    const lost = this.#lost.get(state.id);
    if (lost !== undefined) return Promise.reject(lost);
    const fetched = this.#ask({ o: 'fetch', target: state.id }, (error) => {
      // comlink's answer when the worker could not post the value back (a function, a class instance with methods...).
      if (!(error instanceof TypeError && error.message === 'Unserializable return value')) return error;
      return new SerializationError(
        `The value of handle #${state.id} of remote environment "${this.name}" cannot be copied to the caller (it holds a function, a symbol or another value structured clone cannot carry). ` +
          'Fetch the parts you need (h.prop.fetch()) or turn it into data in the worker (env.run(toData, h).fetch()).',
        { cause: error },
      );
    });
    const store = this.#store;
    if (store === undefined) return fetched;
    return fetched.then((reply) => {
      const { value, stored } = reply as FetchReplyWire;
      return stored ? takeStored(value, () => store) : value;
    });
  }

  release(state: HandleState): void {
    if (state.released) return;
    state.released = true;
    this.#live--;
    this.#lost.delete(state.id);
    if (this.#state === 'open') this.#send({ o: 'release', ids: [state.id] });
  }

  async *iterate(state: HandleState): AsyncGenerator<unknown, void, undefined> {
    this.#assertUsable(state);
    const iterator = this.#newId();
    this.#send({ o: 'iter', id: iterator, target: state.id });
    const unclaimed: number[] = [];
    try {
      for (;;) {
        const ids = Array.from({ length: ITERATION_BATCH }, () => this.#newId());
        const reply = (await this.#ask({ o: 'next', target: iterator, ids })) as NextReplyWire;
        unclaimed.push(...ids.slice(0, reply.count));
        while (unclaimed.length > 0) yield this.#handle(unclaimed.shift()!);
        if (reply.done) return;
      }
    } finally {
      // Items fetched ahead but not handed out, and the iterator itself.
      if (this.#state === 'open') this.#send({ o: 'release', ids: [iterator, ...unclaimed] });
    }
  }

  // ---- internals ----

  #newId(): number {
    return this.#nextId++;
  }

  #handle(id: number): Handle<unknown> {
    const { handle, state } = makeHandle(this, id);
    this.#live++;
    // Held: the state (the proxy's target, which outlives it here); no unregister
    // token, which costs V8 a weak map entry per handle: a released state is skipped instead.
    this.#registry.register(handle, state);
    return handle;
  }

  #assertUsable(state: HandleState): void {
    if (state.released) throw new HandleReleasedError(this.name, state.id);
  }

  #onCollected(state: HandleState): void {
    if (state.released) return;
    state.released = true;
    const id = state.id;
    this.#live--;
    if (this.#state !== 'open') return;
    this.#lost.delete(id);
    // Released with the next batch, after every operation already made, so a
    // value an in-flight operation still reads is never freed before it.
    if (this.#collected.length === 0) queueMicrotask(() => this.#releaseCollected());
    this.#collected.push(id);
  }

  #releaseCollected(): void {
    const ids = this.#collected;
    this.#collected = [];
    if (ids.length > 0 && this.#state === 'open') this.#send({ o: 'release', ids });
  }

  /** Queues an operation; the queue goes to the worker as one message at the end of this turn. */
  #send(op: OpWire, transfer?: Transferable[]): void {
    if (this.#state !== 'open') return;
    this.#queue.push(op);
    if (transfer !== undefined && transfer.length > 0) this.#transfer.push(...transfer);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        if (this.#queue.length > 0) this.#flush().catch(() => {});
      });
    }
  }

  /** Sends the queue now, ending with `op`, and resolves with the worker's answer to `op`. */
  #ask(op: OpWire, onError?: (error: unknown) => unknown): Promise<unknown> {
    if (this.#crash) return Promise.reject(this.#crash);
    if (this.#state !== 'open' && !(this.#state === 'closing' && op.o === 'sync')) return Promise.reject(new EnvClosedError(this.name));
    this.#queue.push(op);
    return this.#flush(onError);
  }

  #flush(onError?: (error: unknown) => unknown): Promise<unknown> {
    const batch = this.#queue;
    const transfer = this.#transfer;
    const keys = this.#queueKeys;
    this.#queue = [];
    this.#transfer = [];
    if (keys.length > 0) this.#queueKeys = [];
    if (this.#crash) return Promise.reject(this.#crash);
    const id = this.#nextRequest++;
    return new Promise<unknown>((resolve, reject) => {
      const request: Request = { resolve, reject, batch, onError, keys };
      try {
        // comlink's APPLY message, as its wrap() would send it, under a numeric id: a
        // call of the worker's exposed `exec` without the proxy and random-id cost per call.
        this.#worker.postMessage({ id, type: 'APPLY', path: EXEC_PATH, argumentList: [{ type: 'RAW', value: batch }] }, transfer);
      } catch (error) {
        this.#answer(request, undefined, error);
        return;
      }
      this.#requests.set(id, request);
      if (this.#pending++ === 0) this.#worker.ref();
    });
  }

  /** comlink's reply to one of our requests: a raw value, or a transfer handler's (the thrown error). */
  #onReply(reply: ReplyWire): void {
    const request = typeof reply === 'object' && reply !== null ? this.#requests.get(reply.id as number) : undefined;
    if (request === undefined) return;
    this.#requests.delete(reply.id as number);
    // With no request left, the worker no longer keeps the process alive.
    if (--this.#pending === 0 && this.#state !== 'crashed') this.#worker.unref();
    if (reply.type === 'RAW') return this.#answer(request, reply.value);
    try {
      this.#answer(request, transferHandlers.get(reply.name!)!.deserialize(reply.value));
    } catch (error) {
      this.#answer(request, undefined, error);
    }
  }

  #answer(request: Request, value: unknown, ...failure: [unknown?]): void {
    // Answered, the batch has run: the worker took its stored values out (or never will).
    for (const key of request.keys) this.#inTransit.delete(key);
    if (failure.length === 0) return request.resolve(value);
    const error = failure[0];
    if (isPostFailure(error)) {
      this.#markLost(request.batch, error);
      for (const key of request.keys) this.#store!.evict(key).catch(() => {});
    }
    request.reject(request.onError ? request.onError(error) : error);
  }

  /** A batch that could not be posted never reached the worker: its handles fail with why. */
  #markLost(batch: readonly OpWire[], error: unknown): void {
    for (const op of batch) if ('id' in op) this.#lost.set(op.id, error);
  }

  #fail(cause: unknown): void {
    if (this.#state === 'closed' || this.#state === 'crashed') return;
    this.#state = 'crashed';
    this.#crash = new EnvCrashedError(this.name, cause);
    this.#rejectPending(this.#crash);
    // Nothing will take the values in transit out any more.
    this.#releaseStore().catch(() => {});
    this.#worker.unref();
  }

  /** Evicts what never reached the worker; closes the store if the environment made it. */
  async #releaseStore(): Promise<void> {
    const store = this.#store;
    if (store === undefined) return;
    const keys = [...this.#inTransit];
    this.#inTransit.clear();
    this.#queueKeys = [];
    if (store.closed) return;
    await Promise.all(keys.map((key) => store.evict(key).catch(() => {})));
    if (this.#ownsStore) await store.close();
  }

  #rejectPending(error: unknown): void {
    for (const request of this.#requests.values()) request.reject(error);
    this.#requests.clear();
    this.#pending = 0;
    this.#worker.unref();
  }

  #channelTo(other: RemoteEnv): number {
    let chan = this.#channels.get(other);
    if (chan === undefined) {
      chan = nextChannel++;
      const { port1, port2 } = new MessageChannel();
      this.#send({ o: 'channel', chan, port: port1 }, [port1]);
      other.#send({ o: 'channel', chan, port: port2 }, [port2]);
      this.#channels.set(other, chan);
      other.#channels.set(this, chan);
    }
    return chan;
  }

  /**
   * Checks that arguments can be cloned (naming the offending path) and
   * replaces handles: this environment's by their id, another's by a move
   * straight from that worker to this one, store proxies by their reference.
   */
  #encodeArgs(args: readonly unknown[], root: string): { args: unknown[]; refs: boolean; stores: boolean } {
    let special = 0;
    let stores = false;
    const passThrough = (value: object): boolean => {
      if (handleState(value) !== undefined) return true;
      return isProxy(value) && (stores = true);
    };
    const options = { passThrough, onPassThrough: (n: number) => (special += n) };
    for (let i = 0; i < args.length; i++) {
      const arg: unknown = args[i];
      if (typeof arg === 'object' ? arg !== null : typeof arg === 'function' || typeof arg === 'symbol') {
        assertCloneable(arg, root === 'args' ? `args[${i}]` : root, options);
      }
    }
    if (special === 0) return { args: args as unknown[], refs: false, stores: false };
    return { args: args.map((a) => this.#encode(a)), refs: true, stores };
  }

  #encode(value: unknown): unknown {
    if (typeof value === 'function') {
      const state = handleState(value);
      if (state === undefined) return value;
      if (state.released) throw new HandleReleasedError(state.host.name, state.id);
      if (state.host === this) return { __skeinHandle: state.id } satisfies HandleRefWire;
      const other = state.host as RemoteEnv;
      if (other.#crash) throw other.#crash;
      if (other.#state !== 'open') throw new EnvClosedError(other.name);
      const chan = this.#channelTo(other);
      const tag = nextTag++;
      other.#send({ o: 'send', target: state.id, chan, tag });
      return { __skeinMove: tag, chan } satisfies MoveRefWire;
    }
    if (typeof value !== 'object' || value === null) return value;
    if (isProxy(value)) return encodeReferences(value);
    if (Array.isArray(value)) return value.map((v) => this.#encode(v));
    if (!isPlainObject(value)) return value;
    const copy: Record<string, unknown> = {};
    for (const k of Object.keys(value)) copy[k] = this.#encode((value as Record<string, unknown>)[k]);
    return copy;
  }
}

/** Starts the worker with the caller's flags minus tsx's preload (see core/worker-flags.ts). */
function startWorker(options: WorkerOptions): Worker {
  return withWorkerFlags((execArgv) => new Worker(WORKER, execArgv === undefined ? options : { ...options, execArgv }));
}

/** The op fields saying what the worker must decode; absent (not false) when there is nothing, to keep messages small. */
function flags(encoded: { refs: boolean; stores: boolean }): { refs?: true; stores?: true } {
  if (!encoded.refs) return {};
  return encoded.stores ? { refs: true, stores: true } : { refs: true };
}

/** A Store by its public API (brand checks fail across realms and for subclasses from another copy of skein). */
function isStore(value: unknown): value is Store<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return typeof s.putSync === 'function' && typeof s.get === 'function' && typeof s.evict === 'function' && typeof s.config === 'function';
}

function isPostFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'DataCloneError';
}

/**
 * Starts a remote environment: a dedicated worker thread whose values stay
 * there, behind handles. Resolves once the worker answers.
 *
 * @example
 * await using env = await createRemoteEnv({ name: 'model' });
 * const x = env.put('x');
 * const n = env.put(10);
 * await env.run((s: string, k: number) => s.repeat(k), x, n).fetch(); // 'xxxxxxxxxx'
 */
export async function createRemoteEnv(options: RemoteEnvOptions = {}): Promise<RemoteEnv> {
  const env = new RemoteEnv(options);
  try {
    await env.ready();
  } catch (error) {
    await env.close({ force: true });
    throw error;
  }
  return env;
}
