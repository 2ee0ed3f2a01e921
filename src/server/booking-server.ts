import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import { BookingService } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { AdminService } from "../../gen/es/partner/admin/v1/admin_service_pb.js";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import { declineOverdueRequests } from "../booking/auto-decline.js";
import { createBookingContext } from "../booking/context.js";
import { systemClock, type Clock } from "../clock.js";
import type { Notifier } from "../notify/notifier.js";
import type { Store } from "../store/repositories.js";
import { adminHandlers } from "./admin-handlers.js";
import { basicAuthChallenge, basicAuthVerifier, type BasicCredentials } from "./basic-auth.js";
import { bearerAuthenticator, bearerAuthInterceptor, type MerchantAuth } from "./bearer-auth.js";
import { bookingHandlers } from "./booking-handlers.js";
import { merchantHandlers } from "./merchant-handlers.js";
import { hostPanel, isPanelPath } from "./host-panel.js";
import { isRestPath, restGateway } from "./rest-gateway.js";
import { singlePortServer, type TlsFiles } from "./single-port-listener.js";

export interface BookingServerOptions {
  store: Store;
  /** Google's Basic-auth credentials; `undefined` serves without authentication. */
  credentials: BasicCredentials | undefined;
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
}


export interface BookingServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
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
    newId: randomUUID,
    maxLeaseSec: options.maxLeaseSec,
    decideWithinSec: options.autoDeclineAfterSec,
    notificationQueued: () => options.notifier?.notify(),
  });
  let autoDeclineTimer: NodeJS.Timeout | undefined;
  const handlers = bookingHandlers(ctx);
  const authorize = options.credentials && basicAuthVerifier(options.credentials);

  const rest = restGateway({ handlers, authorize, readMaxBytes });
  const rpc = connectNodeAdapter({
    routes: (router) => {
      router.service(BookingService, handlers, {
        interceptors: authorize ? [basicAuthInterceptor(authorize)] : [],
      });
      // Merchants authenticate with their own bearer tokens, never Google's Basic credentials.
      if (options.merchantAuth) {
        const bearerAuth = bearerAuthInterceptor(bearerAuthenticator(options.merchantAuth));
        router.service(MerchantService, merchantHandlers(ctx), { interceptors: [bearerAuth] });
        // The operator's outbox calls: only with an admin token (merchant tokens get permission_denied).
        if (options.merchantAuth.adminToken) {
          const notify = () => options.notifier?.notify();
          router.service(AdminService, adminHandlers({ store: options.store, clock: ctx.clock, notify }), {
            interceptors: [bearerAuth],
          });
        }
      }
    },
    readMaxBytes,
  });
  const panel = options.panelDir ? hostPanel(options.panelDir) : undefined;
  const server = singlePortServer((req, res) => {
    const url = req.url ?? "";
    if (isRestPath(url)) void rest(req, res);
    else if (panel && isPanelPath(url)) panel(req, res);
    else rpc(req, res);
  }, options.tls);

  const sockets = new Set<Socket>();
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        // Deadlines that passed while the server was down are acted on first.
        declineOverdueRequests(ctx);
        autoDeclineTimer = setInterval(
          () => declineOverdueRequests(ctx),
          options.autoDeclineCheckMs ?? 5000,
        );
        autoDeclineTimer.unref();
        options.notifier?.start();
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: async () => {
      clearInterval(autoDeclineTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      await options.notifier?.stop();
    },
  };
}

/** Basic auth for Connect, gRPC and gRPC-Web calls (metadata `authorization`). */
function basicAuthInterceptor(authorize: (authorization: string | null) => boolean): Interceptor {
  return (next) => async (req) => {
    if (!authorize(req.header.get("authorization"))) {
      throw new ConnectError(
        "missing or wrong HTTP Basic credentials",
        Code.Unauthenticated,
        new Headers({ "WWW-Authenticate": basicAuthChallenge }),
      );
    }
    return next(req);
  };
}
