import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { FeedError, importFeeds } from "../../src/inventory/feed-import.js";
import type { Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";

/**
 * Google's compressed availability (recurrence, schedule_exception) and
 * gzipped feed files, imported into a real SQLite file and read back as the
 * booking server reads slots.
 */

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "feed-recurrence-"));
  store = openSqliteStore(join(dir, "booking.sqlite"));
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function feed(name: string, content: unknown, options: { gzip?: boolean } = {}): string {
  const file = join(dir, name);
  const text = typeof content === "string" ? content : JSON.stringify(content);
  writeFileSync(file, options.gzip ? gzipSync(text) : text);
  return file;
}

const nine = Date.UTC(2027, 0, 15, 9) / 1000;
const minutes = (n: number) => n * 60;

const inventory = () => [
  feed("merchants.json", { merchant: [{ merchant_id: "m1", name: "Salon" }] }),
  feed("services.json", { service: [{ merchant_id: "m1", service_id: "cut", name: "Cut" }] }),
];

/** Google's example: 20-minute slots every 30 minutes from 9:00 until 11:00 (inclusive), none 9:45-11:00. */
const googleExample = {
  merchant_id: "m1",
  service_id: "cut",
  start_sec: nine,
  duration_sec: minutes(20),
  recurrence: { repeat_every_sec: minutes(30), repeat_until_sec: nine + minutes(120) },
  schedule_exception: [{ time_range: { begin_sec: nine + minutes(45), end_sec: nine + minutes(120) } }],
};

/** Every slot of the service that day, as [minutes after 9:00, duration in minutes, total, open]. */
async function slotsOfTheDay(): Promise<number[][]> {
  const slots = await store.read.inventory.slotsStartingBetween("m1", "cut", nine, nine + minutes(24 * 60));
  const records = await Promise.all(
    slots.map(async ({ merchantId, serviceId, startSec, durationSec, staffId, roomId, partySize }) => {
      const [record] = await store.read.inventory.findSlots({ merchantId, serviceId, startSec, durationSec, staffId, roomId, partySize }, 1);
      return record;
    }),
  );
  return records.map((slot) => [(slot.startSec - nine) / 60, slot.durationSec / 60, slot.spotsTotal, slot.spotsOpen]);
}

async function importError(files: string[]): Promise<FeedError> {
  const error = await importFeeds(store, files).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FeedError);
  return error as FeedError;
}

