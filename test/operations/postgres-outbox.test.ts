/**
 * The notification outbox drained by two `booking-server serve` processes on
 * one PostgreSQL database (BOOKING_DATABASE_URL), as behind a load balancer:
 * each bookings.patch reaches Google once, in order per booking, whichever
 * instance queued it and whichever sends it; an instance killed while its
 * request is in flight leaves its claim to expire, and the other sends the
 * notification then. Google is a recording HTTP server on loopback that
 * tells the instances apart by their bearer tokens.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clusterStartTimeoutMs, createTestDatabase, onDatabase, type TestDatabase } from "../support/postgres-cluster";
import { killHard, killIfRunning, runCli, startServerProcess, type ServerProcess } from "../support/server-process";
import { authHeader, credentials, futureStartSec } from "../support/test-server";

const merchantId = "outbox-bistro";
const merchantToken = "token-of-outbox-bistro";
const partnerId = "20004321";
/** A claim holds an entry 9 s: each request is given up after 3 s, well past a loopback answer on a loaded machine. */
const claimLeaseSec = 9;
const patchPath = new RegExp(`^/v1alpha/notification/partners/${partnerId}/bookings/([^/]+)$`);

/** A bookings.patch as Google got it: which instance sent it (its bearer token), the status, whether it was answered. */
interface ReceivedPatch {
  bookingId: string;
  instance: string;
  status: string;
  answered: boolean;
}

/**
 * Google's Booking Notification API, recording every bookings.patch. It answers
 * everything 200, after `answerDelayMs` (long enough for the other instance
 * to poll while a PATCH is in flight), except what `hold` keeps unanswered.
 */
class RecordingGoogle {
  readonly patches: ReceivedPatch[] = [];
  /** Told of each PATCH as it arrives: true keeps it unanswered. */
  hold: (patch: ReceivedPatch) => boolean = () => false;
  baseUrl = "";
  private readonly server: Server = createServer((request, response) => this.receive(request, response));
  private readonly held = new Set<ServerResponse>();

  constructor(private readonly answerDelayMs: number) {}

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const response of this.held) response.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  of(bookingId: string): ReceivedPatch[] {
    return this.patches.filter((patch) => patch.bookingId === bookingId);
  }

  private receive(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const match = patchPath.exec(new URL(request.url ?? "/", "http://localhost").pathname);
      if (request.method === "PATCH" && match) {
        const patch: ReceivedPatch = {
          bookingId: decodeURIComponent(match[1]),
          instance: (request.headers.authorization ?? "").replace(/^Bearer /, ""),
          status: (JSON.parse(text) as { status: string }).status,
          answered: false,
        };
        this.patches.push(patch);
        if (this.hold(patch)) {
          this.held.add(response);
          return;
        }
        setTimeout(() => {
          patch.answered = true;
          response.writeHead(200, { "content-type": "application/json" }).end(text);
        }, this.answerDelayMs);
        return;
      }
      // Availability and inventory updates: accepted at once.
      response.writeHead(200, { "content-type": "application/json" }).end(text || "{}");
    });
  }
}

let dir = "";
let database: TestDatabase;
let google: RecordingGoogle;
const instances: ServerProcess[] = [];

