// Tests exercise the built package (dist/), as users get it: worker threads
// load plain JS and cannot run the .ts sources that only ts-jest understands.
/** @type {import('jest').Config} */
export default {
  // jest-environment-node, minus the VM modules warning (see the file).
  testEnvironment: '<rootDir>/test/node-environment.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: {
    '^skein$': '<rootDir>/dist/src/index.js',
    '^skein/distributed$': '<rootDir>/dist/src/distributed/index.js',
    '^#src/(.*)\\.js$': '<rootDir>/dist/src/$1.js',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    // Transpile-only (no type check per file: `npm run typecheck` does that)
    // because tsconfig.json sets isolatedModules, which ts-jest 29.4 reads there.
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 30000,
  // One real redis-server per run for test/distributed (installed by scripts/redis-server.mjs when missing).
  globalSetup: '<rootDir>/test/distributed/global-setup.mjs',
  globalTeardown: '<rootDir>/test/distributed/global-teardown.mjs',
};
