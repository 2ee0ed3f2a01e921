import { create } from "@bufbuild/protobuf";
import {
  CloseAvailabilityResponseSchema,
  type CloseAvailabilityRequest,
  type CloseAvailabilityResponse,
} from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import type { MerchantCaller } from "../booking/merchant-decisions.js";
import type { SlotKey } from "../store/repositories.js";
import {
  assertInventoryHas,
  merchantOf,
  queueAvailabilityChanges,
  slotsOfWindow,
  windowOf,
  windowQuery,
  withHoldingBookings,
  type InventoryContext,
} from "./availability-window.js";

/**
 * CloseAvailability: no new bookings in a time range, for the merchant or
 * one of its services. Every slot starting in it is stated with no spot open
 * (`closeSlot`, as a feed record with `spots_open: 0`), in one unit: the
 * bookings already made stay and are answered with their slots, and a spot
 * one of them gives back later does not reopen the slot. Google hears of
 * every start time that had spots open.
 */
export async function closeAvailability(
  ctx: InventoryContext,
  caller: MerchantCaller,
  request: CloseAvailabilityRequest,
): Promise<CloseAvailabilityResponse> {
  const merchantId = merchantOf(caller, request);
  const query = windowQuery(merchantId, request.serviceId, windowOf(request));

  const nowSec = ctx.clock.nowSec();
  const { response, queued } = await ctx.store.transaction(async (tx) => {
    await assertInventoryHas(tx.inventory, merchantId, request.serviceId);
    const before = await slotsOfWindow(tx.inventory, query);
    const closed: SlotKey[] = [];
    for (const slot of before) {
      await tx.inventory.closeSlot(slot.slotId);
      if (slot.spotsOpen > 0) closed.push(slot);
    }
    const after = await slotsOfWindow(tx.inventory, query);
    const response = create(CloseAvailabilityResponseSchema, {
      closed: closed.length,
      alreadyClosed: before.length - closed.length,
      withBookings: await withHoldingBookings(tx.bookings, merchantId, after),
    });
    return { response, queued: await queueAvailabilityChanges(tx.outbox, closed, nowSec) };
  });
  if (queued) ctx.notificationQueued();
  return response;
}
