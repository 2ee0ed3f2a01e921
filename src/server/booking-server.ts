import type { JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextValues,
  type ConnectRouter,
  type ContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import type { AddressInfo } from "node:net";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { AdminService } from "../../gen/es/partner/admin/v1/admin_service_pb.js";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import { declineOverdueRequests } from "../booking/auto-decline.js";
import { reconcilePayments } from "../booking/booking-payments.js";
import { createBookingContext } from "../booking/context.js";
import { systemClock, type Clock } from "../clock.js";
import type { Notifier } from "../notify/notifier.js";
import type { PaymentProcessor } from "../payments/payment-processor.js";
import type { Store } from "../store/repositories.js";
import { adminHandlers } from "./admin-handlers.js";
import { AuthFailureLimiter } from "./auth-failure-limiter.js";
import { AuthGate, clientAddressKey } from "./auth-gate.js";
import { basicAuthChallenge, BasicAuthVerifier, type BasicCredentials } from "./basic-auth.js";
import { bearerAuthenticator, bearerAuthInterceptor, bearerTokenVerifier, type MerchantAuth } from "./bearer-auth.js";
import { guardBinaryRequests } from "./binary-request-guard.js";
import { bookingHandlers } from "./booking-handlers.js";
import { merchantHandlers } from "./merchant-handlers.js";
import { hostPanel, isPanelPath } from "./host-panel.js";
import { createLogger, Observability } from "./observability.js";
import { isRestPath, restGateway, strictUtf8, type NodeRequest, type NodeResponse } from "./rest-gateway.js";
import { healthRoutes } from "./health.js";
import { singlePortServer, type ConnectionLimits, type TlsFiles } from "./single-port-listener.js";

export interface BookingServerOptions {
  store: Store;
  /**
   * Google's Basic-auth credentials: one pair, or several accepted at once
   * (rotation); `undefined` serves without authentication.
   */
  credentials: BasicCredentials | readonly BasicCredentials[] | undefined;
  /** Certificate and key to serve HTTPS (ALPN h2 and http/1.1); plaintext without. */
  tls?: TlsFiles;
  /** Largest request body, in bytes (default 4 MiB: hundreds of slot times fit easily). */
  readMaxBytes?: number;
  /** Longest lease hold, in seconds (default 600). */
  maxLeaseSec?: number;
  clock?: Clock;
  /**
   * Merchants' bearer tokens (and the admin's); without it MerchantService is
   * not served, and without an admin token AdminService is not served.
   */
  merchantAuth?: MerchantAuth;
  /** Delivers queued notifications to Google; started and stopped with the server. */
  notifier?: Notifier;
  /**
   * Seconds a merchant has to answer an asynchronous request before the
   * server declines it (and always before the slot starts). Default one day.
   */
  autoDeclineAfterSec?: number;
  /** How often overdue requests are looked for, in ms (default 5 s). */
  autoDeclineCheckMs?: number;
  /** The built host panel (`dist/panel`), served at /panel/; absent: no panel. */
  panelDir?: string;
  /** Header size, timeouts and HTTP/2 stream limits (see `defaultConnectionLimits`). */
  limits?: ConnectionLimits;
  /** Failed authentications allowed per client address in a burst (default 10), before 429s. */
  authFailureBurst?: number;
  /** Where refused authentications are reported (never with the secret); default the observability logger. */
  logAuthFailure?: (failure: { scheme: string; address: string; limited: boolean }) => void;
  /** Logs and metrics; default: metrics kept, logs silent. */
  observability?: Observability;
  /** With it, GET /metrics needs `Authorization: Bearer <token>`; without, /metrics is open. */
  metricsToken?: string;
  /** The payment processor; without it, slots whose policy takes payment cannot be booked. */
  payments?: PaymentProcessor;
  /** Longest wait for requests under way when closing, in ms (default 10 s). */
  shutdownGraceMs?: number;
}


export interface BookingServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Accepts a new set of Basic credentials at once (rotation without downtime). */
  replaceCredentials(credentials: readonly BasicCredentials[]): void;
  /**
   * Graceful stop: refuses new connections and readiness, lets requests under
   * way and the notifier's current delivery finish (within the grace period).
   */
  close(): Promise<void>;
}

/**
 * The booking server: BookingService over Connect, gRPC and gRPC-Web, plus
 * Google's REST paths, all on one port, all calling the same handlers; and,
 * with `merchantAuth`, the merchants' MerchantService on the same port.
 */
