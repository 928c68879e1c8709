export { SkeinError } from './core/errors.js';
export { SerializationError } from './serialize/errors.js';
export { ClosureCaptureError, UncaughtTaskError, UnshippableFunctionError, type EscapeSource } from './task/errors.js';
export { wrapNonSerializable, task, TaskModuleError, type TaskFunction } from './task/ship.js';
export { runBatch } from './task/run-batch.js';
export { delayed, Delayed, isDelayed, type DelayedResult } from './task/delayed.js';
export { Parallel, parallel, type ErrorMode, type ParallelEvents, type TaskOutcome, type Tasks } from './executor/parallel.js';
export { parallelConfig, type ParallelOptions, type ProgressCallback, type ProgressInfo } from './executor/options.js';
export { TaskTimeoutError, WorkerCrashedError, WorkerStartError, ParallelClosedError } from './backends/errors.js';
export { BatchCancelledError, CANCEL_UNSTARTED, type Backend, type BatchRequest, type BatchOutcome, type RunBatchOptions } from './backends/backend.js';
export type { BatchWire, BatchResultWire } from './core/wire.js';
export {
  serialize,
  deserialize,
  registerSerializer,
  unregisterSerializer,
  getSerializer,
  listSerializers,
  inspectFrame,
  availableCompressions,
  preloadArrow,
  defaultRegistry,
  SerializerRegistry,
  BUILTIN_SERIALIZERS,
  FORMAT_VERSION,
  UnknownSerializerError,
  CorruptFrameError,
  type Serializer,
  type Compression,
  type FrameInfo,
  type FrameDefect,
  type SerializeOptions,
  type DeserializeOptions,
  type RegisterOptions,
  type SerializeFunction,
  type DeserializeFunction,
  type ArrowTableLike,
} from './serialize/index.js';
export {
  proxy,
  isProxy,
  isResolved,
  resolve,
  extract,
  resolveAsync,
  getFactory,
  ProxyResolveError,
  NonProxiableError,
  type Factory,
  type ProxyKind,
  type ProxyOptions,
} from './proxy/index.js';
export {
  LocalConnector,
  SharedMemoryConnector,
  FileConnector,
  connectorFromConfig,
  InvalidKeyError,
  IntegrityError,
  StorageError,
  UnsafeDirectoryError,
  type Connector,
  type ConnectorConfig,
  type SharedMemoryKey,
  type FileConnectorOptions,
} from './connectors/index.js';
export {
  Store,
  SharedMemoryStore,
  FileStore,
  shared,
  storeReference,
  proxyFromReference,
  isStoreReference,
  isStoreFactory,
  getOrCreateStore,
  KeyNotFoundError,
  StoreClosedError,
  type StoreConfig,
  type StoreOptions,
  type PutOptions,
  type GetOptions,
  type StoreProxyOptions,
  type ProxyFromKeyOptions,
  type StoreStats,
  type CloseOptions,
  type SharedMemoryStoreKey,
  type SharedMemoryStoreOptions,
  type FileStoreOptions,
  type TypedArray,
  type TypedArrayConstructor,
  type StoreReference,
  type StoreFactory,
} from './store/index.js';
export { createRemoteEnv, RemoteEnv, type RemoteEnvOptions, type EnvStats, type PutOptions as RemotePutOptions } from './remote/environment.js';
export { isHandle, type Handle, type HandleArgs } from './remote/handle.js';
export { EnvCrashedError, EnvClosedError, HandleReleasedError } from './remote/errors.js';
