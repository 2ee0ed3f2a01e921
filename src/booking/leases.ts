import { create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  CreateLeaseResponseSchema,
  LeaseSchema,
  type CreateLeaseRequest,
  type CreateLeaseResponse,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingContext } from "./context.js";
import { InvalidArgumentError } from "./errors.js";
import { bookingFailure } from "./failures.js";
import { required, requiredString, seconds } from "./request-fields.js";
import { bookableSlotQuery, isBookable, slotMessage } from "./slots.js";

/**
 * Gives the spots of expired leases back to their slots. Asks the database
 * every time (one lookup of the earliest held expiry, on an index), never a
 * memory of this process: a lease taken by another server, or before a
 * restart, expires just the same.
 *
 * Safe to run in several instances at once (every request of every instance
 * runs it first): a lease's spot goes back only with the conditional
 * `endHold` that ended its hold, so a second unit finds it ended and gives
 * back nothing; on PostgreSQL that unit is refused for serialization and
 * re-run, having waited for the first, so its request sees the spots back.
 * Hence no lock that a request would skip (docs/several-instances.md).
 */
export async function releaseExpiredLeases(ctx: BookingContext, nowSec: number): Promise<void> {
  const { store } = ctx;
  const earliestExpirySec = await store.read.leases.earliestHeldExpirySec();
  if (earliestExpirySec === undefined || nowSec < earliestExpirySec) return;
  await store.transaction(async (tx) => {
    for (const expired of await tx.leases.listExpired(nowSec)) {
      if (await tx.leases.endHold(expired.lease.leaseId, "expired")) await tx.inventory.releaseSpot(expired.slotId);
    }
  });
}

/**
 * `releaseExpiredLeases` before a read (an availability lookup): when the
 * database takes no writes right now (locked by an import, a full disk), the
 * read still answers, the failure is reported, and an expired lease's spot
 * is given back by a later request.
 */
export async function releaseExpiredLeasesBeforeRead(ctx: BookingContext, nowSec: number): Promise<void> {
  try {
    await releaseExpiredLeases(ctx, nowSec);
  } catch (error) {
    ctx.reportJobFailure("lease_expiry", error);
  }
}

/**
 * CreateLease: holds one spot of the slot until the lease expires. The
 * `user_reference` is the idempotency key: a retry answers the lease made.
 */
export async function createLease(ctx: BookingContext, request: CreateLeaseRequest): Promise<CreateLeaseResponse> {
  const requested = required(request.lease, "lease");
  const userReference = requiredString(requested.userReference, "lease.user_reference");
  const query = bookableSlotQuery(requested.slot, "lease.slot");
  const requestedExpiry = seconds(requested.leaseExpirationTimeSec, "lease.lease_expiration_time_sec", {
    positive: false,
  });
  const now = ctx.clock.nowSec();
  if (requestedExpiry !== 0 && requestedExpiry <= now) {
    throw new InvalidArgumentError("lease.lease_expiration_time_sec", "is in the past");
  }
  // The partner may shorten an over-long hold; an unset expiry gets the longest.
  const expiry = Math.min(requestedExpiry || Number.POSITIVE_INFINITY, now + ctx.maxLeaseSec);
  await releaseExpiredLeases(ctx, now);

  return ctx.store.transaction(async (tx) => {
    const existing = await tx.leases.findByUserReference(userReference);
    if (existing) return create(CreateLeaseResponseSchema, { lease: existing.lease });

    const slot = (await tx.inventory.findSlots(query, 1)).find((candidate) => isBookable(candidate, now));
    if (!slot || !(await tx.inventory.takeSpot(slot.slotId))) {
      return create(CreateLeaseResponseSchema, {
        bookingFailure: bookingFailure(BookingFailure_Cause.SLOT_UNAVAILABLE, "no open spot for this slot"),
      });
    }
    const lease = create(LeaseSchema, {
      leaseId: ctx.newId(),
      slot: slotMessage(slot),
      userReference,
      leaseExpirationTimeSec: BigInt(expiry),
    });
    await tx.leases.insert({ lease, slotId: slot.slotId, state: "held" }, now);
    return create(CreateLeaseResponseSchema, { lease });
  });
}
