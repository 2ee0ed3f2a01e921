import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfirmationMode } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import Database from "better-sqlite3";
import { FeedError, importFeeds, recordsPerChunk, type ImportReport } from "../../src/inventory/feed-import.js";
import type { SlotQuery, Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";

const repoRoot = join(__dirname, "..", "..");

let dir: string;
let dbPath: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "feed-import-"));
  dbPath = join(dir, "booking.sqlite");
  store = openSqliteStore(dbPath);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a feed file into the temp dir (objects as 2-space JSON, strings as given). */
function feed(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return file;
}

const metadata = { processing_instruction: "PROCESS_AS_COMPLETE", shard_number: 0, total_shards: 1 };

const merchantFeed = () =>
  feed("merchants.json", {
    metadata,
    merchant: [
      { merchant_id: "10001", name: "Trattoria Uno" },
      { merchant_id: "10002", name: "Trattoria Due" },
    ],
  });

const serviceFeed = () =>
  feed("services.json", {
    metadata,
    service: [
      { merchant_id: "10001", service_id: "1000", name: "Dinner", price: { price_micros: "25000000", currency_code: "EUR" } },
      {
        merchant_id: "10002",
        service_id: "1000",
        localized_service_name: { value: "Cena" },
        price: { price_micros: 30000000, currency_code: "EUR" },
      },
    ],
  });

/** The seed document's "async and sync" availability example. */
const seedAvailability = {
  availability: [
    {
      merchant_id: "10001",
      service_id: "1000",
      spots_open: 3,
      spots_total: 3,
      duration_sec: 3600,
      start_sec: 1535806800,
      resources: { party_size: 4 },
      confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS",
    },
    {
      merchant_id: "10002",
      service_id: "1000",
      spots_open: 4,
      spots_total: 4,
      duration_sec: 3600,
      start_sec: 1535806800,
      resources: { party_size: 2 },
      confirmation_mode: "CONFIRMATION_MODE_ASYNCHRONOUS",
    },
  ],
};

function slotsAt(merchantId: string, serviceId: string, startSec: number, more: Partial<SlotQuery> = {}) {
  return store.read.inventory.findSlots(
    { merchantId, serviceId, startSec, durationSec: 0, staffId: "", roomId: "", partySize: 0, ...more },
    10,
  );
}

function counts(inserted: number, updated = 0, unchanged = 0) {
  return { inserted, updated, unchanged };
}

/** Runs the import expecting a FeedError, and returns it. */
async function importError(files: string[]): Promise<FeedError> {
  const error = await importFeeds(store, files).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FeedError);
  return error as FeedError;
}

