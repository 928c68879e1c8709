// A plain BullMQ worker process, the baseline of the distributed scope: the
// trivial task in the processor itself, no skein on the way.
// argv: <redis url> <queue> <concurrency>. Prints `ready` once it takes jobs.
import { Worker } from 'bullmq';

const [url, queue, concurrency] = process.argv.slice(2);
const worker = new Worker(queue, async (job) => job.data.x + 1, { connection: { url }, concurrency: Number(concurrency) });
worker.on('error', () => {});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  worker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
