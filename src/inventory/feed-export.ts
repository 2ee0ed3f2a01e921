import { randomInt } from "node:crypto";
import { join } from "node:path";
import { systemClock, type Clock } from "../clock.js";
import { FeedFileWriter } from "../feeds/feed-file-writer.js";
import type { InventoryReads, SlotFeedState, Store, StoredFeedRecord } from "../store/repositories.js";

/**
 * Writes the live inventory as the feeds Google ingests (merchant, service
 * and availability feeds; "Availability feed" and "Structuring availability in
 * feeds" in Google's Actions Center reference): JSON with the proto field
 * names the import reads, each file with its `FeedMetadata`
 * (`PROCESS_AS_COMPLETE`, the shard's number and the feed's count of shards,
 * one nonce per feed, the generation time), the availability as one
 * `service_availability` without restrict fields (a complete snapshot, what
 * Google asks of the daily feed).
 *
 * Each slot states its spots as they stand now: `spots_open` is what
 * BatchAvailabilityLookup answers (bookings, leases and walk-ins taken off),
 * so importing the export into a fresh database gives the same answers.
 *
 * The inventory is read a page at a time and streamed into the files (see
 * feed-file-writer.ts): memory stays flat whatever its size. A feed with more
 * records than `recordsPerShard` is split into shards of at most that many.
 */

export interface ExportOptions {
  /** Writes `.json.gz` files instead of `.json`. */
  gzip?: boolean;
  /** The most records one file holds (default `defaultRecordsPerShard`). */
  recordsPerShard?: number;
  /** The generation timestamp's source (default: the system clock). */
  clock?: Clock;
}

/** 100,000 slots make ~25 MB of JSON, ~2 MB gzipped: well inside what Google takes per file. */
export const defaultRecordsPerShard = 100_000;

export interface ExportedFile {
  path: string;
  feed: FeedKey;
  records: number;
  /** The file's size as written (compressed when gzip). */
  bytes: number;
}

export interface ExportReport {
  files: ExportedFile[];
  merchants: number;
  services: number;
  slots: number;
}

type FeedKey = "merchant" | "service" | "availability";

/** One feed: its file name's stem, its JSON around the records, its pages of records. */
interface FeedSource {
  feed: FeedKey;
  count: number;
  /** Around the records: `{"metadata":...,"merchant":[` ... `]}`. */
  opening: (metadata: object) => string;
  closing: string;
  records: () => AsyncGenerator<object>;
}

/** Records read from the store at a time. */
const pageSize = 1000;

/** Writes the merchant, service and availability feeds of `store`'s live inventory into `outDir`. */
export async function exportFeeds(store: Store, outDir: string, options: ExportOptions = {}): Promise<ExportReport> {
  const inventory = store.read.inventory;
  const counts = await inventory.inventoryCounts();
  const generatedSec = (options.clock ?? systemClock).nowSec();
  const recordsPerShard = options.recordsPerShard ?? defaultRecordsPerShard;
  if (!Number.isSafeInteger(recordsPerShard) || recordsPerShard < 1) throw new RangeError(`recordsPerShard must be a positive integer, got ${recordsPerShard}`);
  const sources: FeedSource[] = [
    {
      feed: "merchant",
      count: counts.merchants,
      opening: (metadata) => `{"metadata":${JSON.stringify(metadata)},"merchant":[`,
      closing: "]}",
      records: () => merchantRecords(inventory),
    },
    {
      feed: "service",
      count: counts.services,
      opening: (metadata) => `{"metadata":${JSON.stringify(metadata)},"service":[`,
      closing: "]}",
      records: () => serviceRecords(inventory),
    },
    {
      feed: "availability",
      count: counts.slots,
      opening: (metadata) => `{"metadata":${JSON.stringify(metadata)},"service_availability":[{"availability":[`,
      closing: "]}]}",
      records: () => availabilityRecords(inventory),
    },
  ];
  const files: ExportedFile[] = [];
  for (const source of sources) files.push(...(await writeFeed(source, outDir, generatedSec, recordsPerShard, options.gzip ?? false)));
  return { files, merchants: counts.merchants, services: counts.services, slots: counts.slots };
}

