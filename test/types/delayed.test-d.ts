// Type tests: checked by `tsc --noEmit` (npm test runs it), never executed.
import { expectTypeOf } from 'expect-type';
import { Parallel, delayed, parallel, task, wrapNonSerializable, type Delayed, type DelayedResult } from 'skein';

const square = (x: number) => x * x;
const greet = async (name: string, excited: boolean) => (excited ? `${name}!` : name);

// Argument and result types flow through delayed().
expectTypeOf(delayed(square)(2)).toEqualTypeOf<Delayed<number>>();
expectTypeOf(delayed(greet)('a', true)).toEqualTypeOf<Delayed<string>>();
expectTypeOf<DelayedResult<Delayed<string>>>().toEqualTypeOf<string>();
// @ts-expect-error wrong argument type
delayed(square)('2');
// @ts-expect-error missing argument
delayed(greet)('a');

// parallel() resolves to the awaited results.
expectTypeOf(parallel([delayed(square)(1)])).toEqualTypeOf<Promise<number[]>>();
expectTypeOf(parallel([delayed(greet)('a', false)])).toEqualTypeOf<Promise<string[]>>();
expectTypeOf(parallel([delayed(square)(1), delayed(greet)('a', true)])).toEqualTypeOf<Promise<(number | string)[]>>();
expectTypeOf(parallel([delayed(square)(1)], { errors: 'settle' })).toEqualTypeOf<Promise<PromiseSettledResult<number>[]>>();

// Parallel: run, iter, map.
const par = new Parallel({ nJobs: 2 });
expectTypeOf(par.run([delayed(square)(1)])).toEqualTypeOf<Promise<number[]>>();
expectTypeOf(par.iter([delayed(greet)('a', true)])).toEqualTypeOf<AsyncGenerator<string, void, undefined>>();
expectTypeOf(par.map(square, [1, 2])).toEqualTypeOf<Promise<number[]>>();
const settling = new Parallel({ errors: 'settle' });
expectTypeOf(settling.run([delayed(square)(1)])).toEqualTypeOf<Promise<PromiseSettledResult<number>[]>>();

// Wrapped closures keep their signature; task() takes the function type it names.
const factor = 2;
expectTypeOf(wrapNonSerializable((x: number) => x * factor, { factor })).toEqualTypeOf<(x: number) => number>();
const fib = task<(n: number) => number>('file:///tasks/fib.js', 'fib');
expectTypeOf(delayed(fib)(10)).toEqualTypeOf<Delayed<number>>();
// @ts-expect-error task arguments are checked too
delayed(fib)('10');
