/**
 * InventoryService through a real server on a real SQLite file, with real
 * clients: every RPC's success and refusal over Connect JSON and gRPC
 * (grpc-js), ListAvailability over gRPC-Web too, and one call with
 * `buf curl`. Bookings are made the way Google makes them (REST
 * CreateBooking); a refused call changes nothing, as ListAvailability and
 * Google's BatchAvailabilityLookup then show.
 */
import { Code } from "@connectrpc/connect";
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { InventoryService } from "../../gen/es/partner/inventory/v1/inventory_service_pb";
import { book, newUser, slotJson, type Json } from "../support/rest-helpers";
import { RpcError } from "../support/rpc-clients";
import { futureStartSec, hour, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";
import { connectJson, grpcJs, grpcWeb, type InventoryClient, type InventoryProtocol } from "./inventory-api-clients";

const adminToken = "inventory-admin-token";
const t0 = futureStartSec;

/** Merchants with their tokens, known to the server from its start; each test takes the next one. */
const merchants = Array.from({ length: 30 }, (_, n) => ({ merchantId: `bistro-${n}`, token: `token-of-bistro-${n}` }));
let server: TestServer;
beforeAll(async () => {
  const merchantTokens = new Map(merchants.map(({ merchantId, token }) => [merchantId, token]));
  server = await startTestServer({ merchantAuth: { merchantTokens, adminToken } });
});
afterAll(() => server.close());

/** A merchant of its own with a token, service "dinner" and tables for 2 at t0 and t0 + 1 h (3 spots each). */
async function newMerchant(): Promise<{ merchantId: string; token: string }> {
  const { merchantId, token } = merchants.shift()!;
  await seedSlots(server.store, [
    { merchantId, serviceId: "dinner", startSec: t0, partySize: 2, spotsTotal: 3 },
    { merchantId, serviceId: "dinner", startSec: t0 + hour, partySize: 2, spotsTotal: 3 },
  ]);
  return { merchantId, token };
}

/** The error a call was refused with (fails the test when it succeeded). */
async function refusal(call: Promise<unknown>): Promise<RpcError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RpcError);
  return error as RpcError;
}

const window = (merchantId: string, extra: Json = {}): Json => ({
  merchantId,
  startSec: String(t0),
  endSec: String(t0 + 2 * hour),
  ...extra,
});

/** (start offset in hours, total, open, taken elsewhere, held by bookings) of each slot of the merchant's two hours. */
async function slotsOf(client: InventoryClient, merchantId: string): Promise<number[][]> {
  const { slots = [] } = await client.call("listAvailability", window(merchantId), adminToken);
  return slots.map((slot: Json) =>
    // Proto3 JSON leaves out zeros.
    [(Number(slot.startSec) - t0) / hour, slot.spotsTotal, slot.spotsOpen, slot.spotsTakenElsewhere, slot.spotsHeldByBookings].map((n) => Number(n ?? 0)),
  );
}

/** Whether Google's BatchAvailabilityLookup finds the table for 2 at each hour available. */
async function googleSees(merchantId: string): Promise<boolean[]> {
  const slotTime = (startSec: number) => ({ service_id: "dinner", start_sec: String(startSec), duration_sec: "3600", resource_ids: { party_size: 2 } });
  const response = await rest(server, "BatchAvailabilityLookup", { merchant_id: merchantId, slot_time: [slotTime(t0), slotTime(t0 + hour)] });
  expect(response.status).toBe(200);
  return response.body.slot_time_availability.map((answer: Json) => answer.available ?? false);
}

const dinnerAt = (merchantId: string, startSec: number) => slotJson({ merchantId, serviceId: "dinner", startSec, partySize: 2 });

