/**
 * Shared memory the caller reuses from run to run (its buffer pool) ends in
 * this many bytes that are not data: an Int32 flag a worker sets when a task
 * hands part of the buffer back in a result, after which the caller never
 * reuses it (the caller can see that buffer now, and must not see it change);
 * then an Int32 a worker increments to tell whether another buffer object is
 * the same memory.
 */
export const POOL_TAIL_BYTES = 8;
