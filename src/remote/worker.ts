// A remote environment's worker: keeps values under the ids the caller chose
// and runs operations on them strictly in the order they arrive. It imports
// shared protocol, ship and store code, never the caller's side.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { expose, transfer } from 'comlink/dist/esm/comlink.mjs';
import { instantiate } from '../task/compile.js';
import { isPlainObject, isThenable } from '../core/values.js';
import { HandleReleasedError } from './errors.js';
import type { EnvSetupWire, EnvStatsWire, EnvWorkerApi, FetchReplyWire, MoveWire, NextReplyWire, OpWire } from './protocol.js';
import type { Store, StoreConfig } from '../store/index.js';
import { detachLarge, installThrowHandler, nodeEndpoint, shareLarge, storeLarge, takeStored } from './transport.js';

const setup = workerData as EnvSetupWire;
installThrowHandler();

/** Stores of this thread by config, loaded on first use (the store modules are slow to load). */
let storeModule: Promise<typeof import('../store/index.js')> | undefined;
function storeOf(config: StoreConfig): Promise<Store<unknown>> {
  storeModule ??= import('../store/index.js');
  return storeModule.then((m) => m.getOrCreateStore(config));
}
/** This environment's store, ready by the time the caller's first request is answered. */
let ownStore: Store<unknown> | undefined;
const ownStoreReady = setup.store ? storeOf(setup.store).then((s) => void (ownStore = s)) : undefined;

/** A value leaving through the store: put there, or, where this thread cannot put (shared memory), copied into shared memory. */
function outgoing(value: unknown, keys: unknown[]): unknown {
  if (setup.store?.connector.type === 'shared-memory') return shareLarge(value, setup.transferBytes);
  return storeLarge(value, setup.transferBytes, ownStore!, keys);
}

const values = new Map<number, unknown>();
/** What the operation that was to make a value threw; dependent operations fail with the same thrown value. */
const failures = new Map<number, unknown>();
/** For a function read as a property: the object it was read from, its `this` when called. */
const receivers = new Map<number, unknown>();
const iterators = new Map<number, { it: Iterator<unknown> | AsyncIterator<unknown>; async: boolean }>();

/** Thrown while gathering an operation's inputs: one of them is a failure, which the operation inherits as is. */
class Inherited {
  constructor(readonly thrown: unknown) {}
}

function lookup(id: number): unknown {
  if (values.has(id)) return values.get(id);
  if (failures.has(id)) throw new Inherited(failures.get(id));
  throw new Inherited(new HandleReleasedError(setup.name, id));
}

// ---- moves between environments ----

interface Channel {
  readonly inbox: Map<number, MoveWire>;
  readonly waiting: Map<number, { resolve: (m: MoveWire) => void; reject: (e: unknown) => void }>;
  port: MessagePort;
  closed?: Error;
}
const channels = new Map<number, Channel>();

function openChannel(chan: number, port: MessagePort): void {
  const channel: Channel = { inbox: new Map(), waiting: new Map(), port };
  channels.set(chan, channel);
  port.on('message', (move: MoveWire) => {
    const waiter = channel.waiting.get(move.tag);
    if (waiter === undefined) channel.inbox.set(move.tag, move);
    else {
      channel.waiting.delete(move.tag);
      waiter.resolve(move);
    }
  });
  // The other environment closed or died: nothing more will arrive.
  port.on('close', () => {
    channel.closed = new Error('The environment holding a moved value closed before sending it');
    for (const w of channel.waiting.values()) w.reject(channel.closed);
    channel.waiting.clear();
  });
  // Ports must not keep this thread alive by themselves; the caller decides its life.
  port.unref();
}

function receive(chan: number, tag: number): Promise<unknown> {
  const channel = channels.get(chan);
  if (channel === undefined) return Promise.reject(new Error(`Unknown channel ${chan}`));
  const arrived = channel.inbox.get(tag);
  const move =
    arrived !== undefined
      ? (channel.inbox.delete(tag), Promise.resolve(arrived))
      : channel.closed
        ? Promise.reject(channel.closed)
        : new Promise<MoveWire>((resolve, reject) => channel.waiting.set(tag, { resolve, reject }));
  return move.then((m) => {
    if ('thrown' in m) throw new Inherited(m.thrown);
    return m.stored ? takeStored(m.value, storeOf) : m.value;
  });
}

