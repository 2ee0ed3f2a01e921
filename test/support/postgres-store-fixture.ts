import { openPostgresStore, type PostgresStoreOptions } from "../../src/store/postgres/postgres-store.js";
import type { Store } from "../../src/store/repositories.js";
import { clusterStartTimeoutMs, createTestDatabase, type TestDatabase } from "./postgres-cluster.js";

/**
 * A PostgreSQL store on a database of the suite's own (test/support/postgres-cluster.ts),
 * opened before the suite's first test (the first suite of a run waits for
 * the cluster to start) and closed, its database dropped, after its last.
 * Read `store` and `database` inside tests and hooks.
 */
export function usePostgresStore(options?: PostgresStoreOptions): { readonly store: Store; readonly database: TestDatabase } {
  const fixture: { store?: Store; database?: TestDatabase } = {};
  beforeAll(async () => {
    fixture.database = await createTestDatabase();
    fixture.store = await openPostgresStore(fixture.database.url, options);
  }, clusterStartTimeoutMs);
  afterAll(async () => {
    await fixture.store?.close();
    await fixture.database?.drop();
  });
  return {
    get store() {
      if (!fixture.store) throw new Error("the suite's store is opened in beforeAll: read it inside a test or hook");
      return fixture.store;
    },
    get database() {
      if (!fixture.database) throw new Error("the suite's database is made in beforeAll: read it inside a test or hook");
      return fixture.database;
    },
  };
}
