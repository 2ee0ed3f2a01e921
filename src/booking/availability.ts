import { create } from "@bufbuild/protobuf";
import {
  BatchAvailabilityLookupResponseSchema,
  CheckAvailabilityResponseSchema,
  SlotTimeAvailabilitySchema,
  type BatchAvailabilityLookupRequest,
  type BatchAvailabilityLookupResponse,
  type CheckAvailabilityRequest,
  type CheckAvailabilityResponse,
  type SlotTime,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { SlotQuery } from "../store/repositories.js";
import type { BookingContext } from "./context.js";
import { releaseExpiredLeases } from "./leases.js";
import { requiredString, seconds } from "./request-fields.js";
import { bookableSlotQuery, isBookable, resourceQuery } from "./slots.js";

/** Candidates looked at per query: the open ones come first, so one is enough. */
const firstMatch = 1;

/**
 * CheckAvailability (legacy): open spots of the slot, with the inventory's
 * confirmation mode and duration requirement. A slot not in inventory, or
 * already started, has 0 spots: that is an answer, not an error.
 */
export async function checkAvailability(
  ctx: BookingContext,
  request: CheckAvailabilityRequest,
): Promise<CheckAvailabilityResponse> {
  const query = bookableSlotQuery(request.slot, "slot");
  const now = ctx.clock.nowSec();
  releaseExpiredLeases(ctx, now);
  const [slot] = ctx.store.inventory.findSlots(query, firstMatch);
  const answered = { ...request.slot! };
  if (!slot) return create(CheckAvailabilityResponseSchema, { slot: answered, countAvailable: 0 });
  answered.confirmationMode = slot.confirmationMode;
  return create(CheckAvailabilityResponseSchema, {
    slot: answered,
    countAvailable: isBookable(slot, now) ? slot.spotsOpen : 0,
    durationRequirement: slot.durationRequirement,
  });
}

/**
 * BatchAvailabilityLookup: one answer per requested slot time, in request
 * order, from live inventory. Duration and resources left unset match any.
 */
export async function batchAvailabilityLookup(
  ctx: BookingContext,
  request: BatchAvailabilityLookupRequest,
): Promise<BatchAvailabilityLookupResponse> {
  const merchantId = requiredString(request.merchantId, "merchant_id");
  const queries = request.slotTime.map((slotTime, index) =>
    slotTimeQuery(merchantId, slotTime, `slot_time[${index}]`),
  );
  const now = ctx.clock.nowSec();
  releaseExpiredLeases(ctx, now);
  const { inventory } = ctx.store;
  const slotTimeAvailability = request.slotTime.map((slotTime, index) => {
    const [slot] = inventory.findSlots(queries[index], firstMatch);
    return create(SlotTimeAvailabilitySchema, {
      slotTime: slot ? { ...slotTime, confirmationMode: slot.confirmationMode } : slotTime,
      available: slot !== undefined && isBookable(slot, now),
    });
  });
  return create(BatchAvailabilityLookupResponseSchema, { slotTimeAvailability });
}

function slotTimeQuery(merchantId: string, slotTime: SlotTime, field: string): SlotQuery {
  return {
    merchantId,
    serviceId: requiredString(slotTime.serviceId, `${field}.service_id`),
    startSec: seconds(slotTime.startSec, `${field}.start_sec`, { positive: true }),
    durationSec: seconds(slotTime.durationSec, `${field}.duration_sec`, { positive: false }),
    ...resourceQuery(slotTime.resourceIds, `${field}.resource_ids`),
  };
}
