import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { exportFeeds, type ExportReport } from "../../src/inventory/feed-export.js";
import { importFeeds } from "../../src/inventory/feed-import.js";
import type { SlotFeedState, Store } from "../../src/store/repositories.js";
import { runCli } from "../support/server-process";
import { rest, startTestServer, type TestServer } from "../support/test-server";

/**
 * `exportFeeds` against real servers: what one server's inventory exports,
 * imported into a fresh database behind a second server, answers every
 * BatchAvailabilityLookup the same, spots taken by bookings included.
 */

const repoRoot = join(__dirname, "..", "..");
const demoFeeds = ["merchants.json", "services.json", "availability.json"].map((name) => join(repoRoot, "examples", "feeds", name));

// The benchmark's feed generator (CommonJS): 1,000 slots per merchant.
const { generateFeeds } = require("../../bench/generate-feeds.js") as {
  generateFeeds: (dir: string, options: { merchants: number }) => { files: string[]; slots: number };
};

let dir: string;
let servers: TestServer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "feed-export-"));
});

afterEach(async () => {
  for (const server of servers) await server.close();
  servers = [];
  rmSync(dir, { recursive: true, force: true });
});

async function server(): Promise<TestServer> {
  const started = await startTestServer();
  servers.push(started);
  return started;
}

async function allSlots(store: Store): Promise<SlotFeedState[]> {
  const slots: SlotFeedState[] = [];
  for (let page = await store.read.inventory.slotFeedsAfter(0, 5000); page.length > 0; page = await store.read.inventory.slotFeedsAfter(page.at(-1)!.slotId, 5000)) {
    slots.push(...page);
  }
  return slots;
}

/** BatchAvailabilityLookup of every given slot, per merchant, 500 slot times a request: the answers in order. */
async function lookups(target: TestServer, slots: SlotFeedState[]): Promise<unknown[]> {
  const answers: unknown[] = [];
  const byMerchant = new Map<string, SlotFeedState[]>();
  for (const slot of slots) {
    const ofMerchant = byMerchant.get(slot.merchantId);
    if (ofMerchant) ofMerchant.push(slot);
    else byMerchant.set(slot.merchantId, [slot]);
  }
  for (const [merchantId, ofMerchant] of byMerchant) {
    for (let i = 0; i < ofMerchant.length; i += 500) {
      const slotTime = ofMerchant.slice(i, i + 500).map((slot) => ({
        service_id: slot.serviceId,
        start_sec: String(slot.startSec),
        duration_sec: String(slot.durationSec),
        resource_ids: { staff_id: slot.staffId, room_id: slot.roomId, party_size: slot.partySize },
      }));
      const answer = await rest(target, "BatchAvailabilityLookup", { merchant_id: merchantId, slot_time: slotTime });
      expect(answer.status).toBe(200);
      answers.push(...answer.body.slot_time_availability);
    }
  }
  return answers;
}

/** Takes `count` spots of every `every`-th slot, as bookings and leases do. */
async function takeSpots(store: Store, slots: SlotFeedState[], every: number, count: number): Promise<void> {
  await store.transaction(async (tx) => {
    for (let i = 0; i < slots.length; i += every) {
      for (let n = 0; n < count; n++) await tx.inventory.takeSpot(slots[i].slotId);
    }
  });
}

