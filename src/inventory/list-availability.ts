import { create } from "@bufbuild/protobuf";
import {
  ListAvailabilityResponseSchema,
  type ListAvailabilityRequest,
  type ListAvailabilityResponse,
} from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import { InvalidArgumentError } from "../booking/errors.js";
import type { MerchantCaller } from "../booking/merchant-decisions.js";
import { assertInventoryHas, merchantOf, slotState, windowOf, windowQuery, type InventoryContext } from "./availability-window.js";

export const defaultAvailabilityPageSize = 500;
export const maxAvailabilityPageSize = 5000;

/** ListAvailability: the slots starting in a range, with their spots, by start, keyset-paged. */
export async function listAvailability(
  ctx: InventoryContext,
  caller: MerchantCaller,
  request: ListAvailabilityRequest,
): Promise<ListAvailabilityResponse> {
  const merchantId = merchantOf(caller, request);
  const query = windowQuery(merchantId, request.serviceId, windowOf(request));
  if (request.pageSize < 0) throw new InvalidArgumentError("page_size", `must not be negative, got ${request.pageSize}`);
  const pageSize = Math.min(request.pageSize || defaultAvailabilityPageSize, maxAvailabilityPageSize);
  const after = request.pageToken ? decodeSlotPageToken(request.pageToken) : undefined;

  await assertInventoryHas(ctx.store.read.inventory, merchantId, request.serviceId);
  const slots = await ctx.store.read.inventory.slotsInWindow({ ...query, after, limit: pageSize + 1 });
  const page = slots.slice(0, pageSize);
  const last = page[page.length - 1];
  return create(ListAvailabilityResponseSchema, {
    slots: page.map(slotState),
    nextPageToken: slots.length > pageSize ? encodeSlotPageToken(last) : "",
  });
}

type SlotPosition = { startSec: number; slotId: number };

function encodeSlotPageToken(position: SlotPosition): string {
  return Buffer.from(JSON.stringify([position.startSec, position.slotId]), "utf8").toString("base64url");
}

function decodeSlotPageToken(token: string): SlotPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    value = undefined;
  }
  if (Array.isArray(value) && value.length === 2 && value.every((part) => Number.isSafeInteger(part))) {
    return { startSec: value[0] as number, slotId: value[1] as number };
  }
  throw new InvalidArgumentError("page_token", "is not a token this server gave");
}