describe("recurrence and schedule_exception", () => {
  test("when Google's example is imported, then 9:30, 10:00 and 10:30 are closed and 9:00 and 11:00 are open", async () => {
    const report = await importFeeds(store, [...inventory(), feed("availability.json", { availability: [googleExample] })]);

    expect(report.slots).toEqual({ inserted: 5, updated: 0, unchanged: 0 });
    expect(await slotsOfTheDay()).toEqual([
      [0, 20, 1, 1],
      [30, 20, 1, 0],
      [60, 20, 1, 0],
      [90, 20, 1, 0],
      [120, 20, 1, 1],
    ]);
  });

  test("when a recurrence has several exceptions and a last start short of repeat_until_sec, then only the slots overlapping them close", async () => {
    const record = {
      merchant_id: "m1",
      service_id: "cut",
      start_sec: nine,
      duration_sec: minutes(60),
      // Hourly until 13:30: the last start is 13:00.
      recurrence: { repeat_every_sec: minutes(60), repeat_until_sec: nine + minutes(270) },
      schedule_exception: [
        // Ends where the 10:00 slot starts: it touches, does not overlap.
        { time_range: { begin_sec: nine + minutes(50), end_sec: nine + minutes(60) } },
        // One second into the 12:00 slot.
        { time_range: { begin_sec: nine + minutes(180) - 1, end_sec: nine + minutes(180) + 1 } },
      ],
      resources: { party_size: 2 },
    };

    await importFeeds(store, [...inventory(), feed("availability.json", { service_availability: [{ availability: [record] }] })]);

    expect(await slotsOfTheDay()).toEqual([
      [0, 60, 1, 0],
      [60, 60, 1, 1],
      [120, 60, 1, 0],
      [180, 60, 1, 0],
      [240, 60, 1, 1],
    ]);
    const [tenOClock] = await store.read.inventory.findSlots(
      { merchantId: "m1", serviceId: "cut", startSec: nine + minutes(60), durationSec: 0, staffId: "", roomId: "", partySize: 2 },
      1,
    );
    expect(tenOClock.partySize).toBe(2);
  });

  test("when a later feed adds an exception over an open slot, then re-importing closes it and reports only that slot updated", async () => {
    const { schedule_exception: _none, ...withoutExceptions } = googleExample;
    await importFeeds(store, [...inventory(), feed("availability.json", { availability: [withoutExceptions] })]);
    expect((await slotsOfTheDay()).map((slot) => slot[3])).toEqual([1, 1, 1, 1, 1]);

    const closing = { ...withoutExceptions, schedule_exception: [{ time_range: { begin_sec: nine + minutes(60), end_sec: nine + minutes(61) } }] };
    const report = await importFeeds(store, [feed("availability-2.json", { availability: [closing] })]);

    expect(report.slots).toEqual({ inserted: 0, updated: 1, unchanged: 4 });
    expect((await slotsOfTheDay()).map((slot) => slot[3])).toEqual([1, 1, 0, 1, 1]);
  });

  test("when a recurrence record gives spots other than one, then the import is refused naming the field", async () => {
    const availability = feed("availability.json", { availability: [{ ...googleExample, spots_total: 4 }] });

    const error = await importError([...inventory(), availability]);

    expect(error.message).toContain(`${availability}: record 0: field "spots_total": must be 1 or absent with a recurrence`);
    expect(await store.read.inventory.hasMerchant("m1")).toBe(false);
  });

  test("when an exception ends before it begins, then the import is refused naming the exception", async () => {
    const availability = feed("availability.json", {
      availability: [{ ...googleExample, schedule_exception: [{ time_range: { begin_sec: nine, end_sec: nine + 60 } }, { time_range: { begin_sec: nine, end_sec: nine } }] }],
    });

    const error = await importError([...inventory(), availability]);

    expect(error.message).toContain(`record 0: field "schedule_exception[1].time_range.end_sec": must be after begin_sec (${nine}), got ${nine}`);
  });

  test("when a recurrence ends before it starts or has no step, then the import is refused naming the field", async () => {
    const ending = feed("ending.json", { availability: [{ ...googleExample, recurrence: { repeat_every_sec: 60, repeat_until_sec: nine - 1 } }] });
    const stepless = feed("stepless.json", { availability: [{ ...googleExample, recurrence: { repeat_until_sec: nine + 600 } }] });

    expect((await importError([...inventory(), ending])).message).toContain(`field "recurrence.repeat_until_sec": must not be before start_sec (${nine})`);
    expect((await importError([...inventory(), stepless])).message).toContain('field "recurrence.repeat_every_sec": is required');
  });

  test("when one file gives a service's slots with a recurrence and another lists them, then the import is refused naming both records", async () => {
    const recurring = feed("recurring.json", { availability: [googleExample] });
    const listed = feed("listed.json", { availability: [{ merchant_id: "m1", service_id: "cut", start_sec: nine + 3 * 3600, duration_sec: 1200, spots_total: 2 }] });

    const error = await importError([...inventory(), recurring, listed]);

    expect(error.file).toBe(listed);
    expect(error.message).toContain(`record 0 of ${recurring} gives its slots with a recurrence, this one one by one with its spots`);
    expect(await store.read.inventory.hasService("m1", "cut")).toBe(false);
  });

  test("when a recurrence fills several chunks, then every slot is imported and counted", async () => {
    // 2,500 one-minute slots from one record: more than two chunks of staged records.
    const record = { ...googleExample, duration_sec: 60, recurrence: { repeat_every_sec: 60, repeat_until_sec: nine + 2499 * 60 }, schedule_exception: [] };

    const report = await importFeeds(store, [...inventory(), feed("availability.json", { availability: [record] })]);

    expect(report.slots.inserted).toBe(2500);
    expect(await store.read.inventory.slotsStartingBetween("m1", "cut", nine, nine + 2500 * 60)).toHaveLength(2500);
  });
});

describe("gzipped feed files", () => {
  test("when every feed is gzipped (whatever its name), then the import reads them as the plain files", async () => {
    const files = [
      feed("merchants.json", { merchant: [{ merchant_id: "m1", name: "Salon" }] }, { gzip: true }),
      feed("services.json.gz", { service: [{ merchant_id: "m1", service_id: "cut", name: "Cut" }] }, { gzip: true }),
      feed("availability.data", { availability: [googleExample] }, { gzip: true }),
    ];

    const report = await importFeeds(store, files);

    expect(report.merchants.inserted).toBe(1);
    expect(report.services.inserted).toBe(1);
    expect((await slotsOfTheDay()).map((slot) => slot[3])).toEqual([1, 0, 0, 0, 1]);
  });

  test("when a plain file is named .gz, then it is read as plain JSON", async () => {
    const report = await importFeeds(store, [feed("merchants.json.gz", { merchant: [{ merchant_id: "m1", name: "Salon" }] })]);

    expect(report.merchants.inserted).toBe(1);
  });

  test("when a gzip file is cut short, then the import is refused with the file named and nothing kept", async () => {
    const whole = gzipSync(JSON.stringify({ merchant: [{ merchant_id: "m1", name: "Salon" }, { merchant_id: "m2", name: "Barber" }] }));
    const file = join(dir, "merchants.json.gz");
    writeFileSync(file, whole.subarray(0, whole.length - 12));

    const error = await importError([file]);

    expect(error.file).toBe(file);
    expect(error.message).toMatch(new RegExp(`^${file}: cannot decompress the gzip file: `));
    expect(await store.read.inventory.hasMerchant("m1")).toBe(false);
  });
});
