/**
 * The feed importer (src/inventory/feed-import.ts) on the PostgreSQL store,
 * against the same import on SQLite: the demo feeds (examples/feeds) give the
 * same report and leave the same inventory, and what the import queued for
 * Google; importing them again changes nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importFeeds } from "../../src/inventory/feed-import.js";
import type { Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { repoRoot } from "../support/server-process.js";
import { usePostgresStore } from "../support/postgres-store-fixture.js";

const feeds = ["merchants.json", "services.json", "availability.json"].map((name) => join(repoRoot, "examples", "feeds", name));

/** The whole inventory as an export reads it (slot ids left out: each database numbers its own), and the outbox's depth. */
async function inventoryOf(store: Store) {
  const { inventory, outbox } = store.read;
  const merchants = await inventory.merchantFeedsAfter("", 1_000_000);
  const services = await inventory.serviceFeedsAfter(undefined, 1_000_000);
  const slots = (await inventory.slotFeedsAfter(0, 1_000_000)).map(({ slotId: _slotId, ...slot }) => slot);
  return { merchants, services, slots, outbox: await outbox.depth(0) };
}

const postgres = usePostgresStore();
let dir: string;
let sqlite: Store;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "postgres-feed-import-"));
  sqlite = openSqliteStore(join(dir, "booking.db"));
});
afterAll(async () => {
  await sqlite?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("when the demo feeds are imported into PostgreSQL and into SQLite, then both report the same counts and hold the same inventory, and a second import changes nothing", async () => {
  const [onPostgres, onSqlite] = [await importFeeds(postgres.store, feeds), await importFeeds(sqlite, feeds)];
  expect(onPostgres).toEqual(onSqlite);
  expect(onPostgres.slots.inserted).toBeGreaterThan(1000);
  const held = await inventoryOf(postgres.store);
  expect(held).toEqual(await inventoryOf(sqlite));

  const again = await importFeeds(postgres.store, feeds);
  expect([again.merchants, again.services, again.slots, again.offers].map((counts) => counts.inserted + counts.updated)).toEqual([0, 0, 0, 0]);
  expect(await inventoryOf(postgres.store)).toEqual(held);
}, 120_000);