function readFeed(path: string): any {
  const bytes = readFileSync(path);
  return JSON.parse((path.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString("utf8"));
}

describe("exportFeeds", () => {
  test("when the demo inventory with booked spots is exported and imported into a fresh database, then every lookup answers the same", async () => {
    const live = await server();
    await importFeeds(live.store, demoFeeds);
    const slots = await allSlots(live.store);
    // Every 7th slot loses a spot, every 11th all of its spots (4 is the demo's largest table count).
    await takeSpots(live.store, slots, 7, 1);
    await takeSpots(live.store, slots, 11, 4);
    const out = join(dir, "out");
    mkdirSync(out);

    const report = await exportFeeds(live.store, out, { clock: { nowSec: () => 1800000000 } });

    expect(report.files.map((file) => [file.path.slice(out.length + 1), file.records])).toEqual([
      ["merchant_1800000000_1of1.json", report.merchants],
      ["service_1800000000_1of1.json", report.services],
      ["availability_1800000000_1of1.json", slots.length],
    ]);
    const availability = readFeed(report.files[2].path);
    expect(availability.metadata).toEqual({
      processing_instruction: "PROCESS_AS_COMPLETE",
      shard_number: 0,
      total_shards: 1,
      nonce: expect.any(Number),
      generation_timestamp: 1800000000,
    });
    expect(availability.service_availability).toHaveLength(1);
    expect(availability.service_availability[0]).not.toHaveProperty("start_time_restrict");

    const copy = await server();
    const imported = await importFeeds(copy.store, report.files.map((file) => file.path));
    expect(imported.slots.inserted).toBe(slots.length);
    const before = await lookups(live, slots);
    expect(before.filter((answer: any) => !answer.available).length).toBeGreaterThan(0);
    expect(await lookups(copy, slots)).toEqual(before);
  });

  test("when a feed is larger than a shard, then it is split into gzipped shards with one nonce that import reads back whole", async () => {
    const live = await server();
    await importFeeds(live.store, demoFeeds);
    const out = join(dir, "out");
    mkdirSync(out);

    const report = await exportFeeds(live.store, out, { gzip: true, recordsPerShard: 4000 });

    const shards = report.files.filter((file) => file.feed === "availability");
    expect(shards.map((file) => file.records)).toEqual([4000, 4000, report.slots - 8000]);
    const metadata = shards.map((file) => readFeed(file.path).metadata);
    expect(metadata.map((m) => [m.shard_number, m.total_shards])).toEqual([[0, 3], [1, 3], [2, 3]]);
    expect(new Set(metadata.map((m) => m.nonce)).size).toBe(1);
    for (const file of report.files) expect(readFileSync(file.path).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    // Nothing half-written is left beside the feeds.
    expect(readdirSync(out).filter((name) => name.endsWith(".partial"))).toEqual([]);

    const copy = await server();
    const imported = await importFeeds(copy.store, report.files.map((file) => file.path));
    expect(imported.slots.inserted).toBe(report.slots);
    expect(await allSlots(copy.store)).toHaveLength(report.slots);
  });

  test("when the directory already holds this export's files, then the export is refused and leaves them as they were", async () => {
    const live = await server();
    await importFeeds(live.store, demoFeeds);
    const clock = { nowSec: () => 1800000000 };
    const first = await exportFeeds(live.store, dir, { clock });
    const merchants = readFileSync(first.files[0].path, "utf8");

    await expect(exportFeeds(live.store, dir, { clock })).rejects.toThrow(/merchant_1800000000_1of1\.json exists already/);

    expect(readFileSync(first.files[0].path, "utf8")).toBe(merchants);
  });

  test("when a generated 100,000-slot inventory goes through export and import, then every lookup answers the same", async () => {
    const feeds = join(dir, "feeds");
    mkdirSync(feeds);
    const { files, slots: generated } = generateFeeds(feeds, { merchants: 100 });
    const live = await server();
    await importFeeds(live.store, files);
    const slots = await allSlots(live.store);
    expect(slots).toHaveLength(generated);
    await takeSpots(live.store, slots, 3, 1);
    const out = join(dir, "out");
    mkdirSync(out);

    const exportStarted = performance.now();
    const report: ExportReport = await exportFeeds(live.store, out, { gzip: true });
    const exportMs = performance.now() - exportStarted;
    const copy = await server();
    const importStarted = performance.now();
    await importFeeds(copy.store, report.files.map((file) => file.path));
    const importMs = performance.now() - importStarted;

    expect(await lookups(copy, slots)).toEqual(await lookups(live, slots));
    // Reported, not asserted.
    console.log(
      `100k-slot round trip: export ${Math.round(exportMs)} ms, import ${Math.round(importMs)} ms; files ` +
        report.files.map((file) => `${file.path.slice(out.length + 1)} ${file.bytes} B`).join(", "),
    );
  }, 180_000);

  test("when bin/booking-server export-feeds runs on an imported database, then it writes the gzipped feeds and lists them", () => {
    const dbPath = join(dir, "booking.db");
    expect(runCli(["import", "--db", dbPath, ...demoFeeds]).status).toBe(0);
    const out = join(dir, "feeds-out");

    const exported = runCli(["export-feeds", "--db", dbPath, "--out", out, "--gzip"]);

    expect(exported.stderr).toBe("");
    expect(exported.status).toBe(0);
    expect(exported.stdout).toMatch(/^exported 2 merchant\(s\), 2 service\(s\) and \d+ slot\(s\) from /);
    expect(readdirSync(out).sort()).toEqual([
      expect.stringMatching(/^availability_\d+_1of1\.json\.gz$/),
      expect.stringMatching(/^merchant_\d+_1of1\.json\.gz$/),
      expect.stringMatching(/^service_\d+_1of1\.json\.gz$/),
    ]);
  });

  test("when export-feeds is given no --out or a missing database, then it says so and writes nothing", () => {
    const noOut = runCli(["export-feeds", "--db", join(dir, "booking.db")]);
    const noDb = runCli(["export-feeds", "--db", join(dir, "missing.db"), "--out", join(dir, "out")]);

    expect([noOut.status, noOut.stderr.trim()]).toEqual([2, "booking-server: export-feeds needs --out DIR: the directory the feed files are written to"]);
    expect([noDb.status, noDb.stderr.trim()]).toEqual([2, `booking-server: no database at ${join(dir, "missing.db")}: point --db or BOOKING_DB at the existing file`]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
