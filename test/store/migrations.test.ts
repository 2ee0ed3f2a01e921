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
    await tx.outbox.addStartSec((await tx.outbox.findUnsentId("availability/m/s", "availability_replace"))!, 1800007200);
  });
  expect(await store.read.outbox.startSecsOf(7)).toEqual([1800000000, 1800003600, 1800007200]);
  await store.close();
});

test("when a database from before migration 11 has idempotency records, then each token still answers its booking and still takes no second one", async () => {
  const path = join(dir, "old.db");
  const old = new Database(path);
  old.pragma("journal_mode = WAL");
  migrations.slice(0, 10).forEach((migration) => (typeof migration === "string" ? old.exec(migration) : migration(old)));
  old.pragma("user_version = 10");
  old.exec(`INSERT INTO merchants (merchant_id, feed_json) VALUES ('m', '{}');
    INSERT INTO services (merchant_id, service_id, feed_json) VALUES ('m', 's', '{}');
    INSERT INTO slots (slot_id, merchant_id, service_id, start_sec, duration_sec, spots_total, feed_json)
      VALUES (1, 'm', 's', 1800000000, 3600, 2, '{}');
    INSERT INTO bookings (booking_id, slot_id, user_id, email_key, status, holds_spot, start_sec, booking_proto,
      created_at_sec, updated_at_sec) VALUES ('booking-1', 1, 'u', 'u@example.com', 1, 1, 1800000000, x'', 1, 1);
    INSERT INTO idempotency_records (idempotency_token, booking_id, created_at_sec) VALUES ('token-1', 'booking-1', 1);`);
  old.close();

  const store = openSqliteStore(path);
  expect(await store.read.idempotency.findBookingId("token-1")).toBe("booking-1");
  await expect(store.transaction((tx) => tx.idempotency.record("token-1", "booking-1", 2))).rejects.toMatchObject({
    constraint: "one_booking_per_idempotency_token",
  });
  await store.close();
  const upgraded = new Database(path, { readonly: true });
  expect(upgraded.pragma("user_version", { simple: true })).toBe(migrations.length);
  expect(upgraded.prepare("SELECT sql FROM sqlite_master WHERE name = 'idempotency_records'").pluck().get()).toMatch(/WITHOUT ROWID/);
  upgraded.close();
});
