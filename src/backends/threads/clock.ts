// The layout of a clock slot (see `BatchClockWire` in protocol.ts), in Int32s.
export const CLOCK_SLOT_INTS = 4;
export const CLOCK_SEQ = 0;
export const CLOCK_OFFSET = 1;
export const CLOCK_START = 2;
/** Set by the caller when the run no longer wants the batch: the worker stops before its next task. */
export const CLOCK_CANCEL = 3;
