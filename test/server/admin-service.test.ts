/**
 * AdminService: the operator's view of the notification outbox, over Connect
 * (JSON over HTTP/1.1) and one buf curl call (gRPC), against a real server on
 * a real SQLite file. Dead entries are put straight into the outbox, the way
 * the notifier leaves them when Google answers a 4xx other than 429.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { AdminService } from "../../gen/es/partner/admin/v1/admin_service_pb";
import type { Notifier } from "../../src/notify/notifier";
import { createBookingServer } from "../../src/server/booking-server";
import type { MerchantAuth } from "../../src/server/bearer-auth";
import type { OutboxEntryInput, Store } from "../../src/store/repositories";
import { openSqliteStore } from "../../src/store/sqlite-store";
import { manualClock, startTestServer, type TestServer } from "../support/test-server";

const merchantToken = "token-of-merchant-a";
const adminToken = "the-admin-token";
const merchantAuth: MerchantAuth = { merchantTokens: new Map([["merchant-a", merchantToken]]), adminToken };
const googleRefusal = '{"error":{"code":400,"message":"Invalid booking status","status":"INVALID_ARGUMENT"}}';
const startSec = 1_900_000_000;

const as = (token: string | null): { headers: Record<string, string> } => ({
  headers: token === null ? {} : { authorization: `Bearer ${token}` },
});

function adminClient(baseUrl: string): Client<typeof AdminService> {
  return createClient(AdminService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }));
}

let nextBooking = 0;
function notification(queueKey = `booking-${++nextBooking}`): OutboxEntryInput {
  return {
    queueKey,
    kind: "booking_patch",
    updateMask: "status",
    payloadJson: '{"status":"CANCELED"}',
    queryJson: "{}",
  };
}

/** A notification the notifier gave up on after Google answered 400. */
function deadEntry(store: Store, nowSec: number, queueKey?: string): Promise<number> {
  return store.transaction(async (tx) => {
    const id = await tx.outbox.enqueue(notification(queueKey), nowSec);
    await tx.outbox.markDead(id, 400, googleRefusal, null);
    return id;
  });
}

/** The Connect code a call failed with (fails the test when it succeeded). */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return (error as ConnectError).code;
}

let server: TestServer;
let admin: Client<typeof AdminService>;
let clock: ReturnType<typeof manualClock>;
beforeEach(async () => {
  clock = manualClock(startSec);
  server = await startTestServer({ merchantAuth, clock });
  admin = adminClient(server.baseUrl);
});
afterEach(() => server.close());

describe("GetOutboxStatus", () => {
  test("when the outbox is empty, then every count is 0", async () => {
    const status = await admin.getOutboxStatus({}, as(adminToken));

    expect(status).toMatchObject({ pendingCount: 0n, oldestPendingAgeSec: 0n, deadCount: 0n });
  });

  test("when entries are pending and dead, then it counts both and ages the oldest pending one", async () => {
    await server.store.transaction((tx) => tx.outbox.enqueue(notification(), startSec));
    await server.store.transaction((tx) => tx.outbox.enqueue(notification(), startSec + 30));
    await deadEntry(server.store, startSec);
    clock.advance(90);

    const status = await admin.getOutboxStatus({}, as(adminToken));

    expect(status).toMatchObject({ pendingCount: 2n, oldestPendingAgeSec: 90n, deadCount: 1n });
  });
});

