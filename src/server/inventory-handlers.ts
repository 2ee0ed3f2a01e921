import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import type { BookingContext } from "../booking/context.js";
import type { MerchantCaller } from "../booking/merchant-decisions.js";
import { adjustSpots } from "../inventory/adjust-spots.js";
import { closeAvailability } from "../inventory/close-availability.js";
import { listAvailability } from "../inventory/list-availability.js";
import { replaceAvailability } from "../inventory/replace-availability.js";
import { merchantCallerKey } from "./bearer-auth.js";
import { rethrowAsConnectError } from "./domain-errors.js";
import { withRequestLimits } from "./limited-handlers.js";

export type InventoryHandlers = ServiceImpl<typeof InventoryService>;

/**
 * InventoryService handlers: the caller comes from the bearer-auth
 * interceptor MerchantService uses (the same tokens, the same
 * `assertMayActFor` in the domain); each handler checks the request against
 * the field limits, hands it to the use case and turns domain errors into
 * Connect codes.
 */
export function inventoryHandlers(ctx: BookingContext): InventoryHandlers {
  const domain =
    <Request, Response>(useCase: (caller: MerchantCaller, request: Request) => Promise<Response>) =>
    (request: Request, context: HandlerContext) =>
      useCase(callerOf(context), request).catch(rethrowAsConnectError);
  return withRequestLimits(InventoryService, {
    replaceAvailability: domain((caller, request) => replaceAvailability(ctx, caller, request)),
    adjustSpots: domain((caller, request) => adjustSpots(ctx, caller, request)),
    closeAvailability: domain((caller, request) => closeAvailability(ctx, caller, request)),
    listAvailability: domain((caller, request) => listAvailability(ctx, caller, request)),
  });
}

function callerOf(context: HandlerContext): MerchantCaller {
  const caller = context.values.get(merchantCallerKey);
  if (!caller) throw new ConnectError("not authenticated", Code.Unauthenticated);
  return caller;
}
