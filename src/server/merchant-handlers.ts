import type { MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import type { BookingContext } from "../booking/context.js";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from "../booking/errors.js";
import {
  cancelBooking,
  confirmBooking,
  declineBooking,
  failBooking,
  listMerchantBookings,
  type MerchantBookingQueries,
  type MerchantCaller,
} from "../booking/merchant-decisions.js";
import { merchantCallerKey } from "./bearer-auth.js";

type Methods = typeof MerchantService.method;

export type MerchantHandlers = {
  [K in keyof Methods]: (
    request: MessageShape<Methods[K]["input"]>,
    context: HandlerContext,
  ) => Promise<MessageShape<Methods[K]["output"]>>;
};

/**
 * MerchantService handlers: the caller comes from the bearer-auth
 * interceptor; each handler hands the request to the domain and turns domain
 * errors into Connect codes. Without `queries`, ListBookings is unimplemented.
 */
export function merchantHandlers(ctx: BookingContext, queries: MerchantBookingQueries | undefined): MerchantHandlers {
  const domain =
    <Request, Response>(useCase: (caller: MerchantCaller, request: Request) => Promise<Response>) =>
    async (request: Request, context: HandlerContext) => {
      const caller = context.values.get(merchantCallerKey);
      if (!caller) throw new ConnectError("not authenticated", Code.Unauthenticated);
      return useCase(caller, request).catch(asConnectError);
    };
  return {
    listBookings: domain((caller, request) => {
      if (!queries) throw new ConnectError("ListBookings is not configured on this server", Code.Unimplemented);
      return listMerchantBookings(queries, caller, request);
    }),
    confirmBooking: domain((caller, request) => confirmBooking(ctx, caller, request)),
    declineBooking: domain((caller, request) => declineBooking(ctx, caller, request)),
    cancelBooking: domain((caller, request) => cancelBooking(ctx, caller, request)),
    failBooking: domain((caller, request) => failBooking(ctx, caller, request)),
  };
}

function asConnectError(error: unknown): never {
  if (error instanceof InvalidArgumentError) throw new ConnectError(error.message, Code.InvalidArgument);
  if (error instanceof NotFoundError) throw new ConnectError(error.message, Code.NotFound);
  if (error instanceof FailedPreconditionError) throw new ConnectError(error.message, Code.FailedPrecondition);
  if (error instanceof PermissionDeniedError) throw new ConnectError(error.message, Code.PermissionDenied);
  throw error;
}
