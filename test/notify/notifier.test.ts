import { create, type MessageInitShape } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Booking,
  BookingFailure_Cause,
  BookingFailureSchema,
  BookingSchema,
  BookingStatus,
  PaymentInformationSchema,
  PrepaymentStatus,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { bookingPatch, type BookingPatchOptions } from "../../src/notify/booking-notification.js";
import {
  Notifier,
  NotifierConfigError,
  parseRetryAfter,
  StaticTokenSource,
  type NotifierOptions,
} from "../../src/notify/notifier.js";
import { notifierConfigFromEnv } from "../../src/config/notifier-config.js";
import { MAX_RESPONSE_BYTES } from "../../src/notify/response-prefix.js";
import type { OutboxRepository, Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { GoogleStandIn } from "../support/google-stand-in.js";

const PARTNER = "20000123";
const TOKEN = "test-token-123";

let dir: string;
let dbPath: string;
let store: Store;
let google: GoogleStandIn;
let nowMs: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "notifier-"));
  dbPath = join(dir, "booking.sqlite");
  store = openSqliteStore(dbPath);
  google = new GoogleStandIn();
  await google.listen();
  nowMs = Date.UTC(2026, 5, 1, 12, 0, 0);
});

afterEach(async () => {
  await google.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function notifier(options: Partial<NotifierOptions> = {}): Notifier {
  return new Notifier({
    store,
    partnerId: PARTNER,
    baseUrl: google.baseUrl,
    tokenSource: new StaticTokenSource(TOKEN),
    now: () => nowMs,
    random: () => 0.5,
    ...options,
  });
}

function booking(bookingId: string, status: BookingStatus, paymentInformation?: MessageInitShape<typeof PaymentInformationSchema>): Booking {
  return create(BookingSchema, {
    bookingId,
    status,
    slot: {
      merchantId: "10001",
      serviceId: "1001",
      startSec: BigInt(Date.UTC(2026, 6, 1, 18, 30) / 1000),
      durationSec: 900n,
      resources: { partySize: 2 },
    },
    paymentInformation,
  });
}

/** Polls `condition` every 10 ms; throws after `timeoutMs`. */
async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Enqueues as the domain does: inside the unit of work that changes the status. */
function enqueue(b: Booking, options?: BookingPatchOptions): Promise<number> {
  return store.transaction((tx) => tx.outbox.enqueue(bookingPatch(b, options), Math.floor(nowMs / 1000)));
}

describe("booking notification PATCH", () => {
  test("sends the exact path, updateMask, camelCase body and Bearer header", async () => {
    const id = await enqueue(booking("b-1", BookingStatus.CONFIRMED));
    expect(await notifier().deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });

    expect(google.requests).toHaveLength(1);
    const [request] = google.requests;
    expect(request.method).toBe("PATCH");
    expect(request.path).toBe(`/v1alpha/notification/partners/${PARTNER}/bookings/b-1`);
    expect(request.query).toEqual({ updateMask: "status" });
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.body).toEqual({
      name: `partners/${PARTNER}/bookings/b-1`,
      merchantId: "10001",
      serviceId: "1001",
      startTime: "2026-07-01T18:30:00Z",
      duration: "900s",
      status: "CONFIRMED",
      partySize: "2",
    });
    const entry = (await store.read.outbox.get(id))!;
    expect(entry).toMatchObject({ state: "delivered", attempts: 1, lastStatus: 200 });
    expect(await store.read.outbox.depth(Math.floor(nowMs / 1000))).toEqual({ pending: 0, oldestPendingAgeSec: 0, dead: 0 });
  });

  test("FAILED carries bookingFailure.* as query parameters, not in the body", async () => {
    const failure = create(BookingFailureSchema, {
      cause: BookingFailure_Cause.SLOT_UNAVAILABLE,
      description: "kitchen closed",
    });
    await enqueue(booking("b-f", BookingStatus.FAILED), { failure });
    await notifier().deliverDue();

    const [request] = google.requests;
    expect(request.query).toEqual({
      updateMask: "status",
      "bookingFailure.cause": "SLOT_UNAVAILABLE",
      "bookingFailure.description": "kitchen closed",
    });
    expect(request.body.status).toBe("FAILED");
    expect(request.body).not.toHaveProperty("bookingFailure");
  });

  test("payment fields are sent when the mask names them", () => {
    const entry = bookingPatch(
      booking("b-p", BookingStatus.CANCELED, {
        prepaymentStatus: PrepaymentStatus.PREPAYMENT_REFUNDED,
        paymentTransactionId: "tx-9",
      }),
      { updateMask: ["status", "paymentInformation.prepaymentStatus"] },
    );
    expect(entry.updateMask).toBe("status,paymentInformation.prepaymentStatus");
    expect(JSON.parse(entry.payloadJson).paymentInformation).toEqual({
      prepaymentStatus: "PREPAYMENT_REFUNDED",
      paymentTransactionId: "tx-9",
    });
    // Not in the mask: not sent.
    expect(JSON.parse(bookingPatch(booking("b-q", BookingStatus.CANCELED)).payloadJson)).not.toHaveProperty(
      "paymentInformation",
    );
  });

  test("a rolled-back status change leaves no notification behind", async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.outbox.enqueue(bookingPatch(booking("b-r", BookingStatus.CONFIRMED)), 0);
        throw new Error("the status change failed");
      }),
    ).rejects.toThrow("the status change failed");
    expect(await store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });
});

