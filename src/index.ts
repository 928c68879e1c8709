export { SkeinError } from './errors.js';
export { SerializationError } from './serialize/errors.js';
export { ClosureCaptureError, UnshippableFunctionError } from './ship/errors.js';
export { wrapNonSerializable, task, TaskModuleError, type TaskFunction } from './ship/describe.js';
export { runBatch } from './ship/run-batch.js';
export { delayed, Delayed, isDelayed, type DelayedResult } from './executor/delayed.js';
export { Parallel, parallel, type ErrorMode, type TaskOutcome, type Tasks } from './executor/parallel.js';
export { parallelConfig, type ParallelOptions, type ProgressCallback, type ProgressInfo } from './executor/options.js';
export { TaskTimeoutError, WorkerCrashedError, ParallelClosedError } from './executor/errors.js';
export { CANCEL_UNSTARTED, type Backend, type BatchRequest, type BatchOutcome, type RunBatchOptions } from './executor/backend.js';
export type { BatchWire, BatchResultWire } from './protocol/messages.js';
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