export function createBookingServer(options: BookingServerOptions): BookingServer {
  const readMaxBytes = options.readMaxBytes ?? 4 * 1024 * 1024;
  const ctx = createBookingContext({
    store: options.store,
    clock: options.clock ?? systemClock,
    // Time-ordered (UUIDv7): new bookings land at the end of the id indexes
    // instead of on a random page each, so a group commit writes fewer pages.
    newId: uuidv7,
    maxLeaseSec: options.maxLeaseSec,
    decideWithinSec: options.autoDeclineAfterSec,
    notificationQueued: () => options.notifier?.notify(),
    payments: options.payments,
  });
  let autoDeclineTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const handlers = bookingHandlers(ctx);
  const observability =
    options.observability ?? new Observability(createLogger({ level: "silent" }), options.store, ctx.clock.nowSec);
  const gate = new AuthGate(
    new AuthFailureLimiter(options.authFailureBurst),
    options.logAuthFailure ?? ((failure) => observability.logger.warn(failure, "authentication refused")),
  );
  const observe = observability.interceptor(randomUUID);
  const logRefundError = (bookingId: string, error: unknown) =>
    observability.logger.error({ bookingId, err: error }, "refund after auto-decline failed; retried at the next start");
  const given = options.credentials;
  const basicAuth = given && new BasicAuthVerifier(Array.isArray(given) ? given : [given as BasicCredentials]);
  const admitBasic = (address: string, authorization: string | null | undefined) =>
    gate.admit(address, "Basic", basicAuthChallenge, () => (basicAuth!.allows(authorization) ? true : undefined));

  const rest = restGateway({
    handlers,
    observe: (call) => observability.recordCall(call),
    newRequestId: randomUUID,
    authenticate: basicAuth && ((req) => void admitBasic(clientAddress(req), req.headers.authorization)),
    readMaxBytes,
  });
  const router = createConnectRouter({
    readMaxBytes,
    // The decoder is read by connect's JSON serialization, though its type does not name it.
    jsonOptions: { textDecoder: strictUtf8 } as Partial<JsonReadOptions & JsonWriteOptions>,
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  router.service(BookingService, handlers, {
    interceptors: basicAuth ? [observe, basicAuthInterceptor(admitBasic)] : [observe],
  });
  // Merchants authenticate with their own bearer tokens, never Google's Basic credentials.
  if (options.merchantAuth) {
    const bearerAuth = bearerAuthInterceptor(bearerAuthenticator(options.merchantAuth), gate);
    router.service(MerchantService, merchantHandlers(ctx), { interceptors: [observe, bearerAuth] });
    // The operator's outbox calls: only with an admin token (merchant tokens get permission_denied).
    if (options.merchantAuth.adminToken) {
      const notify = () => options.notifier?.notify();
      router.service(AdminService, adminHandlers({ store: options.store, clock: ctx.clock, notify }), {
        interceptors: [observe, bearerAuth],
      });
    }
  }
  const rpc = rpcHandler(router, readMaxBytes, (req) => createContextValues().set(clientAddressKey, clientAddress(req)));
  const health = healthRoutes({ store: options.store, isStopping: () => stopping });
  const metricsAuth = options.metricsToken ? bearerTokenVerifier(options.metricsToken) : undefined;
  const serveMetrics = async (req: NodeRequest, res: NodeResponse) => {
    if (metricsAuth && !metricsAuth(req.headers.authorization)) {
      res.statusCode = 401;
      res.setHeader("WWW-Authenticate", 'Bearer realm="metrics"');
      return void res.end();
    }
    await observability.serveMetrics(res);
  };
  const panel = options.panelDir ? hostPanel(options.panelDir) : undefined;
  const { server, shutdown } = singlePortServer(
    (req, res) => {
      const url = req.url ?? "";
      if (isRestPath(url)) void rest(req, res);
      else if (health.handles(url)) health.serve(url, res);
      else if (url === "/metrics") void serveMetrics(req, res);
      else if (panel && isPanelPath(url)) panel(req, res);
      else rpc(req, res);
    },
    options.tls,
    options.limits,
  );

  return {
    listen: async (port, host) => {
      // Money left half-moved by a crash is settled before anything else.
      if (options.payments) {
        const reconciled = await reconcilePayments(ctx);
        if (reconciled.refunded.length || reconciled.unresolved.length) {
          observability.logger.warn(reconciled, "payments reconciled at start");
        }
      }
      return new Promise((resolve, reject) => {
        // Deadlines that passed while the server was down are acted on first.
        declineOverdueRequests(ctx, logRefundError);
        autoDeclineTimer = setInterval(() => declineOverdueRequests(ctx, logRefundError), options.autoDeclineCheckMs ?? 5000);
        autoDeclineTimer.unref();
        options.notifier?.start();
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    replaceCredentials: (credentials) => {
      if (!basicAuth) throw new Error("the server runs without authentication: there are no credentials to replace");
      basicAuth.replace(credentials);
    },
    close: async () => {
      stopping = true;
      clearInterval(autoDeclineTimer);
      await shutdown(options.shutdownGraceMs ?? 10_000);
      await options.notifier?.stop();
    },
  };
}

/**
 * Serves the router's RPCs over Node's request/response (what connect-node's
 * adapter does), with every binary request checked by `guardBinaryRequests`.
 */
function rpcHandler(
  router: ConnectRouter,
  readMaxBytes: number,
  contextValues: (req: NodeRequest) => ContextValues,
): (req: NodeRequest, res: NodeResponse) => void {
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, guardBinaryRequests(handler, readMaxBytes)]));
  return (req, res) => {
    const handler = handlers.get((req.url ?? "").split("?", 1)[0]);
    if (!handler) {
      res.statusCode = 404;
      return void res.end();
    }
    handler(universalRequestFromNodeRequest(req, res, undefined, contextValues(req)))
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((error: unknown) => {
        if (ConnectError.from(error).code !== Code.Aborted) console.error(`${handler.method.name} failed`, error);
      });
  };
}

function clientAddress(req: NodeRequest): string {
  return req.socket?.remoteAddress ?? "unknown";
}

/** Basic auth for Connect, gRPC and gRPC-Web calls (metadata `authorization`). */
function basicAuthInterceptor(admit: (address: string, authorization: string | null) => void): Interceptor {
  return (next) => async (req) => {
    admit(req.contextValues.get(clientAddressKey), req.header.get("authorization"));
    return next(req);
  };
}