function sendMove(target: number, chan: number, tag: number): void {
  const channel = channels.get(chan);
  if (channel === undefined) throw new Error(`Unknown channel ${chan}`);
  let message: MoveWire;
  const list: ArrayBuffer[] = [];
  try {
    if (ownStore !== undefined) {
      const keys: unknown[] = [];
      const value = outgoing(lookup(target), keys);
      message = keys.length > 0 ? { tag, value, stored: true } : { tag, value };
    } else {
      message = { tag, value: detachLarge(lookup(target), setup.transferBytes, list) };
    }
  } catch (error) {
    message = { tag, thrown: error instanceof Inherited ? error.thrown : error };
  }
  try {
    channel.port.postMessage(message, list);
  } catch (error) {
    channel.port.postMessage({ tag, thrown: error });
  }
}

// ---- arguments ----

/**
 * Turns store references back into proxies. Loaded on first use: the store
 * and serializer modules take longer to load than the rest of the worker.
 */
let revive: ((value: unknown) => unknown) | undefined;
let loadingStores: Promise<void> | undefined;

function loadStores(): Promise<void> {
  loadingStores ??= import('../store/travel.js').then((m) => {
    revive = m.reviveReferences;
  });
  return loadingStores;
}

function needsStores(op: OpWire): boolean {
  return ('stores' in op && op.stores === true) || (op.o === 'run' && op.fn.refs === true);
}

/** Where a moved value will be put once it arrives from the other environment. */
class Slot {
  value: unknown;
}

/** Replaces handle and move markers (and store references) by values; moves leave a Slot and a pending promise. */
function decode(value: unknown, pending: Promise<unknown>[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = decode(value[i], pending);
    return value;
  }
  if (!isPlainObject(value)) return value;
  const record = value as Record<string, unknown>;
  if (typeof record.__skeinHandle === 'number') return lookup(record.__skeinHandle);
  if (typeof record.__skeinMove === 'number') {
    const slot = new Slot();
    const arrived = receive(record.chan as number, record.__skeinMove).then((v) => (slot.value = v));
    // Handled here too: if a later input fails first, nobody awaits this one.
    arrived.catch(ignore);
    pending.push(arrived);
    return slot;
  }
  if (revive !== undefined) {
    const revived = revive(record);
    if (revived !== record) return revived;
  }
  for (const k of Object.keys(record)) record[k] = decode(record[k], pending);
  return record;
}

/** Puts moved values where their slots were, once they arrived. */
function fill(value: unknown): unknown {
  if (value instanceof Slot) return value.value;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = fill(value[i]);
  } else if (isPlainObject(value)) {
    for (const k of Object.keys(value)) (value as Record<string, unknown>)[k] = fill((value as Record<string, unknown>)[k]);
  }
  return value;
}

/** The inputs ready now, or a promise of them when moves are on their way. */
function inputs(args: unknown[], refs: boolean | undefined): unknown[] | Promise<unknown[]> {
  if (!refs) return args;
  const pending: Promise<unknown>[] = [];
  const decoded = decode(args, pending) as unknown[];
  if (pending.length === 0) return decoded;
  return Promise.all(pending).then(() => fill(decoded) as unknown[]);
}

// ---- operations ----

function keep(id: number, result: unknown): void | Promise<void> {
  if (!isThenable(result)) {
    values.set(id, result);
    return;
  }
  return Promise.resolve(result).then(
    (v) => void values.set(id, v),
    (e: unknown) => void failures.set(id, e),
  );
}

function fail(id: number, error: unknown): void {
  failures.set(id, error instanceof Inherited ? error.thrown : error);
}

/** Runs `then` on `x`, now if it is ready, else when it is; a failure of either step is kept under `id`. */
function after<T>(id: number, x: T | Promise<T>, then: (v: T) => unknown): void | Promise<void> {
  if (!(x instanceof Promise)) return keep(id, then(x));
  return x.then(
    (v) => {
      try {
        return keep(id, then(v));
      } catch (error) {
        fail(id, error);
      }
    },
    (error: unknown) => fail(id, error),
  );
}

function call(fn: unknown, self: unknown, args: unknown[]): unknown {
  if (typeof fn !== 'function') throw new TypeError(`The remote value is not a function (it is ${fn === null ? 'null' : typeof fn}), so it cannot be called`);
  return Reflect.apply(fn, self, args);
}

