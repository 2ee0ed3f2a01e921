import { ConfirmationMode } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { FieldError } from "../feeds/field-error.js";
import { FeedError } from "../inventory/feed-import.js";
import { slotsFromFeed } from "../inventory/feed-records.js";
import { findTopLevelKey, JsonStreamError, streamRecords } from "../inventory/json-stream.js";
import type { SlotFeedRecord } from "../store/repositories.js";

/**
 * The slots of a Google availability feed, as the checker needs them: what
 * identifies a slot to Google, how many spots the feed says are open, and
 * whether booking it takes a payment (the checker books only slots that take
 * none). Records are read and validated with the importer's own parsing
 * (`slotsFromFeed`: a recurrence is expanded into its slots), so the checker
 * accepts exactly the feeds `import` accepts.
 */
export interface FeedSlot {
  merchantId: string;
  serviceId: string;
  startSec: number;
  durationSec: number;
  staffId: string;
  roomId: string;
  partySize: number;
  availabilityTag: string;
  spotsTotal: number;
  spotsOpen: number;
  confirmationMode: ConfirmationMode;
  /** The record carries payment terms of its own (prepayment, deposit, no-show fee, ...). */
  takesPayment: boolean;
}

/** Where the slot records are, by the feed's top-level key (the two shapes `import` reads). */
const recordPaths = new Map<string, readonly string[]>([
  ["availability", ["availability"]],
  ["service_availability", ["service_availability", "availability"]],
]);

/** Every slot of the availability feed `file`; throws a `FeedError` naming the file, record and field. */
export async function loadFeedSlots(file: string): Promise<FeedSlot[]> {
  const slots: FeedSlot[] = [];
  try {
    const key = await findTopLevelKey(file, new Set(recordPaths.keys()));
    if (key === null) throw new FeedError(file, null, null, 'not an availability feed: no top-level "availability" or "service_availability" key');
    await streamRecords(file, recordPaths.get(key)!, (record, position) => {
      try {
        for (const slot of slotsFromFeed(record).slots) slots.push(feedSlot(slot));
      } catch (error) {
        if (error instanceof FieldError) throw new FeedError(file, position.index, error.field, error.message);
        throw error;
      }
    });
  } catch (error) {
    if (error instanceof JsonStreamError) throw new FeedError(file, null, null, error.message);
    throw error;
  }
  return slots;
}

function feedSlot(record: SlotFeedRecord): FeedSlot {
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
    takesPayment: record.bookingPaymentTerms,
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
