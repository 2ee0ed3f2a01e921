/**
 * The repository contract suite (test/store/repository-contract.ts) run on
 * the PostgreSQL store: one database for the suite on the run's throwaway
 * cluster (test/support/postgres-cluster.ts), emptied before each test, each
 * test with a store of its own opened as a server opens it (migrations
 * checked at open, a pool of connections, SERIALIZABLE units).
 */
import { openPostgresStore } from "../../src/store/postgres/postgres-store.js";
import { clusterStartTimeoutMs, createTestDatabase, type TestDatabase } from "../support/postgres-cluster.js";
import { describeRepositoryContract } from "./repository-contract.js";

let database: TestDatabase;
// The first suite of a run starts the cluster (on a fresh machine it installs PostgreSQL first).
beforeAll(async () => {
  database = await createTestDatabase();
}, clusterStartTimeoutMs);
afterAll(() => database?.drop());

describeRepositoryContract("PostgreSQL", async () => {
  await database.empty();
  const store = await openPostgresStore(database.url);
  return { store, close: () => store.close() };
});
