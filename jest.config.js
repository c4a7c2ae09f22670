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
};
