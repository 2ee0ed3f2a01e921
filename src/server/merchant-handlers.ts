import type { MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import type { BookingContext } from "../booking/context.js";
import {
  cancelBooking,
  confirmBooking,
  declineBooking,
  failBooking,
  type MerchantCaller,
} from "../booking/merchant-decisions.js";
import { listMerchantBookingPage } from "../booking/merchant-booking-page.js";
import { markNoShow } from "../booking/no-show.js";
import { merchantCallerKey } from "./bearer-auth.js";
import { rethrowAsConnectError } from "./domain-errors.js";
import { withRequestLimits } from "./limited-handlers.js";

type Methods = typeof MerchantService.method;

export type MerchantHandlers = {
  [K in keyof Methods]: (
    request: MessageShape<Methods[K]["input"]>,
    context: HandlerContext,
  ) => Promise<MessageShape<Methods[K]["output"]>>;
};

/**
 * MerchantService handlers: the caller comes from the bearer-auth
 * interceptor; each handler checks the request against the field limits,
 * hands it to the domain and turns domain errors into Connect codes.
 */
export function merchantHandlers(ctx: BookingContext): MerchantHandlers {
  const domain =
    <Request, Response>(useCase: (caller: MerchantCaller, request: Request) => Promise<Response>) =>
    async (request: Request, context: HandlerContext) => {
      const caller = context.values.get(merchantCallerKey);
      if (!caller) throw new ConnectError("not authenticated", Code.Unauthenticated);
      return useCase(caller, request).catch(rethrowAsConnectError);
    };
  return withRequestLimits(MerchantService, {
    listBookings: domain((caller, request) => listMerchantBookingPage(ctx, caller, request)),
    confirmBooking: domain((caller, request) => confirmBooking(ctx, caller, request)),
    declineBooking: domain((caller, request) => declineBooking(ctx, caller, request)),
    cancelBooking: domain((caller, request) => cancelBooking(ctx, caller, request)),
    failBooking: domain((caller, request) => failBooking(ctx, caller, request)),
    markNoShow: domain((caller, request) => markNoShow(ctx, caller, request)),
  });
}