/**
 * Writes one feed's shards. The count of shards comes from the count read
 * before: records added meanwhile go into the last shard, and a shard left
 * short by records removed meanwhile is still written (Google then has the
 * feed whole).
 */
async function writeFeed(source: FeedSource, outDir: string, generatedSec: number, recordsPerShard: number, gzip: boolean): Promise<ExportedFile[]> {
  const totalShards = Math.max(1, Math.ceil(source.count / recordsPerShard));
  const nonce = randomInt(1, 2 ** 48);
  const records = source.records();
  const written: ExportedFile[] = [];
  let next = await records.next();
  for (let shard = 0; shard < totalShards; shard++) {
    const name = `${source.feed}_${generatedSec}_${shard + 1}of${totalShards}.json${gzip ? ".gz" : ""}`;
    const writer = await FeedFileWriter.create(join(outDir, name), gzip);
    try {
      const metadata = { processing_instruction: "PROCESS_AS_COMPLETE", shard_number: shard, total_shards: totalShards, nonce, generation_timestamp: generatedSec };
      await writer.write(source.opening(metadata));
      let count = 0;
      const last = shard === totalShards - 1;
      for (; !next.done && (last || count < recordsPerShard); next = await records.next()) {
        await writer.write(`${count === 0 ? "\n" : ",\n"}${JSON.stringify(next.value)}`);
        count++;
      }
      await writer.write(`\n${source.closing}\n`);
      written.push({ path: writer.path, feed: source.feed, records: count, bytes: await writer.finish() });
    } catch (error) {
      await writer.abandon();
      throw error;
    }
  }
  return written;
}

async function* merchantRecords(inventory: InventoryReads): AsyncGenerator<object> {
  for (let page = await inventory.merchantFeedsAfter("", pageSize); page.length > 0; page = await inventory.merchantFeedsAfter(page.at(-1)!.merchantId, pageSize)) {
    for (const stored of page) yield { ...feedRecord(stored), merchant_id: stored.merchantId };
  }
}

async function* serviceRecords(inventory: InventoryReads): AsyncGenerator<object> {
  for (let page = await inventory.serviceFeedsAfter(undefined, pageSize); page.length > 0; page = await inventory.serviceFeedsAfter(page.at(-1)!, pageSize)) {
    for (const stored of page) yield { ...feedRecord(stored), merchant_id: stored.merchantId, service_id: stored.serviceId };
  }
}

async function* availabilityRecords(inventory: InventoryReads): AsyncGenerator<object> {
  for (let page = await inventory.slotFeedsAfter(0, pageSize); page.length > 0; page = await inventory.slotFeedsAfter(page.at(-1)!.slotId, pageSize)) {
    for (const slot of page) yield slotRecord(slot);
  }
}

function feedRecord(stored: Pick<StoredFeedRecord, "feedJson">): Record<string, unknown> {
  return JSON.parse(stored.feedJson) as Record<string, unknown>;
}

/**
 * A slot as an availability record: its feed record (payment terms, tags,
 * names of staff and rooms...) with its key and spots as stored now. One
 * slot, so no recurrence.
 */
function slotRecord(slot: SlotFeedState): object {
  const { recurrence: _recurrence, schedule_exception: _exceptions, ...feed } = feedRecord(slot);
  const resources: Record<string, unknown> = { ...(feed.resources as object | undefined) };
  for (const [name, value] of [["staff_id", slot.staffId], ["room_id", slot.roomId], ["party_size", slot.partySize]] as const) {
    if (value) resources[name] = value;
    else delete resources[name];
  }
  const { resources: _resources, ...rest } = feed;
  return {
    ...rest,
    merchant_id: slot.merchantId,
    service_id: slot.serviceId,
    start_sec: slot.startSec,
    duration_sec: slot.durationSec,
    spots_total: slot.spotsTotal,
    spots_open: slot.spotsOpen,
    ...(Object.keys(resources).length > 0 ? { resources } : {}),
  };
}