function feedFile(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

/** One instance, named by its bearer token towards Google. */
function serve(instance: string): Promise<ServerProcess> {
  return startServerProcess([], {
    BOOKING_AUTH_USERNAME: credentials.username,
    BOOKING_AUTH_PASSWORD: credentials.password,
    BOOKING_DATABASE_URL: database.url,
    MERCHANT_TOKENS_FILE: feedFile("merchant-tokens.json", { [merchantId]: merchantToken }),
    NOTIFICATION_API_URL: google.baseUrl,
    NOTIFICATION_PARTNER_ID: partnerId,
    NOTIFICATION_BEARER_TOKEN: instance,
    NOTIFICATION_CLAIM_LEASE_SEC: String(claimLeaseSec),
  });
}

async function call(server: ServerProcess, path: string, body: unknown, authorization: string): Promise<Record<string, any>> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: "POST",
    headers: { Authorization: authorization, "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const answer = (await response.json()) as Record<string, any>;
  if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** A booking waiting for the merchant's answer (the slot confirms asynchronously), made through `server`. */
async function pendingBooking(server: ServerProcess, name: string): Promise<string> {
  const answer = await call(
    server,
    "/v3/CreateBooking",
    {
      slot: { merchant_id: merchantId, service_id: "dinner", start_sec: String(futureStartSec), duration_sec: "3600" },
      idempotency_token: `outbox-${name}`,
      user_information: { user_id: `user-${name}`, given_name: "A", family_name: "B", telephone: "+1", email: `${name}@example.com` },
    },
    authHeader,
  );
  expect(answer.booking.status).toBe("PENDING_MERCHANT_CONFIRMATION");
  return answer.booking.booking_id as string;
}

/** The merchant's ConfirmBooking or CancelBooking through `server`: the status change queues a bookings.patch there. */
async function merchantSays(server: ServerProcess, method: "ConfirmBooking" | "CancelBooking", bookingId: string): Promise<void> {
  await call(server, `/partner.merchant.v1.MerchantService/${method}`, { bookingId }, `Bearer ${merchantToken}`);
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; PATCHes: ${JSON.stringify(google.patches)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const pendingPatches = async () =>
  Number((await onDatabase<{ count: string }>(database.url, "SELECT count(*) FROM notification_outbox WHERE kind = 'booking_patch' AND state = 'pending'"))[0].count);

/** A second of polls (the worker polls every 250 ms): what was delivered twice shows by then. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "booking-pg-outbox-"));
  database = await createTestDatabase();
  google = new RecordingGoogle(50);
  await google.listen();
  const imported = runCli(
    [
      "import",
      feedFile("merchants.json", { merchant: [{ merchant_id: merchantId, name: "Outbox Bistro" }] }),
      feedFile("services.json", { service: [{ merchant_id: merchantId, service_id: "dinner", name: "Dinner" }] }),
      feedFile("availability.json", {
        availability: [
          { merchant_id: merchantId, service_id: "dinner", start_sec: futureStartSec, duration_sec: 3600, spots_total: 40, spots_open: 40, confirmation_mode: "CONFIRMATION_MODE_ASYNCHRONOUS" },
        ],
      }),
    ],
    { BOOKING_DATABASE_URL: database.url },
  );
  expect(imported.status).toBe(0);
  instances.push(...(await Promise.all([serve("instance-a"), serve("instance-b")])));
}, clusterStartTimeoutMs);

afterAll(async () => {
  for (const instance of instances) await killIfRunning(instance);
  await google?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("when one instance queues a notification, then Google gets it exactly once, from whichever instance claimed it", async () => {
  const bookingId = await pendingBooking(instances[0], "once");
  await merchantSays(instances[0], "ConfirmBooking", bookingId);
  await waitUntil(() => google.of(bookingId).some((patch) => patch.answered), 30_000, "the PATCH");
  await waitUntil(async () => (await pendingPatches()) === 0, 10_000, "the delivery recorded");
  await settle();
  expect(google.of(bookingId).map((patch) => patch.status)).toEqual(["CONFIRMED"]);
  const [entry] = await onDatabase<{ state: string; attempts: number; claimed_until_ms: string | null }>(
    database.url,
    "SELECT state, attempts, claimed_until_ms FROM notification_outbox WHERE queue_key = $1 AND kind = 'booking_patch'",
    [bookingId],
  );
  expect(entry).toEqual({ state: "delivered", attempts: 1, claimed_until_ms: null });
}, 60_000);

test("when the bookings' confirmations and cancellations are queued on both instances, then each booking's PATCHes arrive once each and in order", async () => {
  const names = Array.from({ length: 10 }, (_, n) => `order-${n}`);
  const bookingIds = await Promise.all(names.map((name, n) => pendingBooking(instances[n % 2], name)));
  // The confirmation on one instance, the cancellation at once on the other: both entries wait in one queue.
  await Promise.all(
    bookingIds.map(async (bookingId, n) => {
      await merchantSays(instances[n % 2], "ConfirmBooking", bookingId);
      await merchantSays(instances[(n + 1) % 2], "CancelBooking", bookingId);
    }),
  );
  await waitUntil(async () => (await pendingPatches()) === 0, 60_000, "every PATCH delivered");
  await settle();
  for (const bookingId of bookingIds) {
    expect({ bookingId, statuses: google.of(bookingId).map((patch) => patch.status) }).toEqual({ bookingId, statuses: ["CONFIRMED", "CANCELED"] });
  }
  // Which instance sends which is the race itself (one may send them all): told, not asserted.
  const sent = bookingIds.flatMap((bookingId) => google.of(bookingId).map((patch) => patch.instance));
  console.log(`20 PATCHes of 10 bookings: instance-a sent ${sent.filter((instance) => instance === "instance-a").length}, instance-b ${sent.filter((instance) => instance === "instance-b").length}`);
}, 120_000);

test("when an instance is SIGKILLed while its PATCH to Google is in flight, then the other instance sends it once the claim expires", async () => {
  const bookingId = await pendingBooking(instances[0], "killed");
  let killed: Promise<void> | undefined;
  let sender: string | undefined;
  google.hold = (patch) => {
    if (patch.bookingId !== bookingId || sender !== undefined) return false;
    // Whichever instance claimed it: it dies with its request unanswered.
    sender = patch.instance;
    killed = killHard(instances[patch.instance === "instance-a" ? 0 : 1]);
    return true;
  };
  await merchantSays(instances[1], "ConfirmBooking", bookingId);
  await waitUntil(() => killed !== undefined, 30_000, "the PATCH in flight");
  await killed;

  await waitUntil(() => google.of(bookingId).some((patch) => patch.answered), (claimLeaseSec + 30) * 1000, "the PATCH sent again");
  const [first, second, ...more] = google.of(bookingId);
  expect(first).toMatchObject({ instance: sender, answered: false, status: "CONFIRMED" });
  expect(second).toMatchObject({ instance: sender === "instance-a" ? "instance-b" : "instance-a", answered: true, status: "CONFIRMED" });
  expect(more).toEqual([]);
  await waitUntil(async () => (await pendingPatches()) === 0, 10_000, "the delivery recorded");
  const [entry] = await onDatabase<{ state: string; attempts: number }>(
    database.url,
    "SELECT state, attempts FROM notification_outbox WHERE queue_key = $1 AND kind = 'booking_patch'",
    [bookingId],
  );
  expect(entry).toEqual({ state: "delivered", attempts: 2 });
}, 120_000);
