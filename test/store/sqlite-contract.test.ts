/**
 * The repository contract suite (test/store/repository-contract.ts) run on
 * the SQLite store: a fresh database file in a temp dir of its own per test,
 * as the server opens it (WAL, group commit, background checkpoints).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { describeRepositoryContract } from "./repository-contract.js";

describeRepositoryContract("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "repository-contract-"));
  const store = openSqliteStore(join(dir, "booking.db"));
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
