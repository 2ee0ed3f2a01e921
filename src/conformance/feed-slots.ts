import { ConfirmationMode } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { FieldError } from "../feeds/field-error.js";
import { FeedError } from "../inventory/feed-import.js";
import { serviceFromFeed, slotsFromFeed } from "../inventory/feed-records.js";
import { findTopLevelKey, JsonStreamError, streamRecords } from "../inventory/json-stream.js";
import type { SlotFeedRecord, SlotKey } from "../store/repositories.js";

/**
 * The slots of a Google availability feed, as the checker needs them: what
 * identifies a slot to Google, how many spots the feed says are open, and
 * whether booking it takes a payment (the checker books only slots that take
 * none, as far as the availability and service feeds say). Records are read
 * and validated with the importer's own parsing (`slotsFromFeed`, which
 * expands a recurrence into its slots, and `serviceFromFeed`), so the checker
 * accepts exactly the feeds `import` accepts.
 */
export interface FeedSlot extends SlotKey {
  availabilityTag: string;
  spotsTotal: number;
  spotsOpen: number;
  confirmationMode: ConfirmationMode;
  /** The record, or its service's in the service feed, states payment terms (prepayment, deposit, no-show fee, ...). */
  takesPayment: boolean;
}

/** Where the records are, by the feed's top-level key (the shapes `import` reads). */
const availabilityPaths = new Map<string, readonly string[]>([
  ["availability", ["availability"]],
  ["service_availability", ["service_availability", "availability"]],
]);
const servicePaths = new Map<string, readonly string[]>([["service", ["service"]]]);

/**
 * Every slot of the availability feed `files` (a feed's shards), marked as
 * taking a payment when its record, or its service's record in the service
 * feed `serviceFiles` (optional), states payment terms. Throws a `FeedError`
 * naming the file, record and field.
 */
export async function loadFeedSlots(files: readonly string[], serviceFiles: readonly string[] = []): Promise<FeedSlot[]> {
  const paidServices = new Set<string>();
  for (const file of serviceFiles) {
    await eachRecord(file, servicePaths, "service feed", (record) => {
      const service = serviceFromFeed(record);
      if (service.bookingPaymentTerms) paidServices.add(serviceKey(service));
    });
  }
  const slots: FeedSlot[] = [];
  for (const file of files) {
    await eachRecord(file, availabilityPaths, "availability feed", (record) => {
      for (const slot of slotsFromFeed(record).slots) slots.push(feedSlot(slot, paidServices.has(serviceKey(slot))));
    });
  }
  return slots;
}

/** Hands each record of `file` to `parse`; a bad record or file is a `FeedError`. */
async function eachRecord(file: string, paths: ReadonlyMap<string, readonly string[]>, kind: string, parse: (record: unknown) => void): Promise<void> {
  try {
    const key = await findTopLevelKey(file, new Set(paths.keys()));
    if (key === null) throw new FeedError(file, null, null, `not a ${kind}: no top-level ${[...paths.keys()].map((name) => `"${name}"`).join(" or ")} key`);
    await streamRecords(file, paths.get(key)!, (record, position) => {
      try {
        parse(record);
      } catch (error) {
        if (error instanceof FieldError) throw new FeedError(file, position.index, error.field, error.message);
        throw error;
      }
    });
  } catch (error) {
    if (error instanceof JsonStreamError) throw new FeedError(file, null, null, error.message);
    throw error;
  }
}

function serviceKey(record: { merchantId: string; serviceId: string }): string {
  return `${record.merchantId}\u0000${record.serviceId}`;
}

function feedSlot(record: SlotFeedRecord, paidService: boolean): FeedSlot {
  return {
    merchantId: record.merchantId,
    serviceId: record.serviceId,
    startSec: record.startSec,
    durationSec: record.durationSec,
    staffId: record.staffId,
    roomId: record.roomId,
    partySize: record.partySize,
    availabilityTag: record.availabilityTag,
    spotsTotal: record.spotsTotal,
    spotsOpen: record.spotsOpen,
    confirmationMode: record.confirmationMode,
    takesPayment: record.bookingPaymentTerms || paidService,
  };
}

/** How the report and the output name a slot: merchant, service, start (UTC) and resources. */
export function describeSlot(slot: FeedSlot): string {
  const resources = [
    slot.staffId && `staff ${slot.staffId}`,
    slot.roomId && `room ${slot.roomId}`,
    slot.partySize && `party of ${slot.partySize}`,
  ].filter(Boolean);
  const start = new Date(slot.startSec * 1000).toISOString().replace(":00.000Z", "Z");
  return `${slot.merchantId}/${slot.serviceId} at ${start}${resources.length ? ` (${resources.join(", ")})` : ""}`;
}