describe("retries", () => {
  test("500 twice then 200: delivered after retries with growing backoff", async () => {
    google.script("b-5", { status: 500, body: "oops" }, { status: 503 });
    const id = await enqueue(booking("b-5", BookingStatus.CONFIRMED));
    const n = notifier({ baseBackoffMs: 1000 });

    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    let entry = (await store.read.outbox.get(id))!;
    expect(entry).toMatchObject({ state: "pending", attempts: 1, lastStatus: 500 });
    expect(entry.lastError).toContain("oops");
    // Full jitter with random() = 0.5: 0.5 * 1000 ms.
    expect(entry.nextAttemptAtMs).toBe(nowMs + 500);
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 0 }); // not due yet

    nowMs += 500;
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    entry = (await store.read.outbox.get(id))!;
    expect(entry.nextAttemptAtMs).toBe(nowMs + 1000); // 0.5 * 2000 ms

    nowMs += 1000;
    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(await store.read.outbox.get(id)).toMatchObject({ state: "delivered", attempts: 3, lastStatus: 200 });
    expect(google.for("b-5")).toHaveLength(3);
  });

  test("backoff is capped by maxBackoffMs", () => {
    const n = notifier({ baseBackoffMs: 1000, maxBackoffMs: 5000, random: () => 0.999 });
    expect(n.backoffMs(1)).toBe(999);
    expect(n.backoffMs(3)).toBe(3996);
    expect(n.backoffMs(20)).toBe(4995);
  });

  test("429 with Retry-After: 1 is honoured", async () => {
    google.script("b-429", { status: 429, headers: { "retry-after": "1" } });
    const id = await enqueue(booking("b-429", BookingStatus.CONFIRMED));
    // Jitter would allow 10 ms; Retry-After asks for a full second.
    const n = notifier({ baseBackoffMs: 20 });
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    expect((await store.read.outbox.get(id))!.nextAttemptAtMs).toBe(nowMs + 1000);

    nowMs += 999;
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 0 });
    expect(google.for("b-429")).toHaveLength(1);
    nowMs += 1;
    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(google.for("b-429")).toHaveLength(2);
  });

  test("Retry-After as an HTTP date", () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    const max = 5 * 60_000;
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now, max)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now, max)).toBe(0);
    expect(parseRetryAfter("120", now, max)).toBe(120_000);
    expect(parseRetryAfter("soon", now, max)).toBeUndefined();
    expect(parseRetryAfter(null, now, max)).toBeUndefined();
  });

  test("Retry-After is capped at maxBackoffMs in both forms", () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    const max = 5 * 60_000;
    expect(parseRetryAfter("99999999999", now, max)).toBe(max);
    expect(parseRetryAfter("9".repeat(400), now, max)).toBe(max); // Infinity once multiplied
    expect(parseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now, max)).toBe(max);
  });

  test("429 with Retry-After: 99999999999 is retried within maxBackoffMs; a garbage Retry-After falls back to the backoff", async () => {
    google.script("b-far", { status: 429, headers: { "retry-after": "99999999999" } });
    google.script("b-junk", { status: 503, headers: { "retry-after": "tomorrow-ish" } });
    const far = await enqueue(booking("b-far", BookingStatus.CONFIRMED));
    const junk = await enqueue(booking("b-junk", BookingStatus.CONFIRMED));
    const n = notifier({ baseBackoffMs: 1000, maxBackoffMs: 60_000 });
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 2, dead: 0 });
    expect((await store.read.outbox.get(far))!.nextAttemptAtMs).toBe(nowMs + 60_000);
    expect((await store.read.outbox.get(junk))!.nextAttemptAtMs).toBe(nowMs + 500); // the jittered backoff

    nowMs += 60_000;
    expect(await n.deliverDue()).toEqual({ delivered: 2, retried: 0, dead: 0 });
  });

  test("a dropped connection and a timeout are retried, then delivered", async () => {
    google.script("b-net", "drop", "hang");
    const id = await enqueue(booking("b-net", BookingStatus.CONFIRMED));
    const n = notifier({ requestTimeoutMs: 300 });

    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    expect(await store.read.outbox.get(id)).toMatchObject({ attempts: 1, lastStatus: null });
    expect((await store.read.outbox.get(id))!.lastError).toMatch(/request failed/);

    nowMs += 60_000;
    const started = Date.now();
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect((await store.read.outbox.get(id))!.lastError).toMatch(/timeout|abort/i);

    nowMs += 60_000;
    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(await store.read.outbox.get(id)).toMatchObject({ state: "delivered", attempts: 3 });
    expect(google.for("b-net")).toHaveLength(3);
  });
});

