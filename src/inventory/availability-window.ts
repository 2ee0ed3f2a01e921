import { create } from "@bufbuild/protobuf";
import { BookingStatus, type Booking } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { SlotBookingsSchema, SlotStateSchema, type SlotBookings, type SlotState } from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import { holdsSpot } from "../booking/booking-status.js";
import type { BookingContext } from "../booking/context.js";
import { InvalidArgumentError, NotFoundError } from "../booking/errors.js";
import { assertMayActFor, type MerchantCaller } from "../booking/merchant-decisions.js";
import { requiredString, seconds } from "../booking/request-fields.js";
import { slotMessage } from "../booking/slots.js";
import { queueAvailabilityReplace } from "../notify/availability-notification.js";
import type { BookingReads, InventoryReads, OutboxRepository, SlotKey, SlotStock, SlotWindowQuery } from "../store/repositories.js";

/**
 * What the inventory API's use cases share: whom a call may act for, the
 * time window a request names, the slots of a window, how a slot is
 * answered, the bookings holding spots of slots, and the real-time updates
 * a change queues.
 */

/** What the inventory use cases work with: the booking context's store, clock and notifier wake-up. */
export type InventoryContext = Pick<BookingContext, "store" | "clock" | "notificationQueued">;

/** The merchant a request names, once the caller may act for it (`permission_denied` otherwise). */
export function merchantOf(caller: MerchantCaller, request: { merchantId: string }): string {
  const merchantId = requiredString(request.merchantId, "merchant_id");
  assertMayActFor(caller, merchantId);
  return merchantId;
}

/** A request's [start_sec, end_sec): both required, the end after the start. */
export function windowOf(request: { startSec: bigint; endSec: bigint }): { fromSec: number; toSec: number } {
  const fromSec = seconds(request.startSec, "start_sec", { positive: true });
  const toSec = seconds(request.endSec, "end_sec", { positive: true });
  if (toSec <= fromSec) throw new InvalidArgumentError("end_sec", `must be after start_sec (${fromSec}), got ${toSec}`);
  return { fromSec, toSec };
}

/** Refuses (`not_found`) a merchant, or a service of it (when given), that the inventory does not have. */
export async function assertInventoryHas(inventory: InventoryReads, merchantId: string, serviceId: string): Promise<void> {
  if (!(await inventory.hasMerchant(merchantId))) throw new NotFoundError(`merchant ${merchantId} does not exist`);
  if (serviceId !== "" && !(await inventory.hasService(merchantId, serviceId))) {
    throw new NotFoundError(`merchant ${merchantId} has no service ${serviceId}`);
  }
}

/** A window query open on duration and resources, from the first slot. */
export function windowQuery(merchantId: string, serviceId: string, window: { fromSec: number; toSec: number }): Omit<SlotWindowQuery, "after" | "limit"> {
  return { merchantId, serviceId, ...window, durationSec: 0, staffId: "", roomId: "", partySize: 0 };
}

const windowPage = 1000;

/** Every slot of the window, by (start, slot id), read a page at a time. */
export async function slotsOfWindow(inventory: InventoryReads, query: Omit<SlotWindowQuery, "after" | "limit">): Promise<SlotStock[]> {
  const slots: SlotStock[] = [];
  for (;;) {
    const last = slots[slots.length - 1];
    const page = await inventory.slotsInWindow({ ...query, after: last && { startSec: last.startSec, slotId: last.slotId }, limit: windowPage });
    slots.push(...page);
    if (page.length < windowPage) return slots;
  }
}

/** A slot as the inventory API answers it. */
export function slotState(slot: SlotStock): SlotState {
  const { resources } = slotMessage(slot);
  return create(SlotStateSchema, {
    serviceId: slot.serviceId,
    startSec: BigInt(slot.startSec),
    durationSec: BigInt(slot.durationSec),
    resources,
    availabilityTag: slot.availabilityTag,
    confirmationMode: slot.confirmationMode,
    spotsTotal: BigInt(slot.spotsTotal),
    spotsOpen: BigInt(slot.spotsOpen),
    spotsTakenElsewhere: BigInt(slot.spotsSoldElsewhere),
    spotsHeldByBookings: BigInt(slot.spotsHeldByBookings),
    spotsHeldByLeases: BigInt(slot.spotsHeldByLeases),
  });
}

/** The statuses in which a booking holds a spot (the one rule: `holdsSpot`). */
const holdingStatuses = Object.values(BookingStatus).filter(
  (status): status is BookingStatus => typeof status === "number" && holdsSpot(status),
);

/**
 * Each of `slots` (as they stand) with the bookings holding a spot of it, for
 * the slots that have any (every slot with `includeEmpty`); in the order
 * given, each slot's bookings by start and booking id.
 */
export async function withHoldingBookings(
  bookings: BookingReads,
  merchantId: string,
  slots: SlotStock[],
  { includeEmpty = false } = {},
): Promise<SlotBookings[]> {
  const held = includeEmpty ? slots : slots.filter((slot) => slot.spotsHeldByBookings > 0);
  if (held.length === 0) return [];
  const bySlot = new Map<number, Booking[]>(held.map((slot) => [slot.slotId, []]));
  const firstStart = held.reduce((first, slot) => Math.min(first, slot.startSec), Infinity);
  const lastStart = held.reduce((last, slot) => Math.max(last, slot.startSec), 0);
  let after: { startSec: number; bookingId: string } | undefined;
  for (;;) {
    const page = await bookings.listForMerchant({
      merchantId,
      statuses: holdingStatuses,
      startSecFrom: firstStart,
      startSecBefore: lastStart + 1,
      after,
      limit: windowPage,
    });
    for (const record of page) bySlot.get(record.slotId)?.push(record.booking);
    if (page.length < windowPage) break;
    const last = page[page.length - 1];
    after = { startSec: Number(last.booking.slot?.startSec ?? 0n), bookingId: last.booking.bookingId };
  }
  return held.map((slot) => create(SlotBookingsSchema, { slot: slotState(slot), bookings: bySlot.get(slot.slotId) }));
}

/**
 * Queues, in the change's unit, the availability:replace update of every
 * start time of `changed` (merged per service into the update not sent yet).
 * Returns whether anything was queued, so the caller wakes the notifier
 * once the unit has committed.
 */
export async function queueAvailabilityChanges(outbox: OutboxRepository, changed: readonly SlotKey[], nowSec: number): Promise<boolean> {
  const seen = new Set<string>();
  for (const slot of changed) {
    const key = `${slot.serviceId}\u0000${slot.startSec}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await queueAvailabilityReplace(outbox, slot, nowSec);
  }
  return changed.length > 0;
}
