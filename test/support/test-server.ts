import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../src/clock.js";
import type { Notifier } from "../../src/notify/notifier.js";
import type { MerchantAuth } from "../../src/server/bearer-auth.js";
import { createBookingServer, type BookingServerOptions } from "../../src/server/booking-server.js";
import type { Observability } from "../../src/server/observability.js";
import type { PaymentProcessor } from "../../src/payments/payment-processor.js";
import { hasBookingPaymentTerms } from "../../src/payments/feed-terms.js";
import type { SlotFeedRecord, Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";

export const credentials = { username: "google", password: "s3cret-for-tests" };
export const authHeader = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;

export interface TestServer {
  baseUrl: string;
  port: number;
  store: Store;
  dbPath: string;
  /** The temp dir holding the database (kept on close when the caller passed it in). */
  dir: string;
  close(): Promise<void>;
  /** Starts the server's graceful stop only (no store close), e.g. to watch the drain. */
  stopServer(): Promise<void>;
}

export interface TestServerOptions {
  clock?: Clock;
  open?: boolean;
  maxLeaseSec?: number;
  merchantAuth?: MerchantAuth;
  /** Builds the notifier for this server's store (started and stopped with the server). */
  notifier?: (store: Store) => Notifier;
  /** Reopens the database in this dir (from an earlier server) instead of a fresh one; the dir is kept on close. */
  dir?: string;
  autoDeclineAfterSec?: number;
  autoDeclineCheckMs?: number;
  /** Serves the built host panel from this dir at /panel/ (e.g. the repo's dist/panel). */
  panelDir?: string;
  authFailureBurst?: number;
  /** Builds the logs-and-metrics sink for this server's store. */
  observability?: (store: Store) => Observability;
  metricsToken?: string;
  /** Builds the payment processor for this server's store (which keeps the sandbox's ledger). */
  payments?: (store: Store) => PaymentProcessor;
  logAuthFailure?: BookingServerOptions["logAuthFailure"];
  /** The failure limiter's clock, in ms (the real one unless given). */
  authFailureNowMs?: BookingServerOptions["authFailureNowMs"];
  /** Proxies whose X-Forwarded-For / Forwarded are believed (none unless given). */
  trustedProxies?: BookingServerOptions["trustedProxies"];
  credentials?: BookingServerOptions["credentials"];
  /** Header size, timeouts and HTTP/2 stream limits (the server's defaults unless given). */
  limits?: BookingServerOptions["limits"];
  /** Longest wait for requests under way when closing, in ms. */
  shutdownGraceMs?: number;
}

/** A real server on a loopback port over a real SQLite file in a fresh temp dir. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "booking-test-"));
  const dbPath = join(dir, "booking.db");
  const store = openSqliteStore(dbPath);
  const server = createBookingServer({
    store,
    credentials: options.open ? undefined : (options.credentials ?? credentials),
    clock: options.clock,
    maxLeaseSec: options.maxLeaseSec,
    merchantAuth: options.merchantAuth,
    notifier: options.notifier?.(store),
    autoDeclineAfterSec: options.autoDeclineAfterSec,
    autoDeclineCheckMs: options.autoDeclineCheckMs,
    panelDir: options.panelDir,
    // Suites refuse credentials on purpose many times from 127.0.0.1; the limiter has its own test.
    authFailureBurst: options.authFailureBurst ?? 1_000_000,
    logAuthFailure: options.logAuthFailure ?? (options.observability ? undefined : () => {}),
    authFailureNowMs: options.authFailureNowMs,
    trustedProxies: options.trustedProxies,
    observability: options.observability?.(store),
    metricsToken: options.metricsToken,
    payments: options.payments?.(store),
    limits: options.limits,
    shutdownGraceMs: options.shutdownGraceMs,
  });
  const { port } = await server.listen(0, "127.0.0.1");
  let stopped: Promise<void> | undefined;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    store,
    dbPath,
    dir,
    stopServer: () => (stopped ??= server.close()),
    async close() {
      await (stopped ??= server.close());
      store.close();
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A clock the test moves by hand. */
export function manualClock(startSec: number): Clock & { advance(seconds: number): void } {
  let now = startSec;
  return { nowSec: () => now, advance: (seconds) => void (now += seconds) };
}

export const hour = 3600;
/** Start of the demo slots: always in the future relative to the real clock. */
export const futureStartSec = Math.floor(Date.now() / 1000 / hour) * hour + 30 * 24 * hour;

export type SlotSeed = Partial<SlotFeedRecord> & Pick<SlotFeedRecord, "merchantId" | "serviceId" | "startSec">;

/** Puts merchants, services and slots straight into the store. */
export function seedSlots(store: Store, slots: SlotSeed[]): Promise<void> {
  return store.transaction(async (tx) => {
    for (const slot of slots) {
      await tx.inventory.upsertMerchant({ merchantId: slot.merchantId, name: slot.merchantId, feedJson: "{}" });
      await tx.inventory.upsertService({
        merchantId: slot.merchantId,
        serviceId: slot.serviceId,
        name: slot.serviceId,
        priceMicros: null,
        currencyCode: null,
        feedJson: "{}",
        bookingPaymentTerms: false,
      });
      const spotsTotal = slot.spotsTotal ?? 1;
      await tx.inventory.upsertSlot({
        durationSec: 3600,
        staffId: "",
        roomId: "",
        partySize: 0,
        availabilityTag: "",
        confirmationMode: 0,
        durationRequirement: 0,
        feedJson: "{}",
        ...slot,
        bookingPaymentTerms: hasBookingPaymentTerms("availability", JSON.parse(slot.feedJson ?? "{}")),
        spotsTotal,
        spotsOpen: slot.spotsOpen ?? spotsTotal,
      });
    }
  });
}

/** POSTs JSON to a REST path, with Google's credentials unless told otherwise. */
export async function rest(
  server: TestServer,
  method: string,
  body: unknown,
  init: { auth?: string | null; raw?: string; contentType?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { "Content-Type": init.contentType ?? "application/json" };
  const auth = init.auth === undefined ? authHeader : init.auth;
  if (auth !== null) headers.Authorization = auth;
  const response = await fetch(`${server.baseUrl}/v3/${method}`, {
    method: "POST",
    headers,
    body: init.raw ?? JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}
