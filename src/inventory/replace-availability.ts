import { create } from "@bufbuild/protobuf";
import {
  ReplaceAvailabilityResponseSchema,
  type ReplaceAvailabilityRequest,
  type ReplaceAvailabilityResponse,
} from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import { InvalidArgumentError } from "../booking/errors.js";
import type { MerchantCaller } from "../booking/merchant-decisions.js";
import { requiredString, seconds } from "../booking/request-fields.js";
import { resourceQuery } from "../booking/slots.js";
import type { SlotFeedRecord, SlotKey, SlotStock, SlotWindowQuery, UpsertOutcome } from "../store/repositories.js";
import {
  assertInventoryHas,
  merchantOf,
  queueAvailabilityChanges,
  slotsOfWindow,
  slotState,
  windowOf,
  withHoldingBookings,
  type InventoryContext,
} from "./availability-window.js";
import { slotIdentity, statedSlot } from "./stated-slot.js";

/** The slots a replacement covers: a window of one service, maybe one duration and some resources. */
type Restriction = Omit<SlotWindowQuery, "after" | "limit">;

/**
 * ReplaceAvailability: Google's service_availability semantics for one
 * service. In one unit: every slot of the restriction is replaced by the
 * given ones (upserted as a feed record is, so the spots this server holds
 * stay held and are not counted again), the slots not given again are
 * removed (kept, with no spots, when bookings refer to them), and the
 * availability:replace of every start time that changed is queued.
 */
export async function replaceAvailability(
  ctx: InventoryContext,
  caller: MerchantCaller,
  request: ReplaceAvailabilityRequest,
): Promise<ReplaceAvailabilityResponse> {
  const merchantId = merchantOf(caller, request);
  const serviceId = requiredString(request.serviceId, "service_id");
  const restriction: Restriction = {
    merchantId,
    serviceId,
    ...windowOf(request),
    durationSec: seconds(request.durationSec, "duration_sec", { positive: false }),
    ...resourceQuery(request.resources, "resources"),
  };
  const given = givenSlots(restriction, request);

  const nowSec = ctx.clock.nowSec();
  const { response, queued } = await ctx.store.transaction(async (tx) => {
    await assertInventoryHas(tx.inventory, merchantId, serviceId);
    const before = await slotsOfWindow(tx.inventory, restriction);
    const counts = { inserted: 0, updated: 0, unchanged: 0, removed: 0 };
    const changed: SlotKey[] = [];
    for (const slot of given) {
      const outcome: UpsertOutcome = await tx.inventory.upsertSlot(slot);
      counts[outcome] += 1;
      if (outcome !== "unchanged") changed.push(slot);
    }
    const givenIds = new Set(given.map(slotIdentity));
    const keptIds = new Set<number>();
    for (const slot of before.filter((existing) => !givenIds.has(slotIdentity(existing)))) {
      if ((await tx.inventory.removeSlot(slot.slotId)) === "kept") keptIds.add(slot.slotId);
      counts.removed += 1;
      changed.push(slot);
    }
    const after = await slotsOfWindow(tx.inventory, restriction);
    const afterById = new Map(after.map((slot) => [slotIdentity(slot), slot]));
    const kept = after.filter((slot) => keptIds.has(slot.slotId));
    const response = create(ReplaceAvailabilityResponseSchema, {
      ...counts,
      slots: given.map((slot) => slotState(afterById.get(slotIdentity(slot)) as SlotStock)),
      keptForBookings: await withHoldingBookings(tx.bookings, merchantId, kept, { includeEmpty: true }),
    });
    return { response, queued: await queueAvailabilityChanges(tx.outbox, changed, nowSec) };
  });
  if (queued) ctx.notificationQueued();
  return response;
}

/** The request's slots as feed records: each in the window and the restriction, no two the same slot. */
function givenSlots(restriction: Restriction, request: ReplaceAvailabilityRequest): SlotFeedRecord[] {
  const seen = new Map<string, number>();
  return request.slots.map((given, index) => {
    const field = `slots[${index}]`;
    const slot = statedSlot(restriction.merchantId, restriction.serviceId, given, field);
    if (slot.startSec < restriction.fromSec || slot.startSec >= restriction.toSec) {
      throw new InvalidArgumentError(
        `${field}.start_sec`,
        `must be in the window replaced [${restriction.fromSec}, ${restriction.toSec}), got ${slot.startSec}`,
      );
    }
    if (restriction.durationSec !== 0 && slot.durationSec !== restriction.durationSec) {
      throw new InvalidArgumentError(`${field}.duration_sec`, `must be the duration replaced (${restriction.durationSec}), got ${slot.durationSec}`);
    }
    for (const [name, restricted, value] of [
      ["staff_id", restriction.staffId, slot.staffId],
      ["room_id", restriction.roomId, slot.roomId],
      ["party_size", restriction.partySize, slot.partySize],
    ] as const) {
      if (restricted && value !== restricted) {
        throw new InvalidArgumentError(`${field}.resources.${name}`, `must be the ${name} replaced (${restricted}), got ${value || "none"}`);
      }
    }
    const identity = slotIdentity(slot);
    const earlier = seen.get(identity);
    if (earlier !== undefined) throw new InvalidArgumentError(field, `is the same slot as slots[${earlier}] (start, duration and resources)`);
    seen.set(identity, index);
    return slot;
  });
}
