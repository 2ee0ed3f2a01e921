import { StagingError, type FeedStaging, type SlotFeedRecord, type StagedFeedRecord, type Store, type UpsertOutcome } from "../store/repositories.js";
import { systemClock, type Clock } from "../clock.js";
import { FieldError } from "../feeds/field-error.js";
import { queueImportUpdates } from "../notify/inventory-notification.js";
import { paymentOverrideFields } from "../payments/feed-terms.js";
import { effectivePaymentPolicy } from "../payments/payment-policy.js";
import { merchantFromFeed, offerFromFeed, serviceFromFeed, slotsFromFeed } from "./feed-records.js";
import { findTopLevelKey, JsonStreamError, streamRecords, type RecordPosition } from "./json-stream.js";

/**
 * Imports Google's inventory feeds (JSON, snake_case) into the store:
 *
 * - merchant feed      `{"merchant": [{merchant_id, name, ...}]}`
 * - service feed       `{"service": [{merchant_id, service_id, name | localized_service_name, price, ...}]}`
 * - offer feed         `{"offer": [{offer_id, merchant_id, service_id?}]}`
 * - availability feed  `{"availability": [...]}` or `{"service_availability": [{"availability": [...]}]}`
 *
 * A file's kind comes from its top-level key; `metadata` and other keys are
 * ignored. Whatever the argument order, all merchant records are imported
 * first, then services, offers and availability, so that one call can load a
 * whole inventory. Upserts make a re-import of the same feeds change nothing.
 *
 * All or nothing, without locking a live server out: every record is
 * validated and staged apart from the live inventory (`Store.stageFeeds`, in
 * short transactions that take no lock on it), and only once every file has
 * been read are the staged records written into the live tables, in one
 * transaction, with the real-time updates that tell Google of the changes
 * (queued in the outbox, which the serving process delivers). The first bad
 * record (or file) throws a `FeedError` and nothing is imported; an import
 * killed midway leaves nothing either.
 *
 * Files are streamed (see json-stream.ts), never read whole, and may be
 * gzipped (whatever their name). An availability record may give Google's
 * compressed format (`recurrence`, `schedule_exception`): it is expanded into
 * its slots (recurrence-expansion.ts); a service's availability comes in one
 * format or the other, never both.
 */

export interface Counts {
  inserted: number;
  updated: number;
  unchanged: number;
}

export interface ImportReport {
  files: number;
  merchants: Counts;
  services: Counts;
  slots: Counts;
  offers: Counts;
}

/**
 * Why an import was refused. `recordIndex` is the 0-based position of the
 * record among the file's records (for the `service_availability` shape,
 * counted across all its `availability` lists); `field` is the record's field
 * as a dotted path (e.g. `resources.party_size`). Both are null when the
 * problem is the file itself (unreadable, invalid JSON, unknown shape).
 */
export class FeedError extends Error {
  readonly file: string;
  readonly recordIndex: number | null;
  readonly field: string | null;
  /** The message without the file / record / field prefix. */
  readonly detail: string;

  constructor(file: string, recordIndex: number | null, field: string | null, detail: string) {
    let where = file;
    if (recordIndex !== null) where += `: record ${recordIndex}`;
    if (field !== null) where += `: field "${field}"`;
    super(`${where}: ${detail}`);
    this.name = "FeedError";
    this.file = file;
    this.recordIndex = recordIndex;
    this.field = field;
    this.detail = detail;
  }
}

type FeedKind = "merchant" | "service" | "offer" | "availability";

/** Import order: a record may only refer to records of earlier kinds. */
const kindOrder: readonly FeedKind[] = ["merchant", "service", "offer", "availability"];

interface FeedShape {
  /** The top-level key that identifies the shape. */
  key: string;
  kind: FeedKind;
  /** Where the records are; see `streamRecords`. */
  recordPath: readonly string[];
}

