// Tests exercise the built package (dist/), as users get it: worker threads
// load plain JS and cannot run the .ts sources that only ts-jest understands.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
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
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true, tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 30000,
  // One real redis-server per run for test/distributed (installed by scripts/redis-server.mjs when missing).
  globalSetup: '<rootDir>/test/distributed/global-setup.mjs',
  globalTeardown: '<rootDir>/test/distributed/global-teardown.mjs',
};
