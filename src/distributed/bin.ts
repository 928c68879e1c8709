#!/usr/bin/env node
// skein-worker: runs the batches a `bullmq` backend puts on a queue, on this machine's threads.
import { parseArgs } from 'node:util';
import { runWorker } from './worker.js';

const usage = `Usage: skein-worker --redis URL --queue NAME [--concurrency N] [--prefix PREFIX]
                    [--lock-duration MS] [--stalled-interval MS]

Runs skein batches from a BullMQ queue on a local thread pool until SIGTERM or SIGINT,
then finishes the running batches and exits.
  --redis URL              the Redis the callers use, e.g. redis://10.0.0.5:6379
  --queue NAME             the queue of the callers' bullmq({ queue })
  --concurrency N          batches at once, one thread each (default: the number of CPUs)
  --prefix PREFIX          BullMQ key prefix, if the callers set one (default: bull)
  --lock-duration MS       how long a job stays locked without renewal (default: BullMQ's 30000)
  --stalled-interval MS    how often stalled jobs are looked for (default: BullMQ's 30000)`;

function fail(message: string): never {
  process.stderr.write(`skein-worker: ${message}\n\n${usage}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) fail(`Expected \`--${name}\` to be a positive integer, got \`${value}\``);
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      concurrency: { type: 'string' },
      prefix: { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const redis = values.redis as string | undefined;
const queue = values.queue as string | undefined;
if (!redis) fail('`--redis URL` is required');
if (!queue) fail('`--queue NAME` is required');
const concurrency = integer('concurrency', values.concurrency as string | undefined);
const lockDuration = integer('lock-duration', values['lock-duration'] as string | undefined);
const stalledInterval = integer('stalled-interval', values['stalled-interval'] as string | undefined);
const prefix = values.prefix as string | undefined;

const worker = await runWorker({
  connection: redis,
  queue,
  ...(concurrency === undefined ? {} : { concurrency }),
  ...(prefix === undefined ? {} : { prefix }),
  ...(lockDuration === undefined ? {} : { lockDuration }),
  ...(stalledInterval === undefined ? {} : { stalledInterval }),
}).catch((error: unknown) => fail(`could not start: ${(error as Error).message}`));

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) {
    // A second signal: do not wait for running batches (BullMQ hands their jobs to another worker once their locks expire).
    process.stderr.write(`skein-worker ${process.pid}: ${signal} again, exiting now\n`);
    process.exit(1);
  }
  stopping = true;
  process.stderr.write(`skein-worker ${process.pid}: ${signal}, finishing running batches\n`);
  worker.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`skein-worker ${process.pid}: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.stdout.write(`skein-worker ${process.pid} ready: queue ${queue} on ${redis}\n`);