test("a token source that never answers is given up after the request timeout, like a request, and the entry retried", async () => {
  const id = await enqueue(booking("b-token", BookingStatus.CONFIRMED));
  const hanging = { getAccessToken: () => new Promise<string>(() => {}), describe: () => "a token source that hangs" };
  const started = Date.now();
  expect(await notifier({ tokenSource: hanging, requestTimeoutMs: 300 }).deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
  expect(Date.now() - started).toBeLessThan(10_000);
  expect((await store.read.outbox.get(id))!).toMatchObject({ state: "pending", attempts: 1, claimedUntilMs: null });
  expect((await store.read.outbox.get(id))!.lastError).toMatch(/timeout|abort/i);
  expect(google.for("b-token")).toEqual([]);
});

describe("answers of any size", () => {
  const floodBytes = 1536 * 1024 * 1024; // 1.5 GiB, as seen in the field
  // What the client took before it hung up: its 8 KiB, fetch's and the kernel's
  // buffers on loopback (a few MiB), never the body.
  const mostTakenBytes = 32 * 1024 * 1024;

  test("a 200 with a 1.5 GiB body: delivered, and the connection is closed after a few KiB", async () => {
    google.script("b-huge", { status: 200, floodBytes });
    const id = await enqueue(booking("b-huge", BookingStatus.CONFIRMED));
    const rssBefore = process.memoryUsage().rss;
    expect(await notifier().deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(await store.read.outbox.get(id)).toMatchObject({ state: "delivered", lastStatus: 200 });
    const [flood] = google.floods;
    await waitUntil(() => flood.closed, 5_000, "the client to close the flooding answer");
    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`200 with a 1.5 GiB body: the stand-in got ${(flood.written / 2 ** 20).toFixed(2)} MiB out before the client closed; RSS grew ${rssGrowthMiB.toFixed(1)} MiB`);
    expect(flood.written).toBeLessThan(mostTakenBytes);
  });

  test("a 500 with a 1.5 GiB body: retried, last_error keeps the first 8 KiB, the connection is closed", async () => {
    google.script("b-huge-500", { status: 500, floodBytes });
    const id = await enqueue(booking("b-huge-500", BookingStatus.CONFIRMED));
    expect(await notifier().deliverDue()).toEqual({ delivered: 0, retried: 1, dead: 0 });
    const entry = (await store.read.outbox.get(id))!;
    expect(entry).toMatchObject({ state: "pending", lastStatus: 500 });
    expect(entry.lastError).toBe(`HTTP 500: ${"x".repeat(MAX_RESPONSE_BYTES)}`);
    const [flood] = google.floods;
    await waitUntil(() => flood.closed, 5_000, "the client to close the flooding answer");
    console.log(`500 with a 1.5 GiB body: the stand-in got ${(flood.written / 2 ** 20).toFixed(2)} MiB out before the client closed`);
    expect(flood.written).toBeLessThan(mostTakenBytes);
  });

  test("a 400 with a 1.5 GiB body: dead with the first 8 KiB as its response body", async () => {
    google.script("b-huge-400", { status: 400, floodBytes });
    const id = await enqueue(booking("b-huge-400", BookingStatus.CONFIRMED));
    expect(await notifier().deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 1 });
    expect((await store.read.outbox.get(id))!.lastError).toBe("x".repeat(MAX_RESPONSE_BYTES));
    await waitUntil(() => google.floods[0].closed, 5_000, "the client to close the flooding answer");
    expect(google.floods[0].written).toBeLessThan(mostTakenBytes);
  });
});

