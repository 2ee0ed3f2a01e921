import type { DescService } from "@bufbuild/protobuf";
import { checkRequestLimits } from "../booking/request-limits.js";
import { rethrowAsConnectError } from "./domain-errors.js";

type Handler = (request: object, ...rest: never[]) => Promise<unknown>;

/**
 * The service's handlers, each refusing a request over the field limits
 * (src/booking/request-limits.ts) with `invalid_argument` before it reaches
 * the domain. Every transport (REST, Connect, gRPC, gRPC-Web) calls these
 * handlers, so the check runs once per request whatever the protocol, and
 * covers every method of the service, present and future.
 */
export function withRequestLimits<Handlers extends object>(service: DescService, handlers: Handlers): Handlers {
  const limited: Record<string, Handler> = { ...(handlers as Record<string, Handler>) };
  for (const method of service.methods) {
    const handler = limited[method.localName];
    limited[method.localName] = async (request, ...rest) => {
      try {
        checkRequestLimits(method.input, request);
      } catch (error) {
        rethrowAsConnectError(error);
      }
      return handler(request, ...rest);
    };
  }
  return limited as Handlers;
}