const shapes: readonly FeedShape[] = [
  { key: "merchant", kind: "merchant", recordPath: ["merchant"] },
  { key: "service", kind: "service", recordPath: ["service"] },
  { key: "offer", kind: "offer", recordPath: ["offer"] },
  { key: "availability", kind: "availability", recordPath: ["availability"] },
  { key: "service_availability", kind: "availability", recordPath: ["service_availability", "availability"] },
];
const shapeByKey = new Map(shapes.map((shape) => [shape.key, shape]));
const shapeKeys: ReadonlySet<string> = new Set(shapeByKey.keys());
const shapeKeyList = shapes.map((shape) => `"${shape.key}"`).join(", ");

const emptyCounts = (): Counts => ({ inserted: 0, updated: 0, unchanged: 0 });

/**
 * Records handed to the store together: each full chunk is checked and staged
 * (in one `FeedStaging.stage` call, with any chunk that filled up while the
 * store was busy with the one before: see `ChunkQueue`).
 */
export const recordsPerChunk = 1000;

/** What an import may tell its caller besides its report. */
export interface ImportOptions {
  /** Called once the live tables are updated, with how long that held the database's write lock (ms). */
  onApplied?: (lockHeldMs: number) => void;
  /** When the real-time updates it queues were made (default: the system clock). */
  clock?: Clock;
}

/** Imports `files` into `store` (see above); rejects with a `FeedError` naming the bad file, record and field. */
export async function importFeeds(store: Store, files: string[], options: ImportOptions = {}): Promise<ImportReport> {
  const report: ImportReport = {
    files: files.length,
    merchants: emptyCounts(),
    services: emptyCounts(),
    slots: emptyCounts(),
    offers: emptyCounts(),
  };

  // Reads only the start of each file (up to its feed key), before taking the write lock.
  const feeds: { file: string; shape: FeedShape }[] = [];
  for (const file of files) feeds.push({ file, shape: await detectShape(file) });

  const staging = await store.stageFeeds();
  try {
    const importer = new RecordImporter(store, staging, report);
    for (const kind of kindOrder) {
      for (const { file, shape } of feeds) {
        // Every chunk of the file is staged when this resolves: later files' checks see its records.
        if (shape.kind === kind) await importFile(file, shape, importer);
      }
    }
    // Google is told in the same transaction: a create or patch of each merchant and service changed, and
    // an availability:replace of each start time where a slot changed (see inventory-notification.ts).
    const nowSec = (options.clock ?? systemClock).nowSec();
    const { lockHeldMs } = await staging.apply((changes, outbox) => queueImportUpdates(outbox, changes, nowSec));
    options.onApplied?.(lockHeldMs);
    return report;
  } finally {
    await staging.discard();
  }
}

async function detectShape(file: string): Promise<FeedShape> {
  let key: string | null;
  try {
    key = await findTopLevelKey(file, shapeKeys);
  } catch (error) {
    throw fileError(file, error, null);
  }
  if (key === null) {
    throw new FeedError(file, null, null, `not a feed: no top-level ${shapeKeyList} key`);
  }
  return shapeByKey.get(key)!;
}

/** A record read and parsed, waiting in its chunk to be checked against the store and staged. */
interface ReadRecord {
  /** Its position among the file's records (`RecordPosition.index`). */
  index: number;
  staged: StagedFeedRecord;
  /** The record as read, kept only where a check still needs it: a service's, a slot's overriding payment terms. */
  raw?: unknown;
}

/**
 * Reads a file's records, and checks and stages them a chunk at a time, in
 * the file's order. Resolves once every chunk is staged (so later files see
 * them); rejects with the first bad record's (or the file's) `FeedError`.
 *
 * The stream hands over each record synchronously: the callback only parses
 * it (a malformed record stops the file at once) and adds it to the chunk.
 * What needs the store (the references, a slot's payment overrides, staging
 * itself) is asynchronous: each full chunk is handed to `ChunkQueue`, which
 * imports it after the chunk before it (`RecordImporter.importChunk`). A
 * chunk that fails stops the stream at the callback's next record. Whatever
 * stops the file, the records read before it are checked first, so the error
 * reported is the first bad record's, as when every check was synchronous.
 */
