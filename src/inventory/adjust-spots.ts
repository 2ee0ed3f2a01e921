import { create } from "@bufbuild/protobuf";
import {
  AdjustSpotsResponseSchema,
  type AdjustSpotsRequest,
  type AdjustSpotsResponse,
} from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../booking/errors.js";
import type { MerchantCaller } from "../booking/merchant-decisions.js";
import { requiredString, seconds } from "../booking/request-fields.js";
import { resourceQuery } from "../booking/slots.js";
import type { InventoryRepository, SlotStock, SlotWindowQuery } from "../store/repositories.js";
import { assertInventoryHas, merchantOf, queueAvailabilityChanges, slotState, type InventoryContext } from "./availability-window.js";

/** Which way the spots move (taken, or given back), and how many. */
interface Move {
  take: boolean;
  count: number;
}

/**
 * AdjustSpots: a walk-in or a phone booking takes spots of one slot, its
 * cancellation gives them back. The move is one conditional write of the
 * store (`takeSpotsElsewhere` / `giveBackSpotsElsewhere`), so it can race
 * Google's CreateBooking for the last spots without either overbooking: the
 * one that comes second finds them gone. Queues the slot's
 * availability:replace in the same unit.
 */
export async function adjustSpots(ctx: InventoryContext, caller: MerchantCaller, request: AdjustSpotsRequest): Promise<AdjustSpotsResponse> {
  const merchantId = merchantOf(caller, request);
  const serviceId = requiredString(request.serviceId, "service_id");
  const startSec = seconds(request.startSec, "start_sec", { positive: true });
  const query: SlotWindowQuery = {
    merchantId,
    serviceId,
    fromSec: startSec,
    toSec: startSec + 1,
    durationSec: seconds(request.durationSec, "duration_sec", { positive: true }),
    ...resourceQuery(request.resources, "resources"),
    after: undefined,
    // Two: enough to tell that the request names more than one slot.
    limit: 2,
  };
  const move = moveOf(request);

  const nowSec = ctx.clock.nowSec();
  const response = await ctx.store.transaction(async (tx) => {
    await assertInventoryHas(tx.inventory, merchantId, serviceId);
    const before = theSlot(await tx.inventory.slotsInWindow(query), query);
    await applyMove(tx.inventory, before, move);
    const after = theSlot(await tx.inventory.slotsInWindow(query), query);
    await queueAvailabilityChanges(tx.outbox, [after], nowSec);
    return create(AdjustSpotsResponseSchema, { slot: slotState(after), spotsOpenBefore: BigInt(before.spotsOpen) });
  });
  ctx.notificationQueued();
  return response;
}

function moveOf(request: AdjustSpotsRequest): Move {
  const { change } = request;
  if (change.case === undefined) throw new InvalidArgumentError("change", "is required: take_spots or give_back_spots");
  const field = change.case === "takeSpots" ? "take_spots" : "give_back_spots";
  if (change.value < 1) throw new InvalidArgumentError(field, `must be at least 1, got ${change.value}`);
  return { take: change.case === "takeSpots", count: change.value };
}

/** The one slot the request names. */
function theSlot(found: SlotStock[], query: SlotWindowQuery): SlotStock {
  const at = `service ${query.serviceId} at ${query.fromSec} for ${query.durationSec} s`;
  if (found.length === 0) throw new NotFoundError(`no slot of ${at} with these resources`);
  if (found.length > 1) {
    throw new InvalidArgumentError("resources", `name more than one slot of ${at}: give its staff_id, room_id and party_size`);
  }
  return found[0];
}

async function applyMove(inventory: InventoryRepository, slot: SlotStock, move: Move): Promise<void> {
  if (move.take) {
    if (!(await inventory.takeSpotsElsewhere(slot.slotId, move.count))) {
      throw new FailedPreconditionError(`the slot has ${slot.spotsOpen} spot(s) open: ${move.count} cannot be taken (nothing changed)`);
    }
  } else if (!(await inventory.giveBackSpotsElsewhere(slot.slotId, move.count))) {
    throw new FailedPreconditionError(
      `the slot has ${slot.spotsSoldElsewhere} spot(s) taken elsewhere: ${move.count} cannot be given back (nothing changed)`,
    );
  }
}
