export { SkeinError } from './errors.js';
export { SerializationError } from './serialize/errors.js';