type Answer = { value: unknown } | { thrown: unknown };

/** Runs one operation: undefined when done, a promise when it must be awaited before the next one. */
function step(op: OpWire, answer: (a: Answer) => void): void | Promise<void> {
  if (revive === undefined && needsStores(op)) return loadStores().then(() => step(op, answer));
  switch (op.o) {
    case 'put':
      if (op.stored) {
        const { stored: _, ...rest } = op;
        return takeStored(op.value, storeOf).then(
          (value) => step({ ...rest, value }, answer),
          (error: unknown) => fail(op.id, error),
        );
      }
      try {
        const ready = inputs([op.value], op.refs);
        return after(op.id, ready, (a) => a[0]);
      } catch (error) {
        return fail(op.id, error);
      }
    case 'run':
      try {
        const fn = instantiate(op.fn, revive);
        const args = inputs(op.args as unknown[], op.refs);
        const both = fn instanceof Promise || args instanceof Promise ? Promise.all([fn, args]) : ([fn, args] as [unknown, unknown[]]);
        return after(op.id, both, ([f, a]) => call(f, undefined, a));
      } catch (error) {
        return fail(op.id, error);
      }
    case 'get':
      try {
        const target = lookup(op.target);
        const value = (target as Record<string, unknown>)[op.key];
        if (typeof value === 'function') receivers.set(op.id, target);
        values.set(op.id, value);
      } catch (error) {
        fail(op.id, error);
      }
      return;
    case 'call':
      try {
        const fn = lookup(op.target);
        const self = receivers.get(op.target);
        return after(op.id, inputs(op.args as unknown[], op.refs), (a) => call(fn, self, a));
      } catch (error) {
        return fail(op.id, error);
      }
    case 'invoke': {
      let target: unknown;
      let fn: unknown;
      try {
        target = lookup(op.target);
        fn = (target as Record<string, unknown>)[op.key];
      } catch (error) {
        fail(op.as, error);
        return fail(op.id, error);
      }
      values.set(op.as, fn);
      if (typeof fn === 'function') receivers.set(op.as, target);
      try {
        return after(op.id, inputs(op.args as unknown[], op.refs), (a) => call(fn, target, a));
      } catch (error) {
        return fail(op.id, error);
      }
    }
    case 'iter':
      try {
        const target = lookup(op.target) as { [Symbol.asyncIterator]?: () => AsyncIterator<unknown>; [Symbol.iterator]?: () => Iterator<unknown> };
        if (target !== null && target !== undefined && typeof target[Symbol.asyncIterator] === 'function') {
          iterators.set(op.id, { it: target[Symbol.asyncIterator]!(), async: true });
        } else if (target !== null && target !== undefined && typeof Object(target)[Symbol.iterator] === 'function') {
          iterators.set(op.id, { it: Object(target)[Symbol.iterator]() as Iterator<unknown>, async: false });
        } else {
          throw new TypeError('The remote value is not iterable');
        }
        values.set(op.id, undefined);
      } catch (error) {
        fail(op.id, error);
      }
      return;
    case 'next':
      return next(op.target, op.ids, answer);
    case 'release':
      for (const id of op.ids) {
        values.delete(id);
        failures.delete(id);
        receivers.delete(id);
        iterators.delete(id);
      }
      return;
    case 'channel':
      openChannel(op.chan, op.port);
      return;
    case 'send':
      sendMove(op.target, op.chan, op.tag);
      return;
    case 'fetch':
      try {
        if (ownStore !== undefined) {
          const keys: unknown[] = [];
          const value = outgoing(lookup(op.target), keys);
          answer({ value: { value, stored: keys.length > 0 } satisfies FetchReplyWire });
          return;
        }
        const list: ArrayBuffer[] = [];
        const value = detachLarge(lookup(op.target), setup.transferBytes, list);
        answer({ value: list.length > 0 ? transfer(value, list) : value });
      } catch (error) {
        answer({ thrown: error instanceof Inherited ? error.thrown : error });
      }
      return;
    case 'sync':
      // The first request waits for the store (if any), so fetches and moves find it loaded.
      if (ownStoreReady !== undefined && ownStore === undefined) return ownStoreReady.then(() => answer({ value: undefined }));
      answer({ value: undefined });
      return;
    case 'stats':
      answer({ value: { values: values.size + failures.size, failures: failures.size, heapUsed: getHeapStatistics().used_heap_size } satisfies EnvStatsWire });
      return;
  }
}

