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
import { InventoryService } from "../../gen/es/partner/inventory/v1/inventory_service_pb.js";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import { createBookingContext } from "../booking/context.js";
import { systemClock, type Clock } from "../clock.js";
import type { Notifier } from "../notify/notifier.js";
import type { PaymentProcessor } from "../payments/payment-processor.js";
import type { Store } from "../store/repositories.js";
import { adminHandlers } from "./admin-handlers.js";
import { AuthFailureLimiter } from "./auth-failure-limiter.js";
import { backgroundJobs } from "./background-jobs.js";
import { AuthGate, clientAddressKey, type AuthFailure } from "./auth-gate.js";
import { basicAuthChallenge, BasicAuthVerifier, type BasicCredentials } from "./basic-auth.js";
import { bearerAuthenticator, bearerAuthInterceptor, bearerTokenVerifier, type MerchantAuth } from "./bearer-auth.js";
import { guardRequestBodies, type RequestBodyGuardOptions } from "./request-body-guard.js";
import { bookingHandlers } from "./booking-handlers.js";
import { clientAddressOf, type TrustedProxies } from "./client-address.js";
import { inventoryHandlers } from "./inventory-handlers.js";
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
   * Merchants' bearer tokens (and the admin's); without it MerchantService and
   * InventoryService are not served, and without an admin token AdminService is not served.
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
  /** Header size, timeouts, HTTP/2 stream limits and the connection cap (see `defaultConnectionLimits`). */
  limits?: ConnectionLimits;
  /** Failed authentications allowed per client address in a burst (default 10), before 429s. */
  authFailureBurst?: number;
  /** The failure limiter's clock, in ms (default Date.now); tests move it by hand. */
  authFailureNowMs?: () => number;
  /** Where refused authentications are reported (never with the secret); default the observability logger. */
  logAuthFailure?: (failure: AuthFailure) => void;
  /**
   * Reverse proxies whose X-Forwarded-For / Forwarded headers name the client
   * (TRUSTED_PROXIES); default none: the socket peer is the client, and the
   * headers are ignored. Set it behind a proxy, or every caller shares the
   * proxy's address in the failure limiter and the logs.
   */
  trustedProxies?: TrustedProxies;
  /** Logs and metrics; default: metrics kept, logs silent. */
  observability?: Observability;
  /**
   * Serves GET /metrics on this port behind `Authorization: Bearer <token>`.
   * Without it (and without `publicMetrics`), /metrics is not served here: the
   * metrics name the Node version and the traffic, so they are never open by
   * accident (a separate listener, see `metrics-listener.ts`, is the other way).
   */
  metricsToken?: string;
  /** Serves /metrics on this port to anyone (an explicit choice, e.g. a port only the scraper can reach). */
  publicMetrics?: boolean;
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
   * way and the notifier's current delivery finish (within the grace period),
   * and a background job's run under way end. The store stays open: the
   * caller closes it (`await store.close()`) once this has resolved.
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
  const clock = options.clock ?? systemClock;
  const observability =
    options.observability ?? new Observability(createLogger({ level: "silent" }), options.store, clock.nowSec);
  const ctx = createBookingContext({
    store: options.store,
    clock,
    // Time-ordered (UUIDv7): new bookings land at the end of the id indexes
    // instead of on a random page each, so a group commit writes fewer pages.
    newId: uuidv7,
    maxLeaseSec: options.maxLeaseSec,
    decideWithinSec: options.autoDeclineAfterSec,
    notificationQueued: () => options.notifier?.notify(),
    payments: options.payments,
    reportJobFailure: (job, error) => observability.recordJobFailure(job, error),
  });
  let stopping = false;
  const handlers = bookingHandlers(ctx);
  const gate = new AuthGate(
    new AuthFailureLimiter({ burst: options.authFailureBurst, now: options.authFailureNowMs }),
    options.logAuthFailure ?? ((failure) => observability.logger.warn(failure, "authentication refused")),
  );
  const clientAddress = (req: NodeRequest) => clientAddressOf(req.socket?.remoteAddress, req.headers, options.trustedProxies);
  const observe = observability.interceptor(randomUUID);
  const jobs = backgroundJobs(ctx, {
    autoDeclineCheckMs: options.autoDeclineCheckMs ?? 5000,
    onReconciled: (outcome) => observability.logger.warn(outcome, "payments reconciled at start"),
  });
  const given = options.credentials;
  const basicAuth = given && new BasicAuthVerifier(Array.isArray(given) ? given : [given as BasicCredentials]);
  const admitBasic = (address: string, authorization: string | null | undefined) =>
    gate.admit(address, "Basic", basicAuthChallenge, () => (basicAuth!.allows(authorization) ? true : undefined));

  const rest = restGateway({
    handlers,
    observe: (call) => observability.recordCall(call),
    logFailure: (requestId, method, answered) => observability.logFailedCall(requestId, method, answered),
    newRequestId: randomUUID,
    authenticate: basicAuth && ((req) => void admitBasic(clientAddress(req), req.headers.authorization)),
    readMaxBytes,
  });
  const acceptCompression = [compressionGzip, compressionBrotli];
  const router = createConnectRouter({
    readMaxBytes,
    // The decoder is read by connect's JSON serialization, though its type does not name it.
    jsonOptions: { textDecoder: strictUtf8 } as Partial<JsonReadOptions & JsonWriteOptions>,
    acceptCompression,
  });
  router.service(BookingService, handlers, {
    interceptors: basicAuth ? [observe, basicAuthInterceptor(admitBasic)] : [observe],
  });
  // Merchants authenticate with their own bearer tokens, never Google's Basic credentials.
  if (options.merchantAuth) {
    const bearerAuth = bearerAuthInterceptor(bearerAuthenticator(options.merchantAuth), gate);
    router.service(MerchantService, merchantHandlers(ctx), { interceptors: [observe, bearerAuth] });
    router.service(InventoryService, inventoryHandlers(ctx), { interceptors: [observe, bearerAuth] });
    // The operator's outbox calls: only with an admin token (merchant tokens get permission_denied).
    if (options.merchantAuth.adminToken) {
      const notify = () => options.notifier?.notify();
      router.service(AdminService, adminHandlers({ store: options.store, clock: ctx.clock, notify }), {
        interceptors: [observe, bearerAuth],
      });
    }
  }
  const rpc = rpcHandler(router, { readMaxBytes, acceptCompression }, (req) => createContextValues().set(clientAddressKey, clientAddress(req)));
  const health = healthRoutes({ store: options.store, isStopping: () => stopping });
  const metricsAuth = options.metricsToken ? bearerTokenVerifier(options.metricsToken) : undefined;
  const servesMetrics = metricsAuth !== undefined || options.publicMetrics === true;
  const serveMetrics = (req: NodeRequest, res: NodeResponse) => {
    if (metricsAuth && !metricsAuth(req.headers.authorization)) {
      res.statusCode = 401;
      res.setHeader("WWW-Authenticate", 'Bearer realm="metrics"');
      return void res.end();
    }
    void observability.serveMetrics(res);
  };
  const panel = options.panelDir ? hostPanel(options.panelDir) : undefined;
  const { server, shutdown } = singlePortServer(
    (req, res) => {
      const url = req.url ?? "";
      if (isRestPath(url)) void rest(req, res);
      else if (health.handles(url)) health.serve(url, res);
      else if (url === "/metrics" && servesMetrics) serveMetrics(req, res);
      else if (panel && isPanelPath(url)) panel(req, res);
      else rpc(req, res);
    },
    options.tls,
    options.limits,
    (refused, maxConnections) =>
      observability.logger.warn({ refused, maxConnections }, "connections refused: the connection cap is reached"),
  );

  return {
    listen: async (port, host) => {
      await jobs.start();
      return new Promise((resolve, reject) => {
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
      const jobsStopped = jobs.stop();
      await shutdown(options.shutdownGraceMs ?? 10_000);
      await options.notifier?.stop();
      // A background run under way ends before the caller may close the store.
      await jobsStopped;
    },
  };
}

/**
 * Serves the router's RPCs over Node's request/response (what connect-node's
 * adapter does), with every request body checked by `guardRequestBodies`.
 */
function rpcHandler(
  router: ConnectRouter,
  guard: RequestBodyGuardOptions,
  contextValues: (req: NodeRequest) => ContextValues,
): (req: NodeRequest, res: NodeResponse) => void {
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, guardRequestBodies(handler, guard)]));
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

/** Basic auth for Connect, gRPC and gRPC-Web calls (metadata `authorization`). */
function basicAuthInterceptor(admit: (address: string, authorization: string | null) => void): Interceptor {
  return (next) => async (req) => {
    admit(req.contextValues.get(clientAddressKey), req.header.get("authorization"));
    return next(req);
  };
}
