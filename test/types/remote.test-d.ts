// Type tests: checked by `tsc --noEmit` (npm test runs it), never executed.
import { expectTypeOf } from 'expect-type';
import { createRemoteEnv, task, type Handle, type RemoteEnv } from 'skein';

declare const env: RemoteEnv;

// put() gives a handle at once; awaiting it (handles are not thenable) gives the same type.
const x = env.put('x');
expectTypeOf(x).toEqualTypeOf<Handle<string>>();
expectTypeOf<Awaited<typeof x>>().toEqualTypeOf<Handle<string>>();
expectTypeOf(x.fetch()).toEqualTypeOf<Promise<string>>();
expectTypeOf(createRemoteEnv({ name: 'm' })).toEqualTypeOf<Promise<RemoteEnv>>();

// run() takes values or handles for each parameter; the result is a handle to the awaited return type.
const n = env.put(10);
expectTypeOf(env.run((s: string, k: number) => s.repeat(k), x, n)).toEqualTypeOf<Handle<string>>();
expectTypeOf(env.run((s: string, k: number) => s.repeat(k), 'y', 3)).toEqualTypeOf<Handle<string>>();
expectTypeOf(env.run(async () => 1)).toEqualTypeOf<Handle<number>>();
// @ts-expect-error a handle of the wrong type
env.run((s: string, k: number) => s.repeat(k), n, n);
// @ts-expect-error a missing argument
env.run((s: string, k: number) => s.repeat(k), x);

// Properties and methods map to handles of their types.
type Counter = { n: number; inc(by: number): number; name: string; later(): Promise<boolean> };
expectTypeOf<ReturnType<Handle<{ inc(n: number): number }>['inc']>>().toEqualTypeOf<Handle<number>>();
declare const counter: Handle<Counter>;
expectTypeOf(counter.n).toEqualTypeOf<Handle<number>>();
expectTypeOf(counter.inc(2)).toEqualTypeOf<Handle<number>>();
expectTypeOf(counter.inc(n)).toEqualTypeOf<Handle<number>>();
expectTypeOf(counter.later()).toEqualTypeOf<Handle<boolean>>();
expectTypeOf(counter.name.length).toEqualTypeOf<Handle<number>>();
expectTypeOf(counter.n.fetch()).toEqualTypeOf<Promise<number>>();
// @ts-expect-error wrong argument type for a remote method
counter.inc('2');
// @ts-expect-error no such property
void counter.missing;
expectTypeOf(counter.release).toEqualTypeOf<() => void>();

// Iterating a handle to an iterable gives handles to its items.
declare const list: Handle<number[]>;
async function iterate(): Promise<void> {
  for await (const item of list) expectTypeOf(item).toEqualTypeOf<Handle<number>>();
}
void iterate;

// A task() function carries its type into run().
const fib = task<(n: number) => number>('file:///tasks/fib.js', 'fib');
expectTypeOf(env.run(fib, 10)).toEqualTypeOf<Handle<number>>();
// @ts-expect-error task arguments are checked too
env.run(fib, '10');

// A function that always throws still gives a handle to fetch (and fail).
expectTypeOf(env.run(() => { throw new Error('no'); }).fetch()).toEqualTypeOf<Promise<never>>();
// Handle<any> allows anything, for values typed loosely (an index signature: `!` under noUncheckedIndexedAccess).
declare const loose: Handle<any>;
expectTypeOf(loose.a!.b!(1).fetch()).toEqualTypeOf<Promise<any>>();