async function importFile(file: string, shape: FeedShape, importer: RecordImporter): Promise<void> {
  const parse = importer.parserFor(file, shape.kind);
  const queue = new ChunkQueue((records, stage) => importer.importChunk(file, records, stage));
  let chunk: ReadRecord[] = [];
  let lastRecord: number | null = null;
  try {
    await streamRecords(
      file,
      shape.recordPath,
      (record: unknown, position: RecordPosition) => {
        lastRecord = position.index;
        queue.throwIfFailed();
        try {
          parse(record, position.index, chunk);
        } catch (error) {
          throw recordError(file, position.index, error);
        }
        // A recurrence may add many slots at once: the chunk is handed over once it is full.
        if (chunk.length >= recordsPerChunk) {
          queue.add(chunk, true);
          chunk = [];
        }
      },
      (key) => {
        if (key !== shape.key && shapeKeys.has(key)) {
          throw new FeedError(file, null, null, `has both "${shape.key}" and "${key}" keys: give each feed its own file`);
        }
      },
    );
  } catch (error) {
    // The records read before what stopped the file come first: checked (not staged), they may fail before it.
    queue.add(chunk, false);
    await queue.drain();
    throw fileError(file, error, lastRecord);
  }
  queue.add(chunk, true);
  await queue.drain();
}

/**
 * One file's chunks on their way to the store, imported in the order they
 * were added, one `importChunk` at a time; after a failure the chunks still
 * queued are dropped and the failure is kept, for `throwIfFailed` and `drain`.
 *
 * Memory stays bounded although the stream cannot be paused from its
 * callback: staging waits for a turn of the event loop (the store runs it
 * between its transactions), and in one turn the stream parses a whole read
 * of the file (1 MiB, see json-stream.ts), several chunks' worth. One chunk
 * staged per turn would fall further behind with every read (a 200,000-slot
 * file had 177 of its 200 chunks waiting at once); so whenever the store is
 * done with a call, every chunk queued meanwhile goes in the next one. What is
 * held is then at most the records of about two reads of the file: those
 * being staged, and those parsed while they are (a few thousand each, ~16,000
 * for the smallest valid slot records).
 */
class ChunkQueue {
  private queued: { records: readonly ReadRecord[]; stage: boolean }[] = [];
  /** The loop importing what is queued, while it runs. */
  private running: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(private readonly importChunk: (records: readonly ReadRecord[], stage: boolean) => Promise<void>) {}

  /** Queues `records` to be checked and, when `stage`, staged. */
  add(records: readonly ReadRecord[], stage: boolean): void {
    if (this.failure !== undefined) return;
    this.queued.push({ records, stage });
    this.running ??= this.run();
  }

