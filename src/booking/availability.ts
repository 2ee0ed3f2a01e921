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
import type { SlotAvailability, SlotQuery } from "../store/repositories.js";
import type { BookingContext } from "./context.js";
import { releaseExpiredLeasesBeforeRead } from "./leases.js";
import { requiredString, seconds } from "./request-fields.js";
import { bookableSlotQuery, isBookable, resourceQuery, slotMatches } from "./slots.js";

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
  await releaseExpiredLeasesBeforeRead(ctx, now);
  const [slot] = await ctx.store.read.inventory.findSlots(query, firstMatch);
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
  await releaseExpiredLeasesBeforeRead(ctx, now);
  const answers = await matchingSlots(ctx, queries);
  const slotTimeAvailability = request.slotTime.map((slotTime, index) => {
    const matches = answers[index];
    // As findSlots orders them: a slot with open spots first.
    const slot = matches.find((candidate) => candidate.spotsOpen > 0) ?? matches[0];
    return create(SlotTimeAvailabilitySchema, {
      slotTime: slot ? { ...slotTime, confirmationMode: slot.confirmationMode } : slotTime,
      available: slot !== undefined && isBookable(slot, now),
    });
  });
  return create(BatchAvailabilityLookupResponseSchema, { slotTimeAvailability });
}

/** Slot times of one service further apart than this are looked up one by one. */
const maxRangeSec = 31 * 24 * 3600;

/**
 * Looks up many slot times at once: one range query per service instead of
 * one query per slot time (a lookup of 100 times is one or two queries), then
 * matches each slot time in memory. Answers in the order of `queries`.
 */
async function matchingSlots(ctx: BookingContext, queries: SlotQuery[]): Promise<SlotAvailability[][]> {
  const { inventory } = ctx.store.read;
  const byStart = new Map<string, SlotAvailability[]>();
  const keyOf = (serviceId: string, startSec: number) => `${serviceId}\u0000${startSec}`;
  const rangeLoaded = new Set<string>();
  for (const [serviceId, starts] of groupBy(queries, (query) => query.serviceId)) {
    const from = Math.min(...starts.map((query) => query.startSec));
    const to = Math.max(...starts.map((query) => query.startSec));
    if (to - from > maxRangeSec) continue;
    rangeLoaded.add(serviceId);
    for (const slot of await inventory.slotsStartingBetween(queries[0].merchantId, serviceId, from, to)) {
      const key = keyOf(serviceId, slot.startSec);
      const atStart = byStart.get(key);
      if (atStart) atStart.push(slot);
      else byStart.set(key, [slot]);
    }
  }
  const answers: SlotAvailability[][] = [];
  for (const query of queries) {
    answers.push(
      rangeLoaded.has(query.serviceId)
        ? (byStart.get(keyOf(query.serviceId, query.startSec)) ?? []).filter((slot) => slotMatches(slot, query))
        : await inventory.findSlots(query, firstMatch),
    );
  }
  return answers;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
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
