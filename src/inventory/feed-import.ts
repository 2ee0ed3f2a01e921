import type { Store } from "../store/repositories.js";
import { systemClock, type Clock } from "../clock.js";
import { queueImportUpdates } from "../notify/inventory-notification.js";
import { ChunkQueue } from "./chunk-queue.js";
import { FeedError, fileError, recordError } from "./feed-error.js";
import { findTopLevelKey, streamRecords, type RecordPosition } from "./json-stream.js";
import { RecordImporter, type FeedKind, type ReadRecord } from "./record-importer.js";

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

/** Why an import was refused (feed-error.ts). */
export { FeedError } from "./feed-error.js";

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
