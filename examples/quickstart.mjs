/**
 * skein in one minute, in plain JavaScript: `npm run build`, then
 * `node examples/quickstart.mjs` (no TypeScript, no tsx).
 * The same tour as quickstart.ts: parallel loops joblib style, functions that
 * travel by source, closures made explicit, errors with the worker's stack.
 *
 * `import ... from 'skein'` resolves here through the package's own name (its
 * `exports`); in your project it is the installed package.
 */
import os from 'node:os';
import { Parallel, ClosureCaptureError, delayed, parallel, wrapNonSerializable } from 'skein';

// A CPU-bound function: it uses only its parameters and globals, so it
// travels to the workers by source and is compiled once per worker.
function countPrimes(limit) {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

const ms = (t0) => performance.now() - t0;
const limits = Array.from({ length: 16 }, (_, i) => 400_000 + i * 20_000);

console.log(`skein quickstart — ${os.availableParallelism()} cores, Node ${process.version}\n`);

// `await using par = new Parallel()` is TypeScript syntax, a SyntaxError in
// plain JavaScript on Node 20: close the pool in `finally`, which is the same.
const par = new Parallel({ nJobs: -1 });
try {
  // 1. A parallel loop, compared with the same loop in this thread.
  let t0 = performance.now();
  const sequential = limits.map(countPrimes);
  const seqMs = ms(t0);

  await par.run([delayed(countPrimes)(10)]); // start the workers before timing
  t0 = performance.now();
  const primes = await par.run(limits.map((n) => delayed(countPrimes)(n)));
  const parMs = ms(t0);
  console.log('1. Counting primes below 400k..700k, 16 tasks');
  console.log(`   results (in order): ${primes.slice(0, 4).join(', ')}, ...`);
  console.log(`   sequential ${seqMs.toFixed(0)} ms, parallel ${parMs.toFixed(0)} ms: ${(seqMs / parMs).toFixed(2)}x speedup`);
  console.log(`   same answers as the sequential loop: ${JSON.stringify(primes) === JSON.stringify(sequential)}\n`);

  // 2. Many tiny tasks: auto batching groups them into few messages.
  const square = (x) => x * x;
  t0 = performance.now();
  const squares = await par.map(square, Array.from({ length: 100_000 }, (_, i) => i));
  const tinyMs = ms(t0);
  console.log('2. 100,000 tiny tasks with automatic batching');
  console.log(`   ${tinyMs.toFixed(0)} ms, ${Math.round(100_000 / (tinyMs / 1000)).toLocaleString('en-US')} tasks/s; last = ${squares.at(-1)}\n`);

  // 3. Results as they finish, in completion order.
  const sleepy = async (id, wait) => {
    await new Promise((r) => setTimeout(r, wait));
    return id;
  };
  const order = [];
  for await (const id of par.iter([delayed(sleepy)('slow', 300), delayed(sleepy)('fast', 10)], { ordered: false })) order.push(id);
  console.log(`3. iter({ ordered: false }) yields as tasks finish: ${order.join(' then ')}\n`);

  // 4. A closure is caught in the caller, with the fix in the message.
  const threshold = 100;
  const above = (x) => x > threshold;
  try {
    delayed(above);
  } catch (error) {
    if (error instanceof ClosureCaptureError) console.log(`4. ${error.message.split('\n')[0]}\n   ${error.message.split('\n')[1]}`);
  }
  const wrapped = wrapNonSerializable(above, { threshold });
  console.log(`   wrapped: ${JSON.stringify(await par.run([50, 150].map((x) => delayed(wrapped)(x))))}\n`);
} finally {
  await par.close();
}

// 5. Errors keep the worker's stack and say which task failed. A one-shot
// `parallel()` starts its own pool and closes it, whatever happens.
function parseRecord(line) {
  if (!line.includes('=')) throw new SyntaxError(`not a key=value record: ${JSON.stringify(line)}`);
  return line.split('=');
}
try {
  await parallel(['a=1', 'b=2', 'oops'].map((l) => delayed(parseRecord)(l)), { nJobs: 2 });
} catch (error) {
  console.log(`5. ${error.name} from task ${error.taskIndex}: ${error.message}`);
  console.log(`   worker stack: ${error.stack?.split('\n')[1]?.trim()}`);
}
