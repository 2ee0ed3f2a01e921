import { clone, create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingStatus,
  UpdateBookingResponseSchema,
  type Booking,
  type UpdateBookingRequest,
  type UpdateBookingResponse,
  BookingSchema,
  PrepaymentStatus,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { queueAvailabilityReplace } from "../notify/availability-notification.js";
import { ConstraintViolation, type BookingRecord, type ReadRepositories, type Repositories, type SlotQuery, type SlotRecord } from "../store/repositories.js";
import { bookingPatch } from "../notify/booking-notification.js";
import { refundBookingPayments, settleCancellation, settleOwedRefunds } from "./refund-payments.js";
import { holdsSpot } from "./booking-status.js";
import { applyMoveMoney, moveMoney, refundTopUps, takeTopUps } from "./move-payments.js";
import type { BookingContext } from "./context.js";
import { AttemptUnderWayError, InvalidArgumentError, NotFoundError } from "./errors.js";
import { bookingFailure } from "./failures.js";
import { releaseExpiredLeases } from "./leases.js";
import { nonNegative, required, requiredString, seconds } from "./request-fields.js";
import { isAsynchronous, isBookable, slotMessage } from "./slots.js";

/** What Google asks for: a cancellation, or a move to another slot. */
type Change = { kind: "cancel" } | { kind: "move"; startSec?: number; durationSec?: number; partySize?: number };

/**
 * UpdateBooking: cancel (gives the spot back), reschedule (start/duration) or,
 * for dining, a new party size, which is a move to the slot of that size.
 * Only the changed fields arrive next to `booking_id`. Asynchronous bookings
 * can only be canceled.
 */
export async function updateBooking(
  ctx: BookingContext,
  request: UpdateBookingRequest,
): Promise<UpdateBookingResponse> {
  const requested = required(request.booking, "booking");
  const bookingId = requiredString(requested.bookingId, "booking.booking_id");
  const change = requestedChange(requested);
  const now = ctx.clock.nowSec();
  await releaseExpiredLeases(ctx, now);

  const { store } = ctx;
  if (!(await store.read.bookings.get(bookingId))) throw new NotFoundError(`booking ${bookingId} does not exist`);
  const response =
    change.kind === "cancel"
      ? await oneCancellationAtATime(ctx, bookingId, () => cancelWithTerms(ctx, bookingId))
      : await moveWithTerms(ctx, bookingId, change, now);
  if (response.booking) ctx.notificationQueued();
  return response;
}

/**
 * How long Google's cancellation of one booking may hold it, its processor
 * calls included (a late fee charged, a deposit refunded: two calls of at
 * most 30 s each, doubled): a claim left by a process that died with it
 * lapses then.
 */
const cancellationClaimMs = 120_000;

/** How long a retry waits for the attempt under way before it is answered `unavailable` (Google retries again). */
const cancellationWaitMs = 10_000;

/**
 * Runs Google's cancellations of one booking one after the other, across
 * every instance on the database (`BookingRepository.claimCancellation`). A
 * retry arriving while the first attempt waits for the processor would
 * settle the same fee (same idempotency key), then find the booking canceled
 * by that attempt and refund the fee as if someone else's cancellation had
 * won; waiting, it finds the booking canceled and moves no money.
 */
async function oneCancellationAtATime(
  ctx: BookingContext,
  bookingId: string,
  work: () => Promise<UpdateBookingResponse>,
): Promise<UpdateBookingResponse> {
  const untilMs = await claimCancellation(ctx, bookingId);
  try {
    return await work();
  } finally {
    try {
      await ctx.store.transaction((tx) => tx.bookings.releaseCancellation(bookingId, untilMs));
    } catch (error) {
      // The answer stands (the cancellation committed or not); the claim lapses at `untilMs`.
      ctx.reportJobFailure("cancellation_claim", error);
    }
  }
}

/** Claims the booking's cancellation, waiting (polling, up to `cancellationWaitMs`) while another attempt holds it; the claim's end. */
async function claimCancellation(ctx: BookingContext, bookingId: string): Promise<number> {
  const giveUpAt = performance.now() + cancellationWaitMs;
  for (let pauseMs = 10; ; pauseMs = Math.min(2 * pauseMs, 250)) {
    const nowMs = ctx.clock.nowSec() * 1000;
    const untilMs = nowMs + cancellationClaimMs;
    if (await ctx.store.transaction((tx) => tx.bookings.claimCancellation(bookingId, nowMs, untilMs))) return untilMs;
    if (performance.now() >= giveUpAt) throw new AttemptUnderWayError(`a cancellation of booking ${bookingId} is still under way`);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/**
 * Google's cancellation. Money first (the processor is remote): the terms may
 * refuse it, charge a late fee or give the deposit back. The booking may
 * change while the processor answers (the merchant cancels or declines it);
 * then this cancellation does not commit, and neither does its fee.
 */
async function cancelWithTerms(ctx: BookingContext, bookingId: string): Promise<UpdateBookingResponse> {
  const { store } = ctx;
  const now = ctx.clock.nowSec();
  const found = (await store.read.bookings.get(bookingId))!;
  // Only a cancellation that can commit now moves money: one of a booking that
  // has started would otherwise pay the late fee and still be refused.
  const refusal = cancelRefusal(found.booking, now);
  if (refusal) return refusal;
  const settled = await settleCancellation(ctx, found, now);
  if ("refused" in settled) return create(UpdateBookingResponseSchema, { bookingFailure: settled.refused });
  // A prepayment or deposit refunded here stays refunded even if the
  // cancellation does not commit: what can win the race (the merchant's
  // cancel, decline or fail) gives everything back anyway; after a failed
  // transaction Google's retry finds the refund made (same idempotency key)
  // and commits. (A booking that paid at booking keeps no card, so it never
  // pays a late fee as well.)
  let response: UpdateBookingResponse;
  try {
    response = await store.transaction(async (tx) => cancel(tx, (await tx.bookings.get(bookingId))!, now, settled.refundId));
  } catch (error) {
    await refundLateCancelFee(ctx, bookingId);
    throw error;
  }
  if (response.bookingFailure) await refundLateCancelFee(ctx, bookingId);
  return response;
}

/**
 * A late-cancellation fee is owed only with Google's cancellation committed:
 * one charged for a cancellation that did not commit goes back (nothing
 * happens when none was charged, or it was refunded already). A refund that
 * fails now is reported and does not change the answer (the booking is what
 * the transaction found); once its record is written (`started`), the next
 * reconciliation makes it.
 */
async function refundLateCancelFee(ctx: BookingContext, bookingId: string): Promise<void> {
  try {
    await refundBookingPayments(ctx, bookingId, (operation) => operation === "late_cancel_fee");
  } catch (error) {
    ctx.reportJobFailure("refund", error);
  }
}

function requestedChange(requested: Booking): Change {
  if (requested.status !== BookingStatus.BOOKING_STATUS_UNSPECIFIED) {
    if (requested.status !== BookingStatus.CANCELED) {
      throw new InvalidArgumentError("booking.status", "only CANCELED can be requested");
    }
    return { kind: "cancel" };
  }
  const slot = requested.slot;
  const change: Change = { kind: "move" };
  if (slot?.startSec) change.startSec = seconds(slot.startSec, "booking.slot.start_sec", { positive: true });
  if (slot?.durationSec) change.durationSec = seconds(slot.durationSec, "booking.slot.duration_sec", { positive: true });
  if (slot?.resources?.partySize) {
    change.partySize = nonNegative(slot.resources.partySize, "booking.slot.resources.party_size");
  }
  if (change.startSec === undefined && change.durationSec === undefined && change.partySize === undefined) {
    throw new InvalidArgumentError(
      "booking",
      "nothing to update: give status CANCELED, or a new slot.start_sec, slot.duration_sec or slot.resources.party_size",
    );
  }
  return change;
}

function failed(cause: BookingFailure_Cause, description: string): UpdateBookingResponse {
  return create(UpdateBookingResponseSchema, { bookingFailure: bookingFailure(cause, description) });
}

/** Why `booking` cannot be canceled at `now`, as Google's answer; undefined when it can. */
function cancelRefusal(booking: Booking, now: number): UpdateBookingResponse | undefined {
  if (booking.status === BookingStatus.CANCELED) {
    return failed(BookingFailure_Cause.BOOKING_ALREADY_CANCELLED, "the booking is already canceled");
  }
  if (!holdsSpot(booking.status)) {
    return failed(
      BookingFailure_Cause.BOOKING_NOT_CANCELLABLE,
      `a booking in status ${BookingStatus[booking.status]} cannot be canceled`,
    );
  }
  if (Number(booking.slot!.startSec) <= now) {
    return failed(BookingFailure_Cause.OUTSIDE_CANCELLATION_WINDOW, "the booking has already started");
  }
  return undefined;
}

/** `refundId`: money went back (by this refund) as part of the cancellation (see CancellationSettlement). */
async function cancel(tx: Repositories, record: BookingRecord, now: number, refundId?: string): Promise<UpdateBookingResponse> {
  const { booking } = record;
  const refusal = cancelRefusal(booking, now);
  if (refusal) return refusal;
  const canceled = clone(BookingSchema, booking);
  canceled.status = BookingStatus.CANCELED;
  await tx.inventory.releaseSpot(record.slotId);
  if (refundId !== undefined) {
    // With REFUNDED, the transaction id is the refund's (spec §2.8).
    canceled.paymentInformation!.prepaymentStatus = PrepaymentStatus.PREPAYMENT_REFUNDED;
    if (refundId) canceled.paymentInformation!.paymentTransactionId = refundId;
    // Google learns of the cancellation from its own call, but of the refund only from us.
    await tx.outbox.enqueue(bookingPatch(canceled, { updateMask: ["status", "paymentInformation.prepaymentStatus"] }), now);
  }
  await tx.bookings.update({ ...record, booking: canceled, holdsSpot: false, decideBySec: 0 }, now);
  await queueAvailabilityReplace(tx.outbox, (await tx.inventory.getSlot(record.slotId))!, now);
  return create(UpdateBookingResponseSchema, { booking: canceled });
}

/**
 * Google's move. Money first, as for a cancellation: the destination's terms
 * may need more (charged on the kept card, or refused), or less (refunded
 * once the move commits). The move then checks its destination again inside
 * its transaction; a top-up paid for a move that did not commit goes back.
 */
async function moveWithTerms(
  ctx: BookingContext,
  bookingId: string,
  change: Extract<Change, { kind: "move" }>,
  now: number,
): Promise<UpdateBookingResponse> {
  const { store } = ctx;
  const found = await destinationOf(store.read, (await store.read.bookings.get(bookingId))!, change, now);
  if ("answer" in found) return found.answer;
  const partySize = found.destination.partySize || 1;
  const money = await moveMoney(ctx, found.record, found.destination, partySize);
  if (money.kind === "refused") return create(UpdateBookingResponseSchema, { bookingFailure: money.failure });
  const declined = await takeTopUps(ctx, bookingId, money);
  if (declined) return create(UpdateBookingResponseSchema, { bookingFailure: declined });
  let response: UpdateBookingResponse;
  try {
    response = await store.transaction(async (tx) => {
      const again = await destinationOf(tx, (await tx.bookings.get(bookingId))!, change, now);
      if ("answer" in again) return again.answer;
      if (again.destination.slotId !== found.destination.slotId) {
        return failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "the requested slot changed while the payment was processed");
      }
      return commitMove(tx, again.record, again.destination, now, (moved) => applyMoveMoney(tx, moved, partySize, money, now));
    });
  } catch (error) {
    if (error instanceof ConstraintViolation && error.constraint === "one_holding_booking_per_user_and_slot") {
      await refundTopUps(ctx, bookingId, money);
      return failed(BookingFailure_Cause.OVERLAPPING_RESERVATION, "this user already holds a booking for the requested slot");
    }
    await refundTopUps(ctx, bookingId, money);
    throw error;
  }
  if (response.bookingFailure) await refundTopUps(ctx, bookingId, money);
  else await settleOwedRefunds(ctx, bookingId);
  return response;
}

/**
 * Where a move goes: the slot with the changed start, duration or party
 * size, with a spot open; or the answer when it cannot move (not active,
 * asynchronous, started, no such slot, or already there). Reads only.
 */
async function destinationOf(
  repositories: Pick<ReadRepositories, "inventory">,
  record: BookingRecord,
  change: Extract<Change, { kind: "move" }>,
  now: number,
): Promise<{ record: BookingRecord; destination: SlotRecord } | { answer: UpdateBookingResponse }> {
  const { booking } = record;
  const { inventory } = repositories;
  const current = (await inventory.getSlot(record.slotId))!;
  if (!holdsSpot(booking.status)) {
    return {
      answer: failed(
        BookingFailure_Cause.BOOKING_NOT_CANCELLABLE,
        `a booking in status ${BookingStatus[booking.status]} cannot be changed`,
      ),
    };
  }
  if (isAsynchronous(current.confirmationMode)) {
    return {
      answer: failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "an asynchronous booking cannot be modified: cancel it and book again"),
    };
  }
  if (current.startSec <= now) return { answer: failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "the booking has already started") };
  const target: SlotQuery = {
    merchantId: current.merchantId,
    serviceId: current.serviceId,
    startSec: change.startSec ?? current.startSec,
    durationSec: change.durationSec ?? current.durationSec,
    staffId: current.staffId,
    roomId: current.roomId,
    partySize: change.partySize ?? current.partySize,
  };
  const [destination] = await inventory.findSlots(target, 1);
  if (destination?.slotId === current.slotId) return { answer: create(UpdateBookingResponseSchema, { booking }) };
  if (!destination || !isBookable(destination, now) || isAsynchronous(destination.confirmationMode)) {
    return { answer: failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "the requested slot has no open spot") };
  }
  return { record, destination };
}

/** Inside the transaction: takes the destination's spot, gives back the old one, and rewrites the booking. */
async function commitMove(
  tx: Repositories,
  record: BookingRecord,
  destination: SlotRecord,
  now: number,
  applyMoney: (moved: Booking) => Promise<void>,
): Promise<UpdateBookingResponse> {
  const { inventory } = tx;
  await inventory.lockSlots([destination.slotId, record.slotId]);
  if (!(await inventory.takeSpot(destination.slotId))) {
    return failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "the requested slot has no open spot");
  }
  const current = (await inventory.getSlot(record.slotId))!;
  await inventory.releaseSpot(current.slotId);
  const moved = clone(BookingSchema, record.booking);
  moved.slot = slotMessage(destination);
  await applyMoney(moved);
  await tx.bookings.update({ ...record, booking: moved, slotId: destination.slotId }, now);
  await queueAvailabilityReplace(tx.outbox, current, now);
  await queueAvailabilityReplace(tx.outbox, destination, now);
  return create(UpdateBookingResponseSchema, { booking: moved });
}