  private async run(): Promise<void> {
    try {
      while (this.queued.length > 0 && this.failure === undefined) {
        // Every chunk queued since the last call (those with the same `stage`: only a file's last chunk may be check-only).
        const { stage } = this.queued[0];
        const end = this.queued.findIndex((entry) => entry.stage !== stage);
        const taken = this.queued.splice(0, end === -1 ? this.queued.length : end);
        try {
          await this.importChunk(taken.length === 1 ? taken[0].records : taken.flatMap((entry) => entry.records), stage);
        } catch (error) {
          this.failure = { error };
          this.queued = [];
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  /** Throws the error of a chunk that has failed, if one has. */
  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** Resolves once every queued chunk is done; rejects with the first failure. */
  async drain(): Promise<void> {
    await this.running;
    this.throwIfFailed();
  }
}

function recordError(file: string, index: number, error: unknown): FeedError {
  if (error instanceof FeedError) return error;
  if (error instanceof FieldError) return new FeedError(file, index, error.field, error.message);
  return new FeedError(file, index, null, `cannot import: ${error instanceof Error ? error.message : String(error)}`);
}

function fileError(file: string, error: unknown, lastRecord: number | null): Error {
  if (error instanceof FeedError) return error;
  if (error instanceof JsonStreamError) {
    const context =
      error.reason !== "syntax" ? "" : lastRecord === null ? " (before the first record)" : ` (after record ${lastRecord})`;
    return new FeedError(file, null, null, error.message + context);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Parses single records (`parserFor`, synchronous: what the stream's callback
 * runs) and then, a chunk at a time, checks what needs the store (that what
 * they refer to exists; a slot's payment overrides against its service),
 * stages them and counts what they change (`importChunk`).
 */
class RecordImporter {
  /** Merchants / services known to exist (in the store, or in a feed of this import): the store is asked once for each. */
  private readonly merchants = new Set<string>();
  private readonly services = new Set<string>();
  /** The feeds of services whose slots override payment terms, as the import leaves them (the longest kept goes first). */
  private readonly serviceFeeds = new Map<string, { merchantFeed: string; serviceFeed: string }>();

  /** The availability format of each service this import gives slots of, and the first record that gave it. */
  private readonly availabilityFormats = new Map<string, { recurring: boolean; file: string; index: number }>();

  /** The report's counts for each kind of staged record. */
  private readonly counts: Readonly<Record<StagedFeedRecord["kind"], Counts>>;

  constructor(
    private readonly store: Store,
    private readonly staging: FeedStaging,
    report: ImportReport,
  ) {
    this.counts = { merchant: report.merchants, service: report.services, offer: report.offers, slot: report.slots };
  }

  /**
   * Parses one record of `file` (of `kind`) into what it stages, added to
   * `into` (an availability record with a recurrence makes several slots);
   * throws when it is malformed.
   */
  parserFor(file: string, kind: FeedKind): (record: unknown, index: number, into: ReadRecord[]) => void {
    switch (kind) {
      case "merchant":
        return (record, index, into) => void into.push({ index, staged: { kind: "merchant", record: merchantFromFeed(record) } });
      case "service":
        return (record, index, into) => void into.push({ index, staged: { kind: "service", record: serviceFromFeed(record) }, raw: record });
      case "offer":
        return (record, index, into) => void into.push({ index, staged: { kind: "offer", record: offerFromFeed(record) } });
      case "availability":
        return (record, index, into) => {
          const { slots, recurring } = slotsFromFeed(record);
          this.requireOneFormat(slots[0], recurring, file, index);
          // The overrides are the record's: checked once, with its first slot.
          const overridesTerms = paymentOverrideFields.some((field) => field in (record as object));
          slots.forEach((slot, i) => into.push({ index, staged: { kind: "slot", record: slot }, raw: overridesTerms && i === 0 ? record : undefined }));
        };
    }
  }

  /**
   * Refuses a service whose availability this import gives both as slots
   * with spots and as recurrences: Google reads one format per integration
   * ("Structuring availability in feeds": choose one, and stick with it), and
   * slots of both would overlap without a rule for which one counts.
   */
  private requireOneFormat(slot: SlotFeedRecord, recurring: boolean, file: string, index: number): void {
    const key = serviceKey(slot.merchantId, slot.serviceId);
    const first = this.availabilityFormats.get(key);
    if (first === undefined) {
      this.availabilityFormats.set(key, { recurring, file, index });
      return;
    }
    if (first.recurring === recurring) return;
    const where = first.file === file ? `record ${first.index}` : `record ${first.index} of ${first.file}`;
    throw new FieldError(
      "recurrence",
      `service ${JSON.stringify(slot.serviceId)} of merchant ${JSON.stringify(slot.merchantId)} mixes formats: ` +
        `${where} gives its slots ${first.recurring ? "with a recurrence" : "one by one with their spots"}, this one ` +
        `${recurring ? "with a recurrence" : "one by one with its spots"}; give a service's availability in one format`,
    );
  }

  /**
   * Checks `records` in order, then (when `stage`) stages them in one
   * `FeedStaging.stage` call and counts what they change. Rejects with the
   * first bad record's `FeedError`.
   */
  async importChunk(file: string, records: readonly ReadRecord[], stage: boolean): Promise<void> {
    for (const read of records) {
      try {
        await this.check(read);
      } catch (error) {
        throw recordError(file, read.index, error);
      }
    }
    if (!stage || records.length === 0) return;
    let outcomes: UpsertOutcome[];
    try {
      outcomes = await this.staging.stage(records.map((read) => read.staged));
    } catch (error) {
      // The store's index is the record's place in this chunk.
      if (error instanceof StagingError && error.index < records.length) throw recordError(file, records[error.index].index, error.cause);
      throw error;
    }
    records.forEach((read, i) => this.count(read.staged, outcomes[i]));
  }

  /** The checks of one parsed record that may need the store, in the order they were always made. */
  private async check({ staged, raw }: ReadRecord): Promise<void> {
    switch (staged.kind) {
      case "merchant":
        this.merchants.add(staged.record.merchantId);
        return;
      case "service": {
        const { merchantId, serviceId } = staged.record;
        await this.requireMerchant(merchantId);
        // Payment terms are checked now, so a bad one fails the import, not a booking.
        effectivePaymentPolicy({ serviceFeed: raw, slotFeed: {}, merchantFeed: {} });
        this.services.add(serviceKey(merchantId, serviceId));
        return;
      }
      case "offer": {
        const { merchantId, serviceId } = staged.record;
        await this.requireMerchant(merchantId);
        if (serviceId !== "") await this.requireService(merchantId, serviceId);
        return;
      }
      case "slot": {
        const { merchantId, serviceId } = staged.record;
        await this.requireService(merchantId, serviceId);
        if (raw !== undefined) effectivePaymentPolicy({ ...(await this.feedsOf(merchantId, serviceId)), slotFeed: raw });
        return;
      }
    }
  }

  private async requireMerchant(merchantId: string): Promise<void> {
    if (this.merchants.has(merchantId)) return;
    if (!(await this.store.read.inventory.hasMerchant(merchantId))) {
      throw new FieldError(
        "merchant_id",
        `unknown merchant ${JSON.stringify(merchantId)}: neither in the database nor in a merchant feed of this import`,
      );
    }
    this.merchants.add(merchantId);
  }

  private async requireService(merchantId: string, serviceId: string): Promise<void> {
    const key = serviceKey(merchantId, serviceId);
    if (this.services.has(key)) return;
    await this.requireMerchant(merchantId);
    if (!(await this.store.read.inventory.hasService(merchantId, serviceId))) {
      throw new FieldError(
        "service_id",
        `unknown service ${JSON.stringify(serviceId)} of merchant ${JSON.stringify(merchantId)}: ` +
          "neither in the database nor in a service feed of this import",
      );
    }
    this.services.add(key);
  }

  /** A service's and its merchant's feeds as the import leaves them: asked of the staging once per service (of the last `serviceFeedsKept`). */
  private async feedsOf(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string }> {
    const key = serviceKey(merchantId, serviceId);
    let feeds = this.serviceFeeds.get(key);
    if (feeds === undefined) {
      // Services are staged with their file, before any availability file is read.
      feeds = (await this.staging.serviceFeeds(merchantId, serviceId))!;
      if (this.serviceFeeds.size >= serviceFeedsKept) this.serviceFeeds.delete(this.serviceFeeds.keys().next().value!);
      this.serviceFeeds.set(key, feeds);
    }
    return feeds;
  }

  private count(staged: StagedFeedRecord, outcome: UpsertOutcome): void {
    this.counts[staged.kind][outcome]++;
  }
}

/**
 * How many services' feeds an import keeps for the payment-override checks:
 * availability feeds list a service's slots together, so a few suffice, and
 * memory stays bounded whatever the number of services.
 */
const serviceFeedsKept = 256;

const serviceKey = (merchantId: string, serviceId: string) => `${merchantId}\u0000${serviceId}`;