describe("dead entries", () => {
  test("400 is dead with its body; listDead shows it; requeue delivers it", async () => {
    const errorBody = JSON.stringify({ error: { code: 400, message: "Invalid booking name", status: "INVALID_ARGUMENT" } });
    google.script("b-400", { status: 400, body: errorBody });
    const id = await enqueue(booking("b-400", BookingStatus.CANCELED));
    const n = notifier();

    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 1 });
    const dead = await store.read.outbox.listDead(10);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ id, queueKey: "b-400", state: "dead", lastStatus: 400, lastError: errorBody });
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 0 }); // not retried

    expect(await store.transaction((tx) => tx.outbox.requeue(id, nowMs))).toBe(true);
    expect(await store.transaction((tx) => tx.outbox.requeue(id, nowMs))).toBe(false); // no longer dead
    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(await store.read.outbox.listDead(10)).toEqual([]);
    expect(google.for("b-400")).toHaveLength(2);
  });

  test("a dead entry unblocks the next notification of its booking", async () => {
    google.script("b-d", { status: 404 });
    await enqueue(booking("b-d", BookingStatus.CONFIRMED));
    await enqueue(booking("b-d", BookingStatus.CANCELED));
    const n = notifier();
    await n.deliverDue();
    await n.deliverDue();
    expect(google.for("b-d").map((r) => r.body.status)).toEqual(["CONFIRMED", "CANCELED"]);
  });
});

describe("order", () => {
  test("per booking: the second entry waits until the first is delivered; other bookings are independent", async () => {
    google.script("b-a", { status: 500 });
    const first = await enqueue(booking("b-a", BookingStatus.CONFIRMED));
    const second = await enqueue(booking("b-a", BookingStatus.CANCELED));
    const other = await enqueue(booking("b-b", BookingStatus.CONFIRMED));
    const n = notifier();

    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 1, dead: 0 });
    expect((await store.read.outbox.get(other))!.state).toBe("delivered"); // b-b did not wait for b-a
    expect(await store.read.outbox.get(second)).toMatchObject({ state: "pending", attempts: 0 });
    expect((await store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 10)).map((e) => e.id)).toEqual([first]);

    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 0 }); // first is backing off
    expect(google.for("b-a")).toHaveLength(1);

    nowMs += 60_000;
    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(await n.deliverDue()).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(google.for("b-a").map((r) => r.body.status)).toEqual(["CONFIRMED", "CONFIRMED", "CANCELED"]);
    expect((await store.read.outbox.get(second))!.state).toBe("delivered");
  });
});

