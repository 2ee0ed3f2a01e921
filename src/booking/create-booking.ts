import { create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingSchema,
  BookingStatus,
  CreateBookingResponseSchema,
  OfferInfoSchema,
  PaymentInformation_PaymentProcessedBy,
  PaymentInformationSchema,
  type CreateBookingRequest,
  type CreateBookingResponse,
  type UserInformation,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { queueAvailabilityReplace } from "../notify/availability-notification.js";
import { ConstraintViolation, sameUserKeys, type Repositories, type SlotQuery, type SlotRecord } from "../store/repositories.js";
import { refundBookingPayments } from "./refund-payments.js";
import {
  paidBookingId,
  paymentInformationAfter,
  paymentPlanFor,
  takePayment,
  type PaymentPlan,
  type TakenPayment,
} from "./take-payments.js";
import { prepaymentStatusOf } from "./booking-status.js";
import { decisionDeadlineSec, type BookingContext } from "./context.js";
import { InvalidArgumentError } from "./errors.js";
import { bookingFailure } from "./failures.js";
import { releaseExpiredLeases } from "./leases.js";
import { required, requiredString } from "./request-fields.js";
import { bookableSlotQuery, isAsynchronous, isBookable, slotMatches, slotMessage } from "./slots.js";

/** Slots of one query looked at for a booking (differing only in unset resources). */
const candidateLimit = 50;

const leaseGone = "the lease is expired or already used";

/**
 * How a booking's unit runs: batched (a group commit on SQLite), and read
 * committed on a server database, which it is written for: it decides
 * nothing from a value read earlier staying as it was. The token is held
 * first (`lockToken`: a second request of the token waits, then finds the
 * first's booking); the spot is a conditional write (`takeSpot`) and a lease
 * one too (`endHold`); the user's one booking per slot and the token's one
 * booking are constraints. What it reads besides (the slot's key, its
 * payment terms, an offer) is the feed's, which a concurrent import may
 * change a moment later just as well.
 */
const bookingUnit = { batch: true, isolation: "read committed" } as const;

/**
 * CreateBooking. The token identifies the request: a retry answers the booking
 * made for it, never an older booking of another token. Everything from the
 * token lookup to taking the spot runs as one unit of work (batched: a group
 * commit on SQLite), so parallel requests can never book more spots than the
 * slot has. The database has the last word on the token and on the user's one
 * booking per slot (constraints): a unit that loses such a race to another
 * instance is run again, and then finds the other's booking.
 *
 * A slot whose payment policy takes money (prepayment, deposit; an OPTIONAL
 * prepayment only when the request's `payment_information.prepayment_status`
 * is PREPAYMENT_PROVIDED, see `prepaidAtBooking`) or keeps the card (no-show
 * fee, card required) is found by that transaction, which then books nothing:
 * the payment is taken outside it (the processor is remote), with processor
 * idempotency keys derived from the token, and a second transaction books the
 * slot it was priced for; if that fails, the charge is refunded. A payment
 * refusal books nothing. Most slots take no payment, so most bookings are a
 * single transaction.
 */
export async function createBooking(
  ctx: BookingContext,
  request: CreateBookingRequest,
): Promise<CreateBookingResponse> {
  const token = requiredString(request.idempotencyToken, "idempotency_token");
  const query = bookableSlotQuery(request.slot, "slot");
  const user = validUser(request.userInformation);
  const offerId = request.offerId || request.dealId;
  const partySize = query.partySize || 1;
  const paidByUs = request.paymentInformation?.paymentProcessedBy !== PaymentInformation_PaymentProcessedBy.PROCESSED_BY_GOOGLE;
  const now = ctx.clock.nowSec();
  await releaseExpiredLeases(ctx, now);

  /** One attempt to book; `payment` is what was taken for the slot the previous attempt found. */
  const unit = (payment?: Payment) => async (tx: Repositories): Promise<CreateBookingResponse | { paymentDue: Omit<Payment, "taken"> }> => {
    const bookedForToken = await tx.idempotency.lockToken(token);
    if (bookedForToken !== undefined) {
      return create(CreateBookingResponseSchema, { booking: (await tx.bookings.get(bookedForToken))!.booking });
    }

    const reserved = request.leaseRef
      ? await slotHeldByLease(tx, request.leaseRef.leaseId, query, now)
      : await slotWithOpenSpot(tx, query, user, now);
    if ("failure" in reserved) return create(CreateBookingResponseSchema, { bookingFailure: reserved.failure });
    const { slot } = reserved;
    if (!payment) {
      const plan = paidByUs ? await paymentPlanFor(tx.inventory, slot, partySize, request.paymentInformation) : undefined;
      if (plan) return { paymentDue: { bookingId: paidBookingId(token), plan, slotId: slot.slotId, merchantId: slot.merchantId } };
    } else if (slot.slotId !== payment.slotId) {
      // What was paid was priced for one slot: the booking must be that slot.
      return failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "the slot was taken while the payment was processed");
    }

    if (offerId && !(await tx.inventory.hasOffer(slot.merchantId, slot.serviceId, offerId))) {
      return failed(BookingFailure_Cause.OFFER_UNAVAILABLE, `offer ${offerId} is not available for this slot`);
    }
    if (request.leaseRef) {
      if (!(await tx.leases.endHold(request.leaseRef.leaseId, "consumed"))) {
        return failed(BookingFailure_Cause.LEASE_EXPIRED, leaseGone);
      }
    } else if (!(await tx.inventory.takeSpot(slot.slotId))) {
      return failed(BookingFailure_Cause.SLOT_UNAVAILABLE, "no open spot for this slot");
    }

    const asynchronous = isAsynchronous(slot.confirmationMode);
    const booking = create(BookingSchema, {
      bookingId: payment?.bookingId ?? ctx.newId(),
      slot: slotMessage(slot),
      userInformation: user,
      status: asynchronous ? BookingStatus.PENDING_MERCHANT_CONFIRMATION : BookingStatus.CONFIRMED,
      paymentInformation: payment
        ? paymentInformationAfter(payment.plan, payment.taken, partySize)
        : create(PaymentInformationSchema, request.paymentInformation),
      offerInfo: offerId ? create(OfferInfoSchema, { offerId }) : undefined,
    });
    booking.paymentInformation!.prepaymentStatus = prepaymentStatusOf(booking);
    await tx.bookings.insert(
      {
        booking,
        slotId: slot.slotId,
        holdsSpot: true,
        createdAtSec: now,
        additionalRequest: request.additionalRequest,
        decideBySec: asynchronous ? decisionDeadlineSec(ctx, now, slot.startSec) : 0,
      },
      now,
    );
    await tx.idempotency.record(token, booking.bookingId, now);
    await queueAvailabilityReplace(tx.outbox, slot, now);
    return create(CreateBookingResponseSchema, { booking });
  };
  const book = async (payment?: Payment) => {
    try {
      return await ctx.store.transaction(unit(payment), bookingUnit);
    } catch (error) {
      if (!(error instanceof ConstraintViolation)) throw error;
      // Another instance committed first: its booking of this token is the answer; its booking of this user on the slot refuses ours.
      if (error.constraint === "one_booking_per_idempotency_token") return ctx.store.transaction(unit(payment), bookingUnit);
      if (error.constraint === "one_holding_booking_per_user_and_slot") {
        return create(CreateBookingResponseSchema, { bookingFailure: overlapping() });
      }
      throw error;
    }
  };

  const first = await book();
  if (!("paymentDue" in first)) return booked(ctx, first);

  const due = first.paymentDue;
  const paid = await takePayment(ctx, due.plan, request, { bookingId: due.bookingId, merchantId: due.merchantId });
  if ("failure" in paid) return create(CreateBookingResponseSchema, { bookingFailure: paid.failure });
  const second = await book({ ...due, taken: paid.taken });
  if ("paymentDue" in second) throw new Error("a paid booking was asked to pay again");
  // Paid, but not booked (the slot went meanwhile): the money goes back.
  if (!second.booking) await refundBookingPayments(ctx, due.bookingId);
  return booked(ctx, second);
}

