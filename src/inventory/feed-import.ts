import type { FeedStaging, Store, UpsertOutcome } from "../store/repositories.js";
import { effectivePaymentPolicy } from "../payments/payment-policy.js";
import { FieldError, merchantFromFeed, offerFromFeed, serviceFromFeed, slotFromFeed } from "./feed-records.js";
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
 * transaction. The first bad record (or file) throws a `FeedError` and
 * nothing is imported; an import killed midway leaves nothing either.
 *
 * Files are streamed (see json-stream.ts), never read whole.
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
 * Records staged per transaction: a few milliseconds of work each, so that
 * an import run inside a serving process holds its event loop only that long.
 */
export const recordsPerChunk = 1000;

/** What an import may tell its caller besides its report. */
export interface ImportOptions {
  /** Called once the live tables are updated, with how long that held the database's write lock (ms). */
  onApplied?: (lockHeldMs: number) => void;
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

  const staging = store.stageFeeds();
  try {
    const importer = new RecordImporter(store, staging, report);
    for (const kind of kindOrder) {
      for (const { file, shape } of feeds) {
        if (shape.kind === kind) await importFile(file, shape, importer, staging);
      }
    }
    const { lockHeldMs } = await staging.apply();
    options.onApplied?.(lockHeldMs);
    return report;
  } finally {
    staging.discard();
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

/**
 * Validates each record as it is read and stages the valid ones a chunk at a
 * time (every chunk is staged before the file's end, so later files see it).
 */
async function importFile(file: string, shape: FeedShape, importer: RecordImporter, staging: FeedStaging): Promise<void> {
  const validate = importer.forKind(shape.kind);
  const chunk: { index: number; stage: () => void }[] = [];
  const stageChunk = () => {
    staging.chunk(() => {
      for (const { index, stage } of chunk) {
        try {
          stage();
        } catch (error) {
          throw recordError(file, index, error);
        }
      }
    });
    chunk.length = 0;
  };
  let lastRecord: number | null = null;
  try {
    await streamRecords(
      file,
      shape.recordPath,
      (record: unknown, position: RecordPosition) => {
        lastRecord = position.index;
        try {
          chunk.push({ index: position.index, stage: validate(record) });
        } catch (error) {
          throw recordError(file, position.index, error);
        }
        if (chunk.length === recordsPerChunk) stageChunk();
      },
      (key) => {
        if (key !== shape.key && shapeKeys.has(key)) {
          throw new FeedError(file, null, null, `has both "${shape.key}" and "${key}" keys: give each feed its own file`);
        }
      },
    );
    stageChunk();
  } catch (error) {
    throw fileError(file, error, lastRecord);
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
 * Validates single records, checking that what they refer to exists; each
 * valid record comes back as the function that stages it and counts what it
 * changes.
 */
class RecordImporter {
  /** Merchants / services known to exist (in the store, or in a feed of this import). */
  private readonly merchants = new Set<string>();
  private readonly services = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly staging: FeedStaging,
    private readonly report: ImportReport,
  ) {}

  forKind(kind: FeedKind): (record: unknown) => () => void {
    switch (kind) {
      case "merchant":
        return (record) => {
          const merchant = merchantFromFeed(record);
          this.merchants.add(merchant.merchantId);
          return () => this.count(this.report.merchants, this.staging.stageMerchant(merchant));
        };
      case "service":
        return (record) => {
          const service = serviceFromFeed(record);
          this.requireMerchant(service.merchantId);
          // Payment terms are checked now, so a bad one fails the import, not a booking.
          effectivePaymentPolicy({ serviceFeed: record, slotFeed: {}, merchantFeed: {} });
          this.services.add(serviceKey(service.merchantId, service.serviceId));
          return () => this.count(this.report.services, this.staging.stageService(service));
        };
      case "offer":
        return (record) => {
          const offer = offerFromFeed(record);
          this.requireMerchant(offer.merchantId);
          if (offer.serviceId !== "") this.requireService(offer.merchantId, offer.serviceId);
          return () => this.count(this.report.offers, this.staging.stageOffer(offer));
        };
      case "availability":
        return (record) => {
          const slot = slotFromFeed(record);
          this.requireService(slot.merchantId, slot.serviceId);
          if (paymentOverrideFields.some((field) => field in (record as object))) {
            // Services are staged with their file, before any availability file is read.
            const feeds = this.staging.serviceFeeds(slot.merchantId, slot.serviceId)!;
            effectivePaymentPolicy({ ...feeds, slotFeed: record });
          }
          return () => this.count(this.report.slots, this.staging.stageSlot(slot));
        };
    }
  }

  private requireMerchant(merchantId: string): void {
    if (this.merchants.has(merchantId)) return;
    if (!this.store.inventory.hasMerchant(merchantId)) {
      throw new FieldError(
        "merchant_id",
        `unknown merchant ${JSON.stringify(merchantId)}: neither in the database nor in a merchant feed of this import`,
      );
    }
    this.merchants.add(merchantId);
  }

  private requireService(merchantId: string, serviceId: string): void {
    const key = serviceKey(merchantId, serviceId);
    if (this.services.has(key)) return;
    this.requireMerchant(merchantId);
    if (!this.store.inventory.hasService(merchantId, serviceId)) {
      throw new FieldError(
        "service_id",
        `unknown service ${JSON.stringify(serviceId)} of merchant ${JSON.stringify(merchantId)}: ` +
          "neither in the database nor in a service feed of this import",
      );
    }
    this.services.add(key);
  }

  private count(counts: Counts, outcome: UpsertOutcome): void {
    counts[outcome]++;
  }
}

const serviceKey = (merchantId: string, serviceId: string) => `${merchantId}\u0000${serviceId}`;

/** Availability fields that override a service's payment terms (checked only where present: most slots have none). */
const paymentOverrideFields = ["no_show_fee", "deposit", "require_credit_card", "payment_option_id", "prepayment", "scheduling_rule_overrides"];