function next(target: number, ids: readonly number[], answer: (a: Answer) => void): void | Promise<void> {
  const entry = iterators.get(target);
  if (entry === undefined) {
    try {
      lookup(target);
      answer({ thrown: new HandleReleasedError(setup.name, target) });
    } catch (error) {
      answer({ thrown: error instanceof Inherited ? error.thrown : error });
    }
    return;
  }
  if (entry.async) {
    // One item per request: pulling an async iterator ahead would run its work eagerly.
    return Promise.resolve((entry.it as AsyncIterator<unknown>).next()).then(
      (r) => {
        if (!r.done) values.set(ids[0]!, r.value);
        answer({ value: { count: r.done ? 0 : 1, done: r.done === true } satisfies NextReplyWire });
      },
      (error: unknown) => answer({ thrown: error }),
    );
  }
  try {
    let count = 0;
    let done = false;
    while (count < ids.length) {
      const r = (entry.it as Iterator<unknown>).next();
      if (r.done) {
        done = true;
        break;
      }
      values.set(ids[count++]!, r.value);
    }
    answer({ value: { count, done } satisfies NextReplyWire });
  } catch (error) {
    answer({ thrown: error });
  }
}

// ---- the ordered queue ----

const ANSWERING = new Set<OpWire['o']>(['fetch', 'next', 'sync', 'stats']);
const queue: ({ op: OpWire; answer: (a: Answer) => void } | undefined)[] = [];
let head = 0;
let blocked = false;
function ignore(): void {}
const done: Answer = { value: undefined };

function drain(): void {
  while (!blocked && head < queue.length) {
    const { op, answer } = queue[head]!;
    queue[head++] = undefined;
    const running = step(op, answer);
    // An operation that does not answer by itself is acknowledged once done, so its batch's request settles.
    const ack = ANSWERING.has(op.o) || answer === ignore ? undefined : () => answer(done);
    if (running instanceof Promise) {
      blocked = true;
      running.then(
        () => {
          ack?.();
          unblock();
        },
        (error: unknown) => {
          answer({ thrown: error });
          unblock();
        },
      );
      return;
    }
    ack?.();
  }
  if (!blocked) {
    queue.length = 0;
    head = 0;
  }
}

function unblock(): void {
  blocked = false;
  drain();
}

function reply(a: Answer): unknown {
  if ('thrown' in a) throw a.thrown;
  return a.value;
}

const api: EnvWorkerApi = {
  exec(batch) {
    // Only the last operation of a batch answers (protocol.ts).
    const last = batch.length - 1;
    let answered: Answer | undefined;
    let settle: ((a: Answer) => void) | undefined;
    const onAnswer = (a: Answer): void => (settle ? settle(a) : void (answered = a));
    const result = (): unknown => (answered !== undefined ? reply(answered) : new Promise<Answer>((r) => (settle = r)).then(reply));
    let i = 0;
    // The common case, nothing queued before this batch: run its operations
    // here, without queue entries, until one must be awaited.
    if (!blocked && head === queue.length) {
      for (; i <= last; i++) {
        const op = batch[i]!;
        const running = step(op, i === last ? onAnswer : ignore);
        const acks = i === last && !ANSWERING.has(op.o);
        if (running instanceof Promise) {
          blocked = true;
          // The queue is empty here: the rest of the batch comes next, before any later batch.
          for (let k = i + 1; k <= last; k++) queue.push({ op: batch[k]!, answer: k === last ? onAnswer : ignore });
          const isLast = i === last;
          running.then(
            () => {
              if (acks) onAnswer(done);
              unblock();
            },
            (error: unknown) => {
              if (isLast) onAnswer({ thrown: error });
              unblock();
            },
          );
          return result();
        }
        if (acks) onAnswer(done);
      }
      return result();
    }
    for (; i <= last; i++) queue.push({ op: batch[i]!, answer: i === last ? onAnswer : ignore });
    drain();
    return result();
  },
};

expose(api, nodeEndpoint(parentPort!));