interface Payment {
  bookingId: string;
  merchantId: string;
  slotId: number;
  plan: PaymentPlan;
  taken: TakenPayment[];
}

/** Wakes the notifier when the answer is a booking (its availability update is queued). */
function booked(ctx: BookingContext, response: CreateBookingResponse): CreateBookingResponse {
  if (response.booking) ctx.notificationQueued();
  return response;
}

type Reservation = { slot: SlotRecord } | { failure: ReturnType<typeof bookingFailure> };

function failed(cause: BookingFailure_Cause, description: string): CreateBookingResponse {
  return create(CreateBookingResponseSchema, { bookingFailure: bookingFailure(cause, description) });
}

function validUser(user: UserInformation | undefined): UserInformation {
  const given = required(user, "user_information");
  requiredString(given.userId, "user_information.user_id");
  requiredString(given.email, "user_information.email");
  return given;
}

const overlapping = () =>
  bookingFailure(BookingFailure_Cause.OVERLAPPING_RESERVATION, "this user already holds a booking for this slot");

/**
 * A slot with a spot open. The same user (`sameUserKeys`) booking the same
 * slot again under a new token is a duplicate, not a second reservation: on
 * any of the slots the query matches (the schema's constraint holds it per slot).
 */
async function slotWithOpenSpot(tx: Repositories, query: SlotQuery, user: UserInformation, now: number): Promise<Reservation> {
  const candidates = await tx.inventory.findSlots(query, candidateLimit);
  const identity = sameUserKeys(user);
  for (const slot of candidates) {
    if ((await tx.bookings.findActiveOnSlotForUser(slot.slotId, identity)) !== undefined) return { failure: overlapping() };
  }
  const slot = candidates.find((candidate) => isBookable(candidate, now));
  if (!slot) return { failure: bookingFailure(BookingFailure_Cause.SLOT_UNAVAILABLE, "no open spot for this slot") };
  return { slot };
}

/** The slot a live lease holds; its spot is already taken for this booking. */
async function slotHeldByLease(tx: Repositories, leaseId: string, query: SlotQuery, now: number): Promise<Reservation> {
  const held = await tx.leases.get(requiredString(leaseId, "lease_ref.lease_id"));
  if (!held || held.state !== "held" || Number(held.lease.leaseExpirationTimeSec) <= now) {
    return { failure: bookingFailure(BookingFailure_Cause.LEASE_EXPIRED, leaseGone) };
  }
  const slot = (await tx.inventory.getSlot(held.slotId))!;
  if (!slotMatches(slot, query)) throw new InvalidArgumentError("slot", "does not match the slot of the lease");
  return { slot };
}
