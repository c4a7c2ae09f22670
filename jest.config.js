/** Tests talk to a real Temporal dev server and PostgreSQL started by test/global-setup.ts. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60000,
  // The client SDK (packages/client) is ESM source with .js import specifiers; tests load its TypeScript.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // sdk-typescript#928: the native runtime can keep the process alive after the last test.
  forceExit: true,
  // One test file at a time (`npm test` passes --maxWorkers=1), in a worker process that is
  // replaced once it holds more than this after a file: what a file's stacks, native Temporal
  // runtimes and module registries leave behind no longer adds up across the whole suite (run in
  // band, the one process ran out of its 4 GB heap).
  workerIdleMemoryLimit: '1536MB',
};
