import { clone, create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingSchema,
  BookingStatus,
  type Booking,
  type BookingFailure,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import {
  CancelBookingResponseSchema,
  ConfirmBookingResponseSchema,
  DeclineBookingResponseSchema,
  FailBookingResponseSchema,
  ListBookingsResponseSchema,
  MerchantBookingSchema,
  type CancelBookingRequest,
  type CancelBookingResponse,
  type ConfirmBookingRequest,
  type ConfirmBookingResponse,
  type DeclineBookingRequest,
  type DeclineBookingResponse,
  type FailBookingRequest,
  type FailBookingResponse,
  type ListBookingsRequest,
  type ListBookingsResponse,
} from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import { holdsSpot } from "./booking-status.js";
import { settleOwedRefunds } from "./refund-payments.js";
import { recordOwedRefunds } from "./owed-refunds.js";
import type { BookingContext } from "./context.js";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from "./errors.js";
import { queueAvailabilityReplace } from "../notify/availability-notification.js";
import { bookingPatch } from "../notify/booking-notification.js";
import { bookingFailure } from "./failures.js";
import { requiredString, seconds } from "./request-fields.js";

/**
 * The merchant's decisions on its bookings (MerchantService): confirm,
 * decline or fail a pending booking, cancel a pending or confirmed one, and
 * list bookings. Every status change goes through `transition`, one store
 * transaction each, so racing decisions end in exactly one state.
 */

/**
 * Whom a call acts for: a merchant (may only touch its own bookings) or the
 * admin (any merchant). Resolved by the transport's authentication.
 */
export type MerchantCaller = { kind: "admin" } | { kind: "merchant"; merchantId: string };

export const defaultPageSize = 50;
export const maxPageSize = 500;

/** One allowed status change. */
interface TransitionRule {
  /** The statuses the booking may be in; any other answers failed_precondition. */
  from: readonly BookingStatus[];
  to: BookingStatus;
  /** Refuse once the slot has started (cancellation). */
  beforeStartOnly?: boolean;
  /** Refuse before the slot has started (no-show). */
  afterStartOnly?: boolean;
  /** Everything the booking took is owed back (recorded with the change; see owed-refunds.ts). */
  refundsEverything?: boolean;
}

export interface TransitionResult {
  before: Booking;
  after: Booking;
  /** The failure recorded with a FAILED booking. */
  failure?: BookingFailure;
}

const pending = [BookingStatus.PENDING_MERCHANT_CONFIRMATION] as const;

export const merchantTransitions = {
  confirm: { from: pending, to: BookingStatus.CONFIRMED },
  decline: { from: pending, to: BookingStatus.DECLINED_BY_MERCHANT, refundsEverything: true },
  fail: { from: pending, to: BookingStatus.FAILED, refundsEverything: true },
  // The merchant cancels: whatever the terms say of a customer's cancellation, the customer gets everything back.
  cancel: {
    from: [BookingStatus.PENDING_MERCHANT_CONFIRMATION, BookingStatus.CONFIRMED],
    to: BookingStatus.CANCELED,
    beforeStartOnly: true,
    refundsEverything: true,
  },
  noShow: { from: [BookingStatus.CONFIRMED], to: BookingStatus.NO_SHOW, afterStartOnly: true },
  noShowPenalized: { from: [BookingStatus.CONFIRMED], to: BookingStatus.NO_SHOW_PENALIZED, afterStartOnly: true },
} satisfies Record<string, TransitionRule>;

/**
 * The single place where a merchant's decision changes a booking's status:
 * inside one store transaction it checks ownership and the current status,
 * writes the new status, gives the spot back when the new status no longer
 * holds one, and queues the notification that tells Google. The change and
 * its notification commit together or not at all.
 */
export async function transition(
  ctx: BookingContext,
  caller: MerchantCaller,
  bookingId: string,
  rule: TransitionRule,
  failure?: BookingFailure,
): Promise<TransitionResult> {
  const now = ctx.clock.nowSec();
  const result = await ctx.store.transaction(async (tx) => {
    const record = await tx.bookings.get(bookingId);
    if (!record) throw new NotFoundError(`booking ${bookingId} does not exist`);
    const before = record.booking;
    assertMayActFor(caller, before.slot?.merchantId ?? "");
    if (!rule.from.includes(before.status)) {
      throw new FailedPreconditionError(
        `booking ${bookingId} is ${BookingStatus[before.status]}: it cannot become ${BookingStatus[rule.to]}`,
      );
    }
    if (rule.beforeStartOnly && Number(before.slot?.startSec ?? 0n) <= now) {
      throw new FailedPreconditionError(`booking ${bookingId} has already started: it cannot be canceled`);
    }
    if (rule.afterStartOnly && Number(before.slot?.startSec ?? 0n) > now) {
      throw new FailedPreconditionError(`booking ${bookingId} has not started yet: it cannot be a no-show`);
    }
    const after = clone(BookingSchema, before);
    after.status = rule.to;
    const stillHolds = holdsSpot(rule.to);
    // A decision made is no longer awaited: its deadline goes.
    await tx.bookings.update({ ...record, booking: after, holdsSpot: record.holdsSpot && stillHolds, decideBySec: 0 }, now);
    await tx.outbox.enqueue(bookingPatch(after, { updateMask: ["status"], failure }), now);
    if (rule.refundsEverything) await recordOwedRefunds(tx, bookingId, now);
    if (record.holdsSpot && !stillHolds) {
      await tx.inventory.releaseSpot(record.slotId);
      await queueAvailabilityReplace(tx.outbox, (await tx.inventory.getSlot(record.slotId))!, now);
    }
    return { before, after, failure };
  });
  ctx.notificationQueued();
  return result;
}

export function assertMayActFor(caller: MerchantCaller, merchantId: string): void {
  if (caller.kind === "merchant" && caller.merchantId !== merchantId) {
    throw new PermissionDeniedError(`this token may not act for merchant ${merchantId || "(none)"}`);
  }
}

function bookingIdOf(request: { bookingId: string }): string {
  return requiredString(request.bookingId, "booking_id");
}

export async function confirmBooking(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: ConfirmBookingRequest,
): Promise<ConfirmBookingResponse> {
  const { after } = await transition(ctx, caller, bookingIdOf(request), merchantTransitions.confirm);
  return create(ConfirmBookingResponseSchema, { booking: after });
}

export async function declineBooking(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: DeclineBookingRequest,
): Promise<DeclineBookingResponse> {
  const bookingId = bookingIdOf(request);
  const { after } = await transition(ctx, caller, bookingId, merchantTransitions.decline);
  return create(DeclineBookingResponseSchema, { booking: (await settleOwedRefunds(ctx, bookingId)) ?? after });
}

/**
 * The merchant cancels a pending or confirmed booking: Google hears CANCELED
 * at once, the customer gets back everything the booking took, and once the
 * refunds are through Google hears PREPAYMENT_REFUNDED (a second PATCH, with
 * both fields). Refunds the processor cannot make now stay owed and are made
 * by the next reconciliation; the cancellation itself holds either way. A
 * decline and a failure refund the same way.
 */
export async function cancelBooking(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: CancelBookingRequest,
): Promise<CancelBookingResponse> {
  const bookingId = bookingIdOf(request);
  const { after } = await transition(ctx, caller, bookingId, merchantTransitions.cancel);
  return create(CancelBookingResponseSchema, { booking: (await settleOwedRefunds(ctx, bookingId)) ?? after });
}

export async function failBooking(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: FailBookingRequest,
): Promise<FailBookingResponse> {
  const bookingId = bookingIdOf(request);
  if (request.cause === BookingFailure_Cause.CAUSE_UNSPECIFIED || BookingFailure_Cause[request.cause] === undefined) {
    throw new InvalidArgumentError("cause", "is required: one of BookingFailure.Cause other than CAUSE_UNSPECIFIED");
  }
  const failure = bookingFailure(request.cause, request.description);
  const { after } = await transition(ctx, caller, bookingId, merchantTransitions.fail, failure);
  return create(FailBookingResponseSchema, { booking: (await settleOwedRefunds(ctx, bookingId)) ?? after, bookingFailure: failure });
}

/** ListBookings: the merchant's bookings, earliest slot start first, keyset-paged. */
export async function listMerchantBookings(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: ListBookingsRequest,
): Promise<ListBookingsResponse> {
  const merchantId = requiredString(request.merchantId, "merchant_id");
  assertMayActFor(caller, merchantId);
  for (const status of request.status) {
    if (status === BookingStatus.BOOKING_STATUS_UNSPECIFIED || BookingStatus[status] === undefined) {
      throw new InvalidArgumentError("status", `not a booking status: ${status}`);
    }
  }
  const startSecFrom = seconds(request.startSecFrom, "start_sec_from", { positive: false });
  const before = seconds(request.startSecBefore, "start_sec_before", { positive: false });
  if (request.pageSize < 0) throw new InvalidArgumentError("page_size", "must not be negative");
  const pageSize = Math.min(request.pageSize || defaultPageSize, maxPageSize);
  const after = request.pageToken ? decodePageToken(request.pageToken) : undefined;

  const records = await ctx.store.read.bookings.listForMerchant({
    merchantId,
    statuses: [...request.status],
    startSecFrom,
    startSecBefore: before === 0 ? undefined : before,
    after,
    limit: pageSize + 1,
  });
  const page = records.slice(0, pageSize).map((record) => {
    const pending = record.booking.status === BookingStatus.PENDING_MERCHANT_CONFIRMATION;
    return create(MerchantBookingSchema, {
      booking: record.booking,
      additionalRequest: record.additionalRequest,
      createdAtSec: BigInt(record.createdAtSec),
      decisionDeadlineSec: pending ? BigInt(record.decideBySec) : 0n,
    });
  });
  const last = page[page.length - 1]?.booking;
  const nextPageToken =
    records.length > pageSize && last
      ? encodePageToken({ startSec: Number(last.slot?.startSec ?? 0n), bookingId: last.bookingId })
      : "";
  return create(ListBookingsResponseSchema, { bookings: page, nextPageToken });
}

type PagePosition = { startSec: number; bookingId: string };

export function encodePageToken(position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.startSec, position.bookingId]), "utf8").toString("base64url");
}

export function decodePageToken(token: string): PagePosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === "string"
    ) {
      return { startSec: value[0] as number, bookingId: value[1] as string };
    }
  } catch {
    // fall through
  }
  throw new InvalidArgumentError("page_token", "is not a token this server issued");
}
