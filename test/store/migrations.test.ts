import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { migrations } from "../../src/store/migrations";
import { openSqliteStore } from "../../src/store/sqlite-store";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "migrations-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("when a database from before migration 6 has availability updates waiting, then their start times survive the upgrade", async () => {
  const path = join(dir, "old.db");
  const old = new Database(path);
  old.pragma("journal_mode = WAL");
  migrations.slice(0, 5).forEach((migration) => (typeof migration === "string" ? old.exec(migration) : migration(old)));
  old.pragma("user_version = 5");
  old.prepare(`INSERT INTO notification_outbox (id, queue_key, kind, update_mask, payload_json, query_json, created_at_sec)
    VALUES (7, 'availability/m/s', 'availability_replace', '', ?, '{}', 1)`)
    .run(JSON.stringify({ merchantId: "m", serviceId: "s", startSecs: [1800003600, 1800000000] }));
  old.close();

  const store = openSqliteStore(path);
  expect(await store.read.outbox.startSecsOf(7)).toEqual([1800000000, 1800003600]);
  // A later change of the same service merges into that entry.
  await store.transaction(async (tx) => {
    await tx.outbox.addStartSec((await tx.outbox.findUnsent("availability/m/s", "availability_replace"))!.id, 1800007200);
  });
  expect(await store.read.outbox.startSecsOf(7)).toEqual([1800000000, 1800003600, 1800007200]);
  await store.close();
});
