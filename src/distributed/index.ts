/**
 * `skein/distributed`: scale-out on BullMQ and Redis. The only entry that
 * loads `bullmq` and `ioredis`, so core `skein` never pays for them.
 */
export { RedisConnector, type RedisConnection, type RedisConnectorOptions, type RedisConnectorConfig } from '../connectors/redis.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export { bullmq, BullmqBackend, type BullmqBackendOptions, type BatchDoneInfo } from './backend.js';
export { runWorker, type RunWorkerOptions, type SkeinWorker } from './worker.js';
export type { WorkerIdentity } from './protocol.js';
export { QueueLostError } from './errors.js';
