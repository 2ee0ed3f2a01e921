/**
 * Tests run TypeScript through ts-jest in transpile-only mode (fast; `make
 * typecheck` does the type checking once for the whole tree).
 *
 * The global setup and teardown give the run a throwaway PostgreSQL cluster,
 * started only when a suite asks for a database (test/support/postgres-cluster.ts)
 * and stopped when the run ends.
 */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  globalSetup: "<rootDir>/test/support/postgres-global-setup.ts",
  globalTeardown: "<rootDir>/test/support/postgres-global-teardown.ts",
  testTimeout: 30000,
};
