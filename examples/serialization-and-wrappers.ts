/**
 * joblib's "Serialization of un-picklable objects" example, told in skein:
 * `npx tsx examples/serialization-and-wrappers.ts` (after `npm run build`).
 *
 * joblib pickles functions; skein ships a function's source. What joblib
 * solves with cloudpickle and `wrap_non_picklable_objects`, skein solves by
 * checking each function for captured variables up front and letting you
 * name them with `wrapNonSerializable`.
 */
import { ClosureCaptureError, Parallel, delayed, wrapNonSerializable } from 'skein';

await using par = new Parallel({ nJobs: 2 });
await par.run([delayed((x: number) => x)(0)]); // start the workers

// 1. A self-contained function travels by source and runs in a worker.
async function funcAsync(i: number, ..._args: unknown[]) {
  return 2 * i;
}
console.log('1. funcAsync(21) in a worker:', await par.run([delayed(funcAsync)(21)]));

// 2. A large argument is copied to the worker by structured clone. Passing
// the same 1,000,000-element list to a task shows what that copy costs.
const largeList = Array.from({ length: 1_000_000 }, (_, i) => i);
let t0 = performance.now();
await par.run([delayed(funcAsync)(21, largeList)]);
const cloneMs = performance.now() - t0;
t0 = performance.now();
await par.run([delayed(funcAsync)(21)]);
const bareMs = performance.now() - t0;
console.log(`2. with a 1,000,000-element list argument: ${cloneMs.toFixed(1)} ms (without: ${bareMs.toFixed(1)} ms)`);
console.log('   the difference is the structured clone of the list; large values are better sent by reference (stores).');

// 3. A closure cannot travel as it is: its captured variable would not exist
// in the worker. skein says so before anything runs...
const offset = 10;
function addOffset(x: number) {
  return x + offset;
}
try {
  delayed(addOffset);
} catch (error) {
  console.log(`3. ${(error as ClosureCaptureError).name}: ${(error as Error).message.split('\n')[0]}`);
}

// ...and wrapNonSerializable sends the function with what it captures.
const shippable = wrapNonSerializable(addOffset, { offset });
console.log('   wrapped, in a worker:', await par.run([1, 2, 3].map((x) => delayed(shippable)(x))));

// 4. Captured helpers and classes travel by source too.
class Scaler {
  constructor(readonly factor: number) {}
  apply(x: number) {
    return x * this.factor + offset;
  }
}
const scaleAll = wrapNonSerializable((xs: number[]) => xs.map((x) => new Scaler(3).apply(x)), { Scaler, offset });
console.log('4. a captured class, in a worker:', (await par.run([delayed(scaleAll)([1, 2, 3])]))[0]);