describe("importFeeds", () => {
  test("imports merchant and service feeds and the seeds' {availability: [...]} shape", async () => {
    const report = await importFeeds(store, [merchantFeed(), serviceFeed(), feed("availability.json", seedAvailability)]);

    expect(report).toEqual<ImportReport>({
      files: 3,
      merchants: counts(2),
      services: counts(2),
      slots: counts(2),
      offers: counts(0),
    });
    expect(await store.read.inventory.hasMerchant("10001")).toBe(true);
    expect(await store.read.inventory.hasService("10002", "1000")).toBe(true);

    const [sync] = await slotsAt("10001", "1000", 1535806800);
    expect(sync).toMatchObject({
      merchantId: "10001",
      serviceId: "1000",
      startSec: 1535806800,
      durationSec: 3600,
      staffId: "",
      roomId: "",
      partySize: 4,
      spotsTotal: 3,
      spotsOpen: 3,
      availabilityTag: "",
      confirmationMode: ConfirmationMode.SYNCHRONOUS,
      durationRequirement: 0,
    });
    const asyncSlots = await slotsAt("10002", "1000", 1535806800);
    expect(asyncSlots).toHaveLength(1);
    expect(asyncSlots[0]).toMatchObject({ partySize: 2, spotsTotal: 4, spotsOpen: 4, confirmationMode: ConfirmationMode.ASYNCHRONOUS });
  });

  test("imports the {service_availability: [{availability: [...]}]} shape, with defaults and int64 strings", async () => {
    const availability = feed("availability.json", {
      metadata,
      service_availability: [
        {
          start_time_restrict: 1900000000,
          availability: [
            // No spots fields: one spot, open.
            { merchant_id: "10001", service_id: "1000", start_sec: 1900000000, duration_sec: 1800 },
            {
              merchant_id: "10001",
              service_id: "1000",
              start_sec: "1900003600",
              duration_sec: "2700",
              spots_total: "5",
              spots_open: "2",
              availability_tag: "tag-7",
              resources: { staff_id: "anna", staff_name: "Anna", room_id: "r1", party_size: 3 },
              confirmation_mode: 2,
              duration_requirement: "MUST_SHOW_DURATION",
              deposit: { deposit: { price_micros: "5000000", currency_code: "EUR" }, deposit_type: "FIXED_RATE_DEFAULT" },
            },
          ],
        },
        { availability: [] },
        {
          availability: [
            { merchant_id: "10002", service_id: "1000", start_sec: 1900000000, duration_sec: 3600, spots_total: 0 },
          ],
        },
      ],
    });

    const report = await importFeeds(store, [merchantFeed(), serviceFeed(), availability]);

    expect(report.slots).toEqual(counts(3));
    expect((await slotsAt("10001", "1000", 1900000000))[0]).toMatchObject({
      durationSec: 1800,
      spotsTotal: 1,
      spotsOpen: 1,
      confirmationMode: ConfirmationMode.UNSPECIFIED,
    });
    expect((await slotsAt("10001", "1000", 1900003600, { staffId: "anna", roomId: "r1", partySize: 3 }))[0]).toMatchObject({
      durationSec: 2700,
      spotsTotal: 5,
      spotsOpen: 2,
      availabilityTag: "tag-7",
      confirmationMode: ConfirmationMode.ASYNCHRONOUS,
      durationRequirement: 2,
    });
    expect((await slotsAt("10002", "1000", 1900000000))[0]).toMatchObject({ spotsTotal: 0, spotsOpen: 0 });
  });

  test("re-importing the same feeds reports everything unchanged and changes nothing", async () => {
    const files = [merchantFeed(), serviceFeed(), feed("availability.json", seedAvailability)];
    await importFeeds(store, files);
    const before = await slotsAt("10001", "1000", 1535806800);

    const again = await importFeeds(store, files);

    expect(again).toEqual<ImportReport>({
      files: 3,
      merchants: counts(0, 0, 2),
      services: counts(0, 0, 2),
      slots: counts(0, 0, 2),
      offers: counts(0),
    });
    expect(await slotsAt("10001", "1000", 1535806800)).toEqual(before);
  });

  test("a changed record is reported as updated", async () => {
    await importFeeds(store, [merchantFeed(), serviceFeed(), feed("availability.json", seedAvailability)]);
    const changed = structuredClone(seedAvailability);
    changed.availability[0].spots_open = 1;

    const report = await importFeeds(store, [feed("availability-2.json", changed)]);

    expect(report.slots).toEqual(counts(0, 1, 1));
    expect((await slotsAt("10001", "1000", 1535806800))[0]).toMatchObject({ spotsTotal: 3, spotsOpen: 1 });
  });

  test("feeds given in reverse order still import (merchants, then services, offers, availability)", async () => {
    const offers = feed("offers.json", {
      offer: [
        { offer_id: "happy-hour", merchant_id: "10001", service_id: "1000" },
        { offer_id: "all-week", merchant_id: "10002" },
      ],
    });

    const report = await importFeeds(store, [feed("availability.json", seedAvailability), offers, serviceFeed(), merchantFeed()]);

    expect(report).toEqual<ImportReport>({
      files: 4,
      merchants: counts(2),
      services: counts(2),
      slots: counts(2),
      offers: counts(2),
    });
    expect(await store.read.inventory.hasOffer("10001", "1000", "happy-hour")).toBe(true);
    expect(await store.read.inventory.hasOffer("10002", "1000", "all-week")).toBe(true);
  });

  test("merchants and services already in the database satisfy later feeds", async () => {
    await importFeeds(store, [merchantFeed(), serviceFeed()]);

    const report = await importFeeds(store, [feed("availability.json", seedAvailability)]);

    expect(report.slots).toEqual(counts(2));
  });

  describe("a malformed record rejects the whole import", () => {
    const good = seedAvailability.availability[0];
    const cases: [string, Record<string, unknown>, string, string][] = [
      ["a bad start_sec", { ...good, start_sec: "abc" }, "start_sec", 'must be a positive integer, got "abc"'],
      ["a fractional duration_sec", { ...good, duration_sec: 1.5 }, "duration_sec", "must be a positive integer, got 1.5"],
      [
        "an unknown confirmation_mode",
        { ...good, confirmation_mode: "CONFIRMATION_MODE_EVENTUALLY" },
        "confirmation_mode",
        'unknown ConfirmationMode value "CONFIRMATION_MODE_EVENTUALLY"',
      ],
      ["spots_open > spots_total", { ...good, spots_open: 4, spots_total: 3 }, "spots_open", "must be between 0 and spots_total (3), got 4"],
      [
        "an unknown service",
        { ...good, service_id: "9999" },
        "service_id",
        'unknown service "9999" of merchant "10001": neither in the database nor in a service feed of this import',
      ],
      ["an unknown merchant", { ...good, merchant_id: "nobody" }, "merchant_id", 'unknown merchant "nobody"'],
      ["a negative party size", { ...good, resources: { party_size: -1 } }, "resources.party_size", "must be a non-negative 32-bit integer"],
      [
        "a recurrence for a service whose slots were listed with spots",
        { ...good, start_sec: 1600000000, spots_open: undefined, spots_total: undefined, recurrence: { repeat_every_sec: 3600, repeat_until_sec: 1600010000 } },
        "recurrence",
        'service "1000" of merchant "10001" mixes formats: record 0 gives its slots one by one with their spots, this one with a recurrence',
      ],
      [
        "a recurrence that would make millions of slots",
        { ...good, start_sec: 1600000000, spots_open: undefined, spots_total: undefined, recurrence: { repeat_every_sec: 1, repeat_until_sec: 1700000000 } },
        "recurrence",
        "would make 100000001 slots from one record (every 1 s until 1700000000), more than the 10000 one record may describe",
      ],
      [
        "a schedule_exception without a recurrence",
        { ...good, schedule_exception: [{ time_range: { begin_sec: 1600000000, end_sec: 1600003600 } }] },
        "schedule_exception",
        "is only read with a recurrence",
      ],
    ];

    test.each(cases)("%s", async (_name, badRecord, field, detail) => {
      const availability = feed("availability.json", {
        availability: [{ ...good, start_sec: 1600000000 }, { ...good, start_sec: 1600003600 }, badRecord],
      });

      const error = await importError([merchantFeed(), serviceFeed(), availability]);

      expect(error.file).toBe(availability);
      expect(error.recordIndex).toBe(2);
      expect(error.field).toBe(field);
      expect(error.message).toContain(`${availability}: record 2: field "${field}": ${detail}`);
      // Nothing of the import was kept: not the merchants, not the valid slots before the bad one.
      expect(await store.read.inventory.hasMerchant("10001")).toBe(false);
      expect(await slotsAt("10001", "1000", 1600000000)).toEqual([]);
    });

    test("the error message has the documented shape", async () => {
      const availability = feed("availability.json", { availability: [{ ...good, start_sec: "abc" }] });

      const error = await importError([merchantFeed(), serviceFeed(), availability]);

      expect(error.message).toBe(`${availability}: record 0: field "start_sec": must be a positive integer, got "abc"`);
    });

    test("a service of an unknown merchant", async () => {
      const services = feed("services.json", {
        service: [{ merchant_id: "10001", service_id: "1000", name: "Dinner" }, { merchant_id: "10003", service_id: "1", name: "X" }],
      });

      const error = await importError([merchantFeed(), services]);

      expect(error.message).toContain(`${services}: record 1: field "merchant_id": unknown merchant "10003"`);
      expect(await store.read.inventory.hasService("10001", "1000")).toBe(false);
    });

    test("an offer for an unknown service", async () => {
      const offers = feed("offers.json", { offer: [{ offer_id: "o1", merchant_id: "10001", service_id: "2000" }] });

      const error = await importError([merchantFeed(), serviceFeed(), offers]);

      expect(error.message).toContain(`${offers}: record 0: field "service_id": unknown service "2000"`);
    });

    test("a bad price in the service feed", async () => {
      const services = feed("services.json", {
        service: [{ merchant_id: "10001", service_id: "1000", price: { price_micros: "12.5", currency_code: "EUR" } }],
      });

      const error = await importError([merchantFeed(), services]);

      expect(error.message).toContain(`${services}: record 0: field "price.price_micros": must be an int64`);
    });

    test("a bad record in the service_availability shape is counted across its availability lists", async () => {
      const availability = feed("availability.json", {
        service_availability: [{ availability: [good] }, { availability: [good, { ...good, spots_open: -1 }] }],
      });

      const error = await importError([merchantFeed(), serviceFeed(), availability]);

      expect(error.recordIndex).toBe(2);
      expect(error.field).toBe("spots_open");
    });
  });

  test("invalid JSON is rejected with the file name and the parser's message", async () => {
    const broken = feed("availability.json", '{"availability": [\n  {"merchant_id": "10001",, "service_id": "1000"}\n]}');

    const error = await importError([merchantFeed(), serviceFeed(), broken]);

    expect(error.file).toBe(broken);
    expect(error.recordIndex).toBeNull();
    expect(error.message).toMatch(new RegExp(`^${escapeRegExp(broken)}: invalid JSON: Parser cannot parse input`));
    expect(await store.read.inventory.hasMerchant("10001")).toBe(false);
  });

  test("a truncated file is rejected after the records read so far, and nothing is kept", async () => {
    const text = JSON.stringify(seedAvailability, null, 2);
    const truncated = feed("availability.json", text.slice(0, text.lastIndexOf("}") - 10));

    const error = await importError([merchantFeed(), serviceFeed(), truncated]);

    expect(error.message).toContain(`${truncated}: invalid JSON`);
    expect(error.message).toContain("(after record 0)");
    expect(await slotsAt("10001", "1000", 1535806800)).toEqual([]);
  });

  test("a file without a known feed key is rejected", async () => {
    const unknown = feed("slots.json", { metadata, slots: [seedAvailability.availability[0]] });

    const error = await importError([merchantFeed(), unknown]);

    expect(error.file).toBe(unknown);
    expect(error.message).toBe(
      `${unknown}: not a feed: no top-level "merchant", "service", "offer", "availability", "service_availability" key`,
    );
    expect(await store.read.inventory.hasMerchant("10001")).toBe(false);
  });

  test("a top level that is not an object is rejected", async () => {
    const list = feed("list.json", seedAvailability.availability);

    const error = await importError([list]);

    expect(error.message).toBe(`${list}: the top level must be a JSON object`);
  });

  test("a feed key whose value is not an array is rejected", async () => {
    const notArray = feed("merchants.json", { merchant: { merchant_id: "10001" } });

    const error = await importError([notArray]);

    expect(error.message).toBe(`${notArray}: "merchant" must be an array`);
  });

  test("a file holding two kinds of feed is rejected", async () => {
    const mixed = feed("mixed.json", { merchant: [{ merchant_id: "1", name: "A" }], service: [] });

    const error = await importError([mixed]);

    expect(error.message).toContain('has both "merchant" and "service" keys');
  });

  test("a missing file is rejected with its name", async () => {
    const missing = join(dir, "nope.json");

    const error = await importError([merchantFeed(), missing]);

    expect(error.file).toBe(missing);
    expect(error.message).toContain(`${missing}: cannot read file`);
  });

  test("the demo feeds in examples/feeds import cleanly", async () => {
    const examples = ["availability.json", "services.json", "merchants.json"].map((name) =>
      join(repoRoot, "examples", "feeds", name),
    );

    const report = await importFeeds(store, examples);

    expect(report.merchants).toEqual(counts(2));
    expect(report.services).toEqual(counts(2));
    // 396 days (2026-12-01 .. 2027-12-31) x (6 dinner + 18 haircut slots).
    expect(report.slots).toEqual(counts(396 * 24));
    const dinnerAt20 = Date.UTC(2027, 0, 15, 20) / 1000;
    expect((await slotsAt("demo-restaurant", "dinner", dinnerAt20, { partySize: 4 }))[0]).toMatchObject({
      confirmationMode: ConfirmationMode.ASYNCHRONOUS,
      durationRequirement: 1,
    });
    const haircut = await slotsAt("demo-salon", "haircut", Date.UTC(2027, 11, 31, 17) / 1000);
    expect(haircut.map((slot) => slot.staffId).sort()).toEqual(["anna", "ben"]);
    expect(haircut[0]).toMatchObject({ durationSec: 2700, spotsTotal: 1, confirmationMode: ConfirmationMode.SYNCHRONOUS });
  });
});