describe("durability and the worker", () => {
  test("a reopened store still has the pending entries and delivers them", async () => {
    await enqueue(booking("b-x", BookingStatus.CONFIRMED));
    await enqueue(booking("b-y", BookingStatus.DECLINED_BY_MERCHANT));
    nowMs += 7_000;
    await store.close();

    store = openSqliteStore(dbPath);
    expect(await store.read.outbox.depth(Math.floor(nowMs / 1000))).toEqual({ pending: 2, oldestPendingAgeSec: 7, dead: 0 });
    expect(await notifier().deliverDue()).toEqual({ delivered: 2, retried: 0, dead: 0 });
    expect(google.requests.map((r) => [r.bookingId, r.body.status])).toEqual(
      expect.arrayContaining([
        ["b-x", "CONFIRMED"],
        ["b-y", "DECLINED_BY_MERCHANT"],
      ]),
    );
    expect((await store.read.outbox.depth(Math.floor(nowMs / 1000))).pending).toBe(0);
  });

  test("an entry a killed run was sending (its claim still live) is sent again at once after restart, not after the claim lease", async () => {
    const id = await enqueue(booking("b-in-flight", BookingStatus.CONFIRMED));
    // What the killed run left: the attempt claimed for a lease far longer than this test.
    expect(await store.transaction((tx) => tx.outbox.claim(id, Date.now(), Date.now() + 3_600_000))).toBeDefined();
    await store.close();
    store = openSqliteStore(dbPath);

    const n = notifier({ now: Date.now, pollIntervalMs: 50 });
    n.start();
    try {
      await waitUntil(() => google.for("b-in-flight").length === 1, 5_000, "the delivery after restart");
    } finally {
      await n.stop();
    }
    expect((await store.read.outbox.get(id))!).toMatchObject({ state: "delivered", attempts: 2, claimedUntilMs: null });
  });

  test("start() polls, notify() wakes it, stop() waits for the delivery in flight", async () => {
    const n = notifier({ now: Date.now, pollIntervalMs: 10_000 });
    expect(n.start()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50)); // first (empty) pass
    await enqueue(booking("b-w", BookingStatus.CONFIRMED));
    n.notify();
    for (let i = 0; i < 100 && google.requests.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await n.stop();
    expect(google.for("b-w")).toHaveLength(1);
    expect(await store.read.outbox.listDead(10)).toEqual([]);
    expect(await store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });

  test("stop() waits for a slow delivery to finish", async () => {
    google.script("b-slow", "hang");
    const id = await enqueue(booking("b-slow", BookingStatus.CONFIRMED));
    const n = notifier({ requestTimeoutMs: 300 });
    n.start();
    for (let i = 0; i < 100 && google.requests.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await n.stop();
    // The timed-out attempt was recorded before stop() returned.
    expect(await store.read.outbox.get(id)).toMatchObject({ state: "pending", attempts: 1 });
  });

  test("without a partner id nothing starts and the outbox keeps the notifications", async () => {
    const n = notifier({ partnerId: undefined, tokenSource: undefined });
    expect(n.start()).toBe(false);
    expect(n.describe()).toMatch(/outbox keeps .* until NOTIFICATION_PARTNER_ID is set/);
    await enqueue(booking("b-k", BookingStatus.CONFIRMED));
    expect(await n.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 0 });
    expect(google.requests).toHaveLength(0);
    expect((await store.read.outbox.depth(Math.floor(nowMs / 1000))).pending).toBe(1);
  });
});

describe("store errors in the worker", () => {
  /** `store` whose outbox method `method` (a plain read's or a unit's) rejects with `error` the first time it is called. */
  function failingOnce(method: keyof OutboxRepository, error: Error): Store {
    let failed = false;
    const failing = <T extends object>(outbox: T): T =>
      new Proxy(outbox, {
        get(target, property) {
          const value = Reflect.get(target, property);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            if (property === method && !failed) {
              failed = true;
              return Promise.reject(error);
            }
            return value.apply(target, args);
          };
        },
      });
    return {
      ...store,
      read: { ...store.read, outbox: failing(store.read.outbox) },
      transaction: (work, options) => store.transaction((tx) => work({ ...tx, outbox: failing(tx.outbox) }), options),
    };
  }

  test.each([
    ["nextDue", new Database.SqliteError("database is locked", "SQLITE_BUSY")],
    ["claim", new Database.SqliteError("database or disk is full", "SQLITE_FULL")],
    ["markDelivered", new Database.SqliteError("attempt to write a readonly database", "SQLITE_READONLY")],
  ] as const)("when %s throws %s once, onTickError hears of it and a later tick delivers", async (method, error) => {
    const id = await enqueue(booking(`b-${method}`, BookingStatus.CONFIRMED));
    const tickErrors: unknown[] = [];
    // A claim whose answer could not be recorded holds the entry until it expires: 300 ms here.
    const n = notifier({ store: failingOnce(method, error), now: Date.now, pollIntervalMs: 50, claimLeaseMs: 300, onTickError: (e) => tickErrors.push(e) });
    n.start();
    try {
      await waitUntil(async () => (await store.read.outbox.get(id))!.state === "delivered", 5_000, "the delivery");
    } finally {
      await n.stop();
    }
    expect(tickErrors).toEqual([error]);
    // A failed claim sent nothing; a failed markDelivered leaves the entry pending, so it is sent again once its claim expires (at least once).
    expect(google.for(`b-${method}`)).toHaveLength(method === "markDelivered" ? 2 : 1);
  });

  test("a real 'database is locked' (another connection holds the write lock) is survived; delivered once the lock goes", async () => {
    const id = await enqueue(booking("b-locked", BookingStatus.CONFIRMED));
    const locker = new Database(dbPath);
    locker.exec("BEGIN IMMEDIATE");
    const tickErrors: unknown[] = [];
    const n = notifier({ now: Date.now, pollIntervalMs: 50, onTickError: (e) => tickErrors.push(e) });
    n.start();
    try {
      // The claim's unit is retried for the store's busy window (busyRetryWindowMs, 2 s), then fails with StoreBusyError.
      await waitUntil(() => tickErrors.length > 0, 15_000, "a tick error");
      expect((tickErrors[0] as { code?: string }).code).toBe("SQLITE_BUSY");
      locker.exec("ROLLBACK");
      await waitUntil(async () => (await store.read.outbox.get(id))!.state === "delivered", 10_000, "the delivery");
    } finally {
      await n.stop();
      locker.close();
    }
    expect(google.for("b-locked")).toHaveLength(1);
  }, 30_000);
});

