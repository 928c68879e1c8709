// Jest's ESM support needs `--experimental-vm-modules`, and Node then warns
// "VM Modules is an experimental feature" once per test process: a warning
// about Jest's internals that nobody running `npm test` can act on. Dropping
// exactly that message here, in Jest's own processes, is narrower than
// `--no-warnings=ExperimentalWarning` (or `--disable-warning`), which would
// also hide experimental features skein itself might touch, and than a
// `--import` preload, which worker threads and remote environments inherit.
import { TestEnvironment } from 'jest-environment-node';

const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const message = typeof warning === 'string' ? warning : warning?.message;
  if (typeof message === 'string' && message.startsWith('VM Modules is an experimental feature')) return;
  return emitWarning.call(this, warning, ...rest);
};

export default TestEnvironment;
