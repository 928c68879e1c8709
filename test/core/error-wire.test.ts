import { describe, expect, test } from '@jest/globals';
import { decodeError, encodeError } from '#src/core/error-wire.js';
import { BatchCancelledError, CorruptFrameError, KeyNotFoundError, SerializationError, SkeinError, StorageError, TaskTimeoutError } from 'skein';

/** What the receiving thread gets: the wire form after structured clone. */
const roundTrip = (error: unknown): Error => decodeError(structuredClone(encodeError(error)));

describe('error wire', () => {
  test('a skein error comes back as its class, with its code and fields', () => {
    const back = roundTrip(new TaskTimeoutError(7, 50));
    expect(back).toBeInstanceOf(TaskTimeoutError);
    expect(back).toBeInstanceOf(SkeinError);
    expect((back as TaskTimeoutError).code).toBe('ERR_SKEIN_TASK_TIMEOUT');
    expect(back.name).toBe('TaskTimeoutError');
    expect(back.message).toBe(new TaskTimeoutError(7, 50).message);
  });

  test('decoding looks the class up by code, not by name', () => {
    const wire = { ...encodeError(new KeyNotFoundError('k', 'store')), name: 'RenamedSomewhere' };
    const back = decodeError(structuredClone(wire));
    expect(back).toBeInstanceOf(KeyNotFoundError);
    expect(back.name).toBe('RenamedSomewhere');
  });

  test('classes sharing a code are told apart by name', () => {
    const back = roundTrip(new CorruptFrameError('bad bytes', { defect: 'bad-magic' }));
    expect(back).toBeInstanceOf(CorruptFrameError);
    expect((back as CorruptFrameError).defect).toBe('bad-magic');
    expect(roundTrip(new SerializationError('no'))).not.toBeInstanceOf(CorruptFrameError);
  });

  test('a subclass unknown here comes back as the class registered for its code', () => {
    class QuotaError extends StorageError {}
    const back = roundTrip(new QuotaError('full', { connector: 'file', path: '/tmp/x' }));
    expect(back).toBeInstanceOf(StorageError);
    expect(back.name).toBe('QuotaError');
  });

  test('an unregistered code falls back to the nearest known class name', () => {
    class MyTypeError extends TypeError {
      readonly code = 'E_MINE';
    }
    const back = roundTrip(new MyTypeError('typed'));
    expect(back).toBeInstanceOf(TypeError);
    expect(back.name).toBe('TypeError');
    expect((back as MyTypeError).code).toBe('E_MINE');
  });

  test('BatchCancelledError is a SkeinError with a code, and travels as itself', () => {
    const error = new BatchCancelledError();
    expect(error).toBeInstanceOf(SkeinError);
    expect(error.code).toBe('ERR_SKEIN_BATCH_CANCELLED');
    expect(roundTrip(error)).toBeInstanceOf(BatchCancelledError);
  });

  test('cause, AggregateError members and thrown non-errors survive', () => {
    const back = roundTrip(new Error('outer', { cause: new RangeError('inner') }));
    expect(back.cause).toBeInstanceOf(RangeError);
    const agg = roundTrip(new AggregateError([new TypeError('a'), 'b'], 'many')) as AggregateError;
    expect(agg).toBeInstanceOf(AggregateError);
    expect(agg.errors[0]).toBeInstanceOf(TypeError);
    expect(agg.errors[1]).toBe('b');
    const thrown = roundTrip({ not: 'an error' }) as Error & { thrown: unknown };
    expect(thrown.message).toMatch(/non-error value/);
    expect(thrown.thrown).toEqual({ not: 'an error' });
  });
});