describe("entries an older version scheduled too far ahead", () => {
  test("an entry due in 3,175 years is delivered after restart within maxBackoffMs", async () => {
    const id = await enqueue(booking("b-ancient", BookingStatus.CONFIRMED));
    // What an older version stored for Retry-After: 99999999999.
    await store.transaction((tx) => tx.outbox.scheduleRetry(id, Date.now() + 99_999_999_999_000, 429, "HTTP 429: ", null));
    const other = await enqueue(booking("b-recent", BookingStatus.CONFIRMED));
    await store.transaction((tx) => tx.outbox.scheduleRetry(other, Date.now() + 60_000, 503, "HTTP 503: ", null));
    await store.close();
    store = openSqliteStore(dbPath);

    const maxBackoffMs = 500;
    const started = Date.now();
    const n = notifier({ now: Date.now, pollIntervalMs: 50, maxBackoffMs });
    n.start();
    try {
      await waitUntil(() => google.for("b-ancient").length === 1 && google.for("b-recent").length === 1, 5_000, "both deliveries");
    } finally {
      await n.stop();
    }
    console.log(`entry due in 3,175 years: delivered ${Date.now() - started} ms after start (maxBackoffMs ${maxBackoffMs})`);
    expect((await store.read.outbox.get(id))!.state).toBe("delivered");
    expect(Date.now() - started).toBeLessThan(maxBackoffMs + 3_000);
  });
});

describe("notifierConfigFromEnv", () => {
  test("defaults and a static bearer token", async () => {
    expect(notifierConfigFromEnv({})).toEqual({
      baseUrl: "https://mapsbooking.googleapis.com",
      partnerId: undefined,
      tokenSource: undefined,
    });
    const config = notifierConfigFromEnv({
      NOTIFICATION_API_URL: "http://127.0.0.1:9999/",
      NOTIFICATION_PARTNER_ID: "p1",
      NOTIFICATION_BEARER_TOKEN: "tok",
    });
    expect(config.baseUrl).toBe("http://127.0.0.1:9999");
    expect(config.partnerId).toBe("p1");
    expect(await config.tokenSource!.getAccessToken()).toBe("tok");
  });

  test("a service-account key file is used when no static token is given, and a partner id needs credentials", () => {
    const withKey = notifierConfigFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: "/etc/booking/key.json", NOTIFICATION_PARTNER_ID: "p" });
    expect(withKey.tokenSource!.describe()).toMatch(/\/etc\/booking\/key\.json/);
    const both = notifierConfigFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: "/key.json", NOTIFICATION_BEARER_TOKEN: "tok" });
    expect(both.tokenSource!.describe()).toMatch(/NOTIFICATION_BEARER_TOKEN/);
    expect(() => notifierConfigFromEnv({ NOTIFICATION_PARTNER_ID: "p" })).toThrow(/GOOGLE_APPLICATION_CREDENTIALS/);
    expect(() => notifierConfigFromEnv({ NOTIFICATION_API_URL: "not a url" })).toThrow(NotifierConfigError);
  });
});