describe("ListDeadNotifications", () => {
  test("when an entry is dead, then it shows Google's status and response body with the request it refused", async () => {
    const id = await deadEntry(server.store, startSec, "booking-refused");
    await server.store.transaction((tx) => tx.outbox.enqueue(notification(), startSec)); // pending: not listed

    const { deadNotifications, nextPageToken } = await admin.listDeadNotifications({}, as(adminToken));

    expect(deadNotifications).toHaveLength(1);
    expect(deadNotifications[0]).toMatchObject({
      id: BigInt(id),
      queueKey: "booking-refused",
      kind: "booking_patch",
      updateMask: "status",
      payloadJson: '{"status":"CANCELED"}',
      queryJson: "{}",
      attempts: (await server.store.read.outbox.get(id))!.attempts,
      lastStatus: 400,
      lastError: googleRefusal,
      createdAtSec: BigInt(startSec),
    });
    expect(nextPageToken).toBe("");
  });

  test("when there are more dead entries than page_size, then the pages cover each one once, oldest first", async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 5; i++) ids.push(BigInt(await deadEntry(server.store, startSec)));

    const seen: bigint[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await admin.listDeadNotifications({ pageSize: 2, pageToken }, as(adminToken));
      expect(page.deadNotifications.length).toBeLessThanOrEqual(2);
      seen.push(...page.deadNotifications.map((n) => n.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");

    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
  });

  test("when page_token is not one the server gave, then it answers invalid_argument", async () => {
    expect(await codeOf(admin.listDeadNotifications({ pageToken: "nonsense" }, as(adminToken)))).toBe(
      Code.InvalidArgument,
    );
  });
});

describe("RequeueNotification", () => {
  test("when a dead entry is re-queued, then it is pending and due now, and no longer listed as dead", async () => {
    const id = await deadEntry(server.store, startSec);
    const before = Date.now();

    await admin.requeueNotification({ id: BigInt(id) }, as(adminToken));

    const status = await admin.getOutboxStatus({}, as(adminToken));
    expect(status).toMatchObject({ pendingCount: 1n, deadCount: 0n });
    expect((await admin.listDeadNotifications({}, as(adminToken))).deadNotifications).toEqual([]);
    const entry = await server.store.read.outbox.get(id);
    expect(entry).toMatchObject({ state: "pending", lastStatus: 400, lastError: googleRefusal });
    expect(entry!.nextAttemptAtMs).toBeLessThanOrEqual(Date.now());
    expect(entry!.nextAttemptAtMs).toBeGreaterThanOrEqual(before);
  });

  test("when the entry is pending, not dead, then it answers failed_precondition and leaves it as it is", async () => {
    const id = await server.store.transaction((tx) => tx.outbox.enqueue(notification(), startSec));

    expect(await codeOf(admin.requeueNotification({ id: BigInt(id) }, as(adminToken)))).toBe(Code.FailedPrecondition);
    expect(await server.store.read.outbox.get(id)).toMatchObject({ state: "pending", attempts: 0 });
  });

  test("when the entry was delivered, then it answers failed_precondition", async () => {
    const id = await server.store.transaction((tx) => tx.outbox.enqueue(notification(), startSec));
    await server.store.transaction((tx) => tx.outbox.markDelivered(id, startSec, 200, null));

    expect(await codeOf(admin.requeueNotification({ id: BigInt(id) }, as(adminToken)))).toBe(Code.FailedPrecondition);
    expect(await server.store.read.outbox.get(id)).toMatchObject({ state: "delivered" });
  });

  test("when no entry has the id, then it answers not_found", async () => {
    expect(await codeOf(admin.requeueNotification({ id: 424242n }, as(adminToken)))).toBe(Code.NotFound);
  });

  test("when a dead entry is re-queued, then the notifier is woken at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "admin-test-"));
    const store = openSqliteStore(join(dir, "booking.db"));
    const notify = jest.fn();
    const notifier = { notify, start: jest.fn(), stop: jest.fn(async () => undefined) } as unknown as Notifier;
    const own = createBookingServer({ store, credentials: undefined, merchantAuth, notifier });
    const { port } = await own.listen(0, "127.0.0.1");
    try {
      const id = await deadEntry(store, startSec);
      const client = adminClient(`http://127.0.0.1:${port}`);

      await client.requeueNotification({ id: BigInt(id) }, as(adminToken));

      expect(notify).toHaveBeenCalledTimes(1);
      await codeOf(client.requeueNotification({ id: BigInt(id) }, as(adminToken)));
      expect(notify).toHaveBeenCalledTimes(1); // a refused re-queue wakes nobody
    } finally {
      await own.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("authentication", () => {
  const calls: Array<[string, (client: Client<typeof AdminService>, token: string | null) => Promise<unknown>]> = [
    ["GetOutboxStatus", (client, token) => client.getOutboxStatus({}, as(token))],
    ["ListDeadNotifications", (client, token) => client.listDeadNotifications({}, as(token))],
    ["RequeueNotification", (client, token) => client.requeueNotification({ id: 1n }, as(token))],
  ];

  test.each(calls)("when a merchant's token calls %s, then it answers permission_denied", async (_name, call) => {
    const id = await deadEntry(server.store, startSec);

    expect(await codeOf(call(admin, merchantToken))).toBe(Code.PermissionDenied);
    expect(await server.store.read.outbox.get(id)).toMatchObject({ state: "dead" });
  });

  test.each(calls)("when %s is called without a token, then it answers unauthenticated", async (_name, call) => {
    expect(await codeOf(call(admin, null))).toBe(Code.Unauthenticated);
  });

  test("when the token is unknown, then it answers unauthenticated", async () => {
    expect(await codeOf(admin.getOutboxStatus({}, as("not-a-token")))).toBe(Code.Unauthenticated);
  });

  test("when no admin token is configured, then AdminService is not served", async () => {
    const withoutAdmin = await startTestServer({ merchantAuth: { merchantTokens: merchantAuth.merchantTokens } });
    try {
      expect(await codeOf(adminClient(withoutAdmin.baseUrl).getOutboxStatus({}, as(merchantToken)))).toBe(
        Code.Unimplemented,
      );
    } finally {
      await withoutAdmin.close();
    }
  });
});

describe("buf curl over gRPC", () => {
  const repoRoot = resolve(__dirname, "../..");
  const buf = join(repoRoot, "node_modules/.bin/buf");

  test("when buf curl lists dead notifications with the admin token, then it prints Google's answer", async () => {
    const id = await deadEntry(server.store, startSec, "booking-curl");
    const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", "proto"];
    args.push("-H", `Authorization: Bearer ${adminToken}`);
    args.push("-d", JSON.stringify({ pageSize: 10 }));
    args.push(`${server.baseUrl}/${AdminService.typeName}/ListDeadNotifications`);

    const { stdout } = await promisify(execFile)(buf, args, { cwd: repoRoot, timeout: 15000 });

    expect(JSON.parse(stdout)).toEqual({
      deadNotifications: [
        expect.objectContaining({
          id: String(id),
          queueKey: "booking-curl",
          lastStatus: 400,
          lastError: googleRefusal,
        }),
      ],
    });
  }, 20000);
});