describe.each([connectJson, grpcJs])("InventoryService over %s", (protocol: InventoryProtocol) => {
  let client: InventoryClient;
  beforeAll(() => {
    client = protocol.connect(server.baseUrl);
  });
  afterAll(() => client.close());

  test("when availability is replaced, then the answer says what changed and Google's lookup sees the new spots", async () => {
    const { merchantId, token } = await newMerchant();
    await book(server, dinnerAt(merchantId, t0), newUser());

    const response = await client.call("replaceAvailability", window(merchantId, {
      serviceId: "dinner",
      slots: [{ startSec: String(t0), durationSec: "3600", resources: { partySize: 2 }, spotsTotal: "3", spotsOpen: "1" }],
    }), token);

    expect(response).toMatchObject({ updated: 1, removed: 1 });
    // One spot left by the other channels, and it is the one the booking made here holds.
    expect(response.slots).toMatchObject([{ spotsTotal: "3", spotsTakenElsewhere: "2", spotsHeldByBookings: "1" }]);
    expect(response.slots[0].spotsOpen ?? "0").toBe("0");
    expect(await slotsOf(client, merchantId)).toEqual([[0, 3, 0, 2, 1]]);
    expect(await googleSees(merchantId)).toEqual([false, false]);
  });

  test("when a replacement ends before it starts, then it is refused as invalid_argument and nothing changes", async () => {
    const { merchantId, token } = await newMerchant();
    const error = await refusal(client.call("replaceAvailability", window(merchantId, { serviceId: "dinner", endSec: String(t0 - 1) }), token));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^end_sec: must be after start_sec/);
    expect(await slotsOf(client, merchantId)).toEqual([[0, 3, 3, 0, 0], [1, 3, 3, 0, 0]]);
  });

  test("when a walk-in takes spots, then the answer has the slot after it, and taking more than is open is failed_precondition", async () => {
    const { merchantId, token } = await newMerchant();
    const adjust = (change: Json) =>
      client.call("adjustSpots", { merchantId, serviceId: "dinner", startSec: String(t0), durationSec: "3600", resources: { partySize: 2 }, ...change }, token);

    expect(await adjust({ takeSpots: 2 })).toMatchObject({ spotsOpenBefore: "3", slot: { spotsOpen: "1", spotsTakenElsewhere: "2" } });
    const error = await refusal(adjust({ takeSpots: 2 }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toMatch(/1 spot\(s\) open: 2 cannot be taken/);
    expect((await refusal(adjust({ takeSpots: -1 }))).code).toBe(Code.InvalidArgument);
    expect(await adjust({ giveBackSpots: 1 })).toMatchObject({ slot: { spotsOpen: "2" } });
    expect(await slotsOf(client, merchantId)).toEqual([[0, 3, 2, 1, 0], [1, 3, 3, 0, 0]]);
  });

  test("when an evening is closed, then Google sees no spot and the bookings already made are listed and stay", async () => {
    const { merchantId, token } = await newMerchant();
    const booking = await book(server, dinnerAt(merchantId, t0 + hour), newUser());

    const response = await client.call("closeAvailability", window(merchantId), token);

    expect(response).toMatchObject({ closed: 2 });
    expect(response.withBookings).toHaveLength(1);
    expect(response.withBookings[0].bookings.map((b: Json) => b.bookingId)).toEqual([booking.booking_id]);
    expect(await googleSees(merchantId)).toEqual([false, false]);
    expect((await rest(server, "GetBookingStatus", { booking_id: booking.booking_id })).body.booking_status).toBe("CONFIRMED");
  });

  test("when a service is unknown, then the change is refused as not_found and nothing changes", async () => {
    const { merchantId, token } = await newMerchant();
    const error = await refusal(client.call("closeAvailability", window(merchantId, { serviceId: "lunch" }), token));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toBe(`merchant ${merchantId} has no service lunch`);
    expect(await googleSees(merchantId)).toEqual([true, true]);
  });

  test("when another merchant's token is used for any call, then it is permission_denied and nothing changes; without a token unauthenticated", async () => {
    const { merchantId } = await newMerchant();
    const other = await newMerchant();
    const calls: Array<[Parameters<InventoryClient["call"]>[0], Json]> = [
      ["replaceAvailability", window(merchantId, { serviceId: "dinner" })],
      ["adjustSpots", { merchantId, serviceId: "dinner", startSec: String(t0), durationSec: "3600", resources: { partySize: 2 }, takeSpots: 1 }],
      ["closeAvailability", window(merchantId)],
      ["listAvailability", window(merchantId)],
    ];
    for (const [method, request] of calls) {
      const error = await refusal(client.call(method, request, other.token));
      expect([method, error.code, error.rawMessage]).toEqual([method, Code.PermissionDenied, `this token may not act for merchant ${merchantId}`]);
      expect((await refusal(client.call(method, request, null))).code).toBe(Code.Unauthenticated);
    }
    expect(await slotsOf(client, merchantId)).toEqual([[0, 3, 3, 0, 0], [1, 3, 3, 0, 0]]);
    expect(await googleSees(merchantId)).toEqual([true, true]);
  });
});

describe("ListAvailability over gRPC-Web", () => {
  test("when the admin lists a merchant's slots, then each comes with its total, open and held spots", async () => {
    const { merchantId } = await newMerchant();
    await book(server, dinnerAt(merchantId, t0), newUser());
    const client = grpcWeb.connect(server.baseUrl);
    const { slots } = await client.call("listAvailability", window(merchantId, { serviceId: "dinner" }), adminToken);
    expect(slots).toEqual([
      expect.objectContaining({ serviceId: "dinner", spotsTotal: "3", spotsOpen: "2", spotsHeldByBookings: "1", resources: { partySize: 2 } }),
      expect.objectContaining({ spotsTotal: "3", spotsOpen: "3" }),
    ]);
  });
});

describe("buf curl over gRPC", () => {
  const repoRoot = resolve(__dirname, "../..");
  test("when buf curl takes a walk-in with the merchant's token, then it prints the slot after it", async () => {
    const { merchantId, token } = await newMerchant();
    const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", "proto", "-H", `Authorization: Bearer ${token}`];
    args.push("-d", JSON.stringify({ merchantId, serviceId: "dinner", startSec: String(t0), durationSec: "3600", resources: { partySize: 2 }, takeSpots: 1 }));
    args.push(`${server.baseUrl}/${InventoryService.typeName}/AdjustSpots`);

    const { stdout } = await promisify(execFile)(join(repoRoot, "node_modules/.bin/buf"), args, { cwd: repoRoot, timeout: 15000 });

    expect(JSON.parse(stdout)).toMatchObject({ slot: { spotsOpen: "2", spotsTakenElsewhere: "1" }, spotsOpenBefore: "3" });
  }, 20000);
});
