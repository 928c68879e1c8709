import { deserialize } from '../serialize/index.js';
import { isEncodedResult, reviveInstances } from './instances.js';
import { isFramedResult } from './results.js';

/** Caller side: turns framed results back into ordinary values, and encoded ones (instances, errors) back into theirs. */
export function restoreResults(values: unknown[]): unknown[] {
  for (let i = 0; i < values.length; i++) {
    let value = values[i];
    if (typeof value !== 'object' || value === null) continue;
    if (isFramedResult(value)) values[i] = value = deserialize(value.frame);
    if (isEncodedResult(value)) values[i] = reviveInstances(value.value);
  }
  return values;
}