describe("an import into a database in use", () => {
  /** Every row of the schema and of the inventory tables, read by another connection (what a server would see). */
  function liveSnapshot() {
    const reader = new Database(dbPath, { readonly: true });
    try {
      return Object.fromEntries(
        ["sqlite_master", "merchants", "services", "offers", "slots"].map((table) => [
          table,
          reader.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all(),
        ]),
      );
    } finally {
      reader.close();
    }
  }

  const good = seedAvailability.availability[0];
  const manySlots = Array.from({ length: 5 * recordsPerChunk + 500 }, (_, i) => ({ ...good, start_sec: 1600000000 + i * 3600 }));

  test("whose last record is invalid, after thousands were staged, leaves the live tables exactly as they were and nothing staged", async () => {
    await importFeeds(store, [merchantFeed(), serviceFeed(), feed("availability.json", seedAvailability)]);
    const [booked] = await slotsAt("10001", "1000", 1535806800);
    await store.transaction(async (tx) => tx.inventory.takeSpot(booked.slotId));
    const before = liveSnapshot();
    const merchants = feed("merchants-2.json", { merchant: [{ merchant_id: "10001", name: "Renamed" }, { merchant_id: "10003", name: "New" }] });
    const services = feed("services-2.json", { service: [{ merchant_id: "10003", service_id: "1000", name: "Dinner" }] });

    const error = await importError([
      merchants,
      services,
      feed("availability-2.json", { availability: [...manySlots, { ...good, start_sec: "abc" }] }),
    ]);

    expect(error.recordIndex).toBe(manySlots.length);
    expect(liveSnapshot()).toEqual(before);
    // Nothing of the failed import stayed staged: the same records without the bad one count against the live tables alone.
    const report = await importFeeds(store, [merchants, services, feed("availability-3.json", { availability: manySlots })]);
    expect(report).toEqual<ImportReport>({
      files: 3,
      merchants: counts(1, 1),
      services: counts(1),
      slots: counts(manySlots.length),
      offers: counts(0),
    });
  });

  test("keeps the spots booked here: spots_open counts what was sold elsewhere, and spots held here stay held", async () => {
    await importFeeds(store, [merchantFeed(), serviceFeed(), feed("availability.json", seedAvailability)]);
    const [slot] = await slotsAt("10001", "1000", 1535806800);
    expect(slot).toMatchObject({ spotsTotal: 3, spotsOpen: 3 });
    await store.transaction(async (tx) => tx.inventory.takeSpot(slot.slotId));
    const oneSoldElsewhere = structuredClone(seedAvailability);
    oneSoldElsewhere.availability[0].spots_open = 2;

    const report = await importFeeds(store, [feed("availability-2.json", oneSoldElsewhere)]);

    expect(report.slots).toEqual(counts(0, 1, 1));
    expect((await slotsAt("10001", "1000", 1535806800))[0]).toMatchObject({ slotId: slot.slotId, spotsTotal: 3, spotsOpen: 1 });
  });

  test("counts a record repeated in one import against the one before it, as record-by-record upserts did", async () => {
    await importFeeds(store, [merchantFeed(), serviceFeed()]);
    const availability = feed("availability.json", {
      availability: [good, good, { ...good, spots_open: 1 }, good],
    });

    const report = await importFeeds(store, [availability]);

    expect(report.slots).toEqual(counts(1, 2, 1));
    expect(await slotsAt("10001", "1000", good.start_sec)).toHaveLength(1);
    expect((await slotsAt("10001", "1000", good.start_sec))[0]).toMatchObject({ spotsTotal: 3, spotsOpen: 3 });
  });

  test("reports how long it locked the live tables, and a re-import that changes nothing writes nothing", async () => {
    const files = [merchantFeed(), serviceFeed(), feed("availability.json", { availability: manySlots })];
    await importFeeds(store, files);
    const before = liveSnapshot();
    const lockHeldMs: number[] = [];

    const again = await importFeeds(store, files, { onApplied: (ms) => lockHeldMs.push(ms) });

    expect(again.slots).toEqual(counts(0, 0, manySlots.length));
    expect(lockHeldMs).toHaveLength(1);
    expect(liveSnapshot()).toEqual(before);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
