// Type tests for task graphs: checked by `tsc --noEmit` (npm test runs it), never executed.
import { expectTypeOf } from 'expect-type';
import { compute, delayed, type Delayed } from 'skein';

const square = (x: number) => x * x;
const mul = (x: number, y: number) => x * y;
const join = (parts: string[], opts: { sep: string }) => parts.join(opts.sep);
const size = async (xs: Float64Array) => xs.length;

const a: Delayed<number> = delayed(square)(2);
const b = delayed(square)(3);
// A Delayed stands where its result type is expected, at the top level and nested.
expectTypeOf(delayed(mul)(a, b)).toEqualTypeOf<Delayed<number>>();
expectTypeOf(delayed(mul)(a, 4)).toEqualTypeOf<Delayed<number>>();
const word = delayed((s: string) => s)('x');
expectTypeOf(delayed(join)([word, 'y'], { sep: word })).toEqualTypeOf<Delayed<string>>();
expectTypeOf(delayed(size)(delayed(() => new Float64Array(3))())).toEqualTypeOf<Delayed<number>>();
// @ts-expect-error a Delayed of the wrong type
delayed(mul)(word, 2);
// @ts-expect-error nested Delayed of the wrong type
delayed(join)([a], { sep: ',' });
// @ts-expect-error options are checked
delayed(mul, { pure: 'yes' });
expectTypeOf(delayed(mul, { name: 'product', pure: true })(a, b)).toEqualTypeOf<Delayed<number>>();

// compute() and d.compute() resolve to the results, per output.
expectTypeOf(a.compute()).toEqualTypeOf<Promise<number>>();
expectTypeOf(a.compute({ errors: 'settle' })).toEqualTypeOf<Promise<PromiseSettledResult<number>>>();
expectTypeOf(compute(a, word)).toEqualTypeOf<Promise<[number, string]>>();
expectTypeOf(compute(a, word, { verbose: 0 })).toEqualTypeOf<Promise<[number, string]>>();
expectTypeOf(compute(a, word, { errors: 'settle' })).toEqualTypeOf<Promise<[PromiseSettledResult<number>, PromiseSettledResult<string>]>>();
expectTypeOf(a.toDot()).toEqualTypeOf<string>();
expectTypeOf(a.toSVG()).toEqualTypeOf<Promise<string>>();
