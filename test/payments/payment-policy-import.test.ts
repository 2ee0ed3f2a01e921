import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FeedError, importFeeds } from "../../src/inventory/feed-import";
import { openSqliteStore } from "../../src/store/sqlite-store";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "policy-import-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, body: unknown) => (writeFileSync(join(dir, name), JSON.stringify(body)), join(dir, name));
const merchants = () => write("m.json", { merchant: [{ merchant_id: "m", name: "M" }] });

test("when a service's payment terms are malformed, then the import is refused naming file, record and field, and nothing is imported", async () => {
  const store = openSqliteStore(join(dir, "b.db"));
  try {
    const services = write("s.json", {
      service: [
        { merchant_id: "m", service_id: "ok", name: "ok" },
        { merchant_id: "m", service_id: "bad", name: "bad", deposit: { deposit: { price_micros: "12abc", currency_code: "USD" } } },
      ],
    });
    const error = await importFeeds(store, [merchants(), services]).catch((e) => e);
    expect(error).toBeInstanceOf(FeedError);
    expect(error.message).toContain("s.json: record 1");
    expect(error.message).toContain("deposit.deposit.price_micros");
    expect(await store.read.inventory.hasMerchant("m")).toBe(false);
  } finally {
    await store.close();
  }
});

test("when a slot overrides the payment terms with a malformed value, then the import is refused naming the slot record", async () => {
  const store = openSqliteStore(join(dir, "b.db"));
  try {
    const services = write("s.json", { service: [{ merchant_id: "m", service_id: "s", name: "s" }] });
    const availability = write("a.json", {
      availability: [
        { merchant_id: "m", service_id: "s", start_sec: 1830000000, duration_sec: 3600 },
        { merchant_id: "m", service_id: "s", start_sec: 1830003600, duration_sec: 3600, no_show_fee: { fee_type: "SOMETIMES" } },
      ],
    });
    const error = await importFeeds(store, [merchants(), services, availability]).catch((e) => e);
    expect(error).toBeInstanceOf(FeedError);
    expect(error.message).toMatch(/a\.json: record 1.*no_show_fee/);
  } finally {
    await store.close();
  }
});
