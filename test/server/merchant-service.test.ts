/**
 * MerchantService: a merchant's decisions on its bookings, over Connect (JSON
 * over HTTP/1.1) and one buf curl call (gRPC), against a real server on a real
 * SQLite file. Bookings are made the way Google makes them (REST CreateBooking).
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  BookingFailure_Cause,
  BookingStatus,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MerchantService, type MerchantBooking } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { book, countAvailable, newUser, slotJson, type Json } from "../support/rest-helpers";
import { futureStartSec, hour, manualClock, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";

const ASYNCHRONOUS = 2;
const tokens = { a: "token-of-merchant-a", b: "token-of-merchant-b", list: "token-of-merchant-list" };
const adminToken = "the-admin-token";
const merchantAuth = {
  merchantTokens: new Map([
    ["merchant-a", tokens.a],
    ["merchant-b", tokens.b],
    ["merchant-list", tokens.list],
  ]),
  adminToken,
};
const bearer = (token: string) => `Bearer ${token}`;

let server: TestServer;
let merchant: Client<typeof MerchantService>;
beforeAll(async () => {
  server = await startTestServer({ merchantAuth });
  merchant = createClient(
    MerchantService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  );
});
afterAll(() => server.close());

let nextHour = 0;
/** Seeds one slot of its own (merchant-a unless told) and books it through Google's REST API. */
async function pendingBooking(
  options: { merchantId?: string; startSec?: number; spots?: number; mode?: number; target?: TestServer } = {},
): Promise<{ booking: Json; slot: Json }> {
  const target = options.target ?? server;
  const merchantId = options.merchantId ?? "merchant-a";
  const startSec = options.startSec ?? futureStartSec + ++nextHour * hour;
  await seedSlots(target.store, [
    {
      merchantId,
      serviceId: "haircut",
      startSec,
      spotsTotal: options.spots ?? 2,
      confirmationMode: options.mode ?? ASYNCHRONOUS,
    },
  ]);
  const slot = slotJson({ merchantId, serviceId: "haircut", startSec });
  const booking = await book(target, slot, newUser());
  return { booking, slot };
}

const as = (token: string | null): { headers: Record<string, string> } => ({
  headers: token === null ? {} : { authorization: bearer(token) },
});

/** The Connect code a call failed with (fails the test when it succeeded). */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return (error as ConnectError).code;
}

async function statusOf(bookingId: string): Promise<BookingStatus> {
  return (await server.store.read.bookings.get(bookingId))!.booking.status;
}

describe("decisions on a pending booking", () => {
  test("when the merchant confirms, then the booking is CONFIRMED and its spot stays held", async () => {
    const { booking, slot } = await pendingBooking();
    expect(booking.status).toBe("PENDING_MERCHANT_CONFIRMATION");
    expect(await countAvailable(server, slot)).toBe(1);

    const response = await merchant.confirmBooking({ bookingId: booking.booking_id }, as(tokens.a));

    expect(response.booking?.status).toBe(BookingStatus.CONFIRMED);
    expect(response.booking?.bookingId).toBe(booking.booking_id);
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.CONFIRMED);
    expect((await server.store.read.bookings.get(booking.booking_id))!.holdsSpot).toBe(true);
    expect(await countAvailable(server, slot)).toBe(1);
  });

  test("when the merchant declines, then the booking is DECLINED_BY_MERCHANT and its spot is open again", async () => {
    const { booking, slot } = await pendingBooking();

    const response = await merchant.declineBooking({ bookingId: booking.booking_id }, as(tokens.a));

    expect(response.booking?.status).toBe(BookingStatus.DECLINED_BY_MERCHANT);
    expect((await server.store.read.bookings.get(booking.booking_id))!.holdsSpot).toBe(false);
    expect(await countAvailable(server, slot)).toBe(2);
  });

  test("when the merchant fails it with a cause, then the booking is FAILED, the failure is answered and the spot is open again", async () => {
    const { booking, slot } = await pendingBooking();

    const response = await merchant.failBooking(
      { bookingId: booking.booking_id, cause: BookingFailure_Cause.PAYMENT_ERROR, description: "card declined" },
      as(tokens.a),
    );

    expect(response.booking?.status).toBe(BookingStatus.FAILED);
    expect(response.bookingFailure).toMatchObject({ cause: BookingFailure_Cause.PAYMENT_ERROR, description: "card declined" });
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.FAILED);
    expect(await countAvailable(server, slot)).toBe(2);
  });

  test("when FailBooking has no cause, then invalid_argument and nothing changes", async () => {
    const { booking, slot } = await pendingBooking();

    expect(await codeOf(merchant.failBooking({ bookingId: booking.booking_id }, as(tokens.a)))).toBe(Code.InvalidArgument);
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    expect(await countAvailable(server, slot)).toBe(1);
  });

  test("when the merchant cancels a pending booking, then it is CANCELED and the spot is open again", async () => {
    const { booking, slot } = await pendingBooking();

    const response = await merchant.cancelBooking({ bookingId: booking.booking_id }, as(tokens.a));

    expect(response.booking?.status).toBe(BookingStatus.CANCELED);
    expect(await countAvailable(server, slot)).toBe(2);
  });

  test("when the merchant cancels a confirmed booking, then it is CANCELED and the spot is open again", async () => {
    const { booking, slot } = await pendingBooking();
    await merchant.confirmBooking({ bookingId: booking.booking_id }, as(tokens.a));

    const response = await merchant.cancelBooking({ bookingId: booking.booking_id }, as(tokens.a));

    expect(response.booking?.status).toBe(BookingStatus.CANCELED);
    expect(await countAvailable(server, slot)).toBe(2);
  });

  test("when the merchant cancels a synchronous (CONFIRMED) booking, then it is CANCELED", async () => {
    const { booking, slot } = await pendingBooking({ mode: 1 });
    expect(booking.status).toBe("CONFIRMED");

    expect((await merchant.cancelBooking({ bookingId: booking.booking_id }, as(tokens.a))).booking?.status).toBe(
      BookingStatus.CANCELED,
    );
    expect(await countAvailable(server, slot)).toBe(2);
  });

  test("when the booking does not exist, then not_found", async () => {
    expect(await codeOf(merchant.confirmBooking({ bookingId: "no-such-booking" }, as(tokens.a)))).toBe(Code.NotFound);
  });

  test("when no booking_id is given, then invalid_argument", async () => {
    expect(await codeOf(merchant.confirmBooking({}, as(tokens.a)))).toBe(Code.InvalidArgument);
  });
});

describe("forbidden transitions answer failed_precondition and change nothing", () => {
  type Decision = "confirm" | "decline" | "fail" | "cancel";
  const decide = (decision: Decision, bookingId: string) => {
    const options = as(tokens.a);
    if (decision === "confirm") return merchant.confirmBooking({ bookingId }, options);
    if (decision === "decline") return merchant.declineBooking({ bookingId }, options);
    if (decision === "cancel") return merchant.cancelBooking({ bookingId }, options);
    return merchant.failBooking({ bookingId, cause: BookingFailure_Cause.SLOT_UNAVAILABLE }, options);
  };
  const cases: Array<[string, Decision, Decision]> = [
    ["confirmed", "confirm", "confirm"],
    ["confirmed", "confirm", "decline"],
    ["confirmed", "confirm", "fail"],
    ["declined", "decline", "confirm"],
    ["declined", "decline", "decline"],
    ["declined", "decline", "cancel"],
    ["failed", "fail", "confirm"],
    ["failed", "fail", "cancel"],
    ["canceled", "cancel", "confirm"],
    ["canceled", "cancel", "decline"],
    ["canceled", "cancel", "cancel"],
  ];
  test.each(cases)("when a %s booking gets %s then %s, then failed_precondition", async (_, first, second) => {
    const { booking, slot } = await pendingBooking();
    await decide(first, booking.booking_id);
    const before = (await server.store.read.bookings.get(booking.booking_id))!;
    const open = await countAvailable(server, slot);

    expect(await codeOf(decide(second, booking.booking_id))).toBe(Code.FailedPrecondition);

    expect(await server.store.read.bookings.get(booking.booking_id)).toEqual(before);
    expect(await countAvailable(server, slot)).toBe(open);
  });

  test("when a synchronous CONFIRMED booking is confirmed or declined, then failed_precondition", async () => {
    const { booking } = await pendingBooking({ mode: 1 });
    expect(await codeOf(decide("confirm", booking.booking_id))).toBe(Code.FailedPrecondition);
    expect(await codeOf(decide("decline", booking.booking_id))).toBe(Code.FailedPrecondition);
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.CONFIRMED);
  });
});

describe("authentication and merchants' boundaries", () => {
  test.each([
    ["missing", null],
    ["unknown", "not-a-token"],
    ["Google's Basic credentials", "basic"],
  ])("when the bearer token is %s, then unauthenticated and nothing changes", async (_, token) => {
    const { booking } = await pendingBooking();
    const options =
      token === "basic"
        ? { headers: { authorization: `Basic ${Buffer.from("google:s3cret-for-tests").toString("base64")}` } }
        : as(token);

    expect(await codeOf(merchant.confirmBooking({ bookingId: booking.booking_id }, options))).toBe(Code.Unauthenticated);
    expect(await codeOf(merchant.listBookings({ merchantId: "merchant-a" }, options))).toBe(Code.Unauthenticated);
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
  });

  test("when a merchant decides on another merchant's booking, then permission_denied and nothing changes", async () => {
    const { booking, slot } = await pendingBooking({ merchantId: "merchant-b" });

    for (const call of [
      merchant.confirmBooking({ bookingId: booking.booking_id }, as(tokens.a)),
      merchant.declineBooking({ bookingId: booking.booking_id }, as(tokens.a)),
      merchant.cancelBooking({ bookingId: booking.booking_id }, as(tokens.a)),
      merchant.failBooking({ bookingId: booking.booking_id, cause: BookingFailure_Cause.SLOT_UNAVAILABLE }, as(tokens.a)),
    ]) {
      expect(await codeOf(call)).toBe(Code.PermissionDenied);
    }
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    expect(await countAvailable(server, slot)).toBe(1);
  });

  test("when a merchant lists another merchant's bookings, then permission_denied", async () => {
    expect(await codeOf(merchant.listBookings({ merchantId: "merchant-b" }, as(tokens.a)))).toBe(Code.PermissionDenied);
  });

  test("when the admin token is used, then it acts for any merchant", async () => {
    const a = await pendingBooking({ merchantId: "merchant-a" });
    const b = await pendingBooking({ merchantId: "merchant-b" });

    expect((await merchant.confirmBooking({ bookingId: a.booking.booking_id }, as(adminToken))).booking?.status).toBe(
      BookingStatus.CONFIRMED,
    );
    expect((await merchant.declineBooking({ bookingId: b.booking.booking_id }, as(adminToken))).booking?.status).toBe(
      BookingStatus.DECLINED_BY_MERCHANT,
    );
    const listed = await merchant.listBookings({ merchantId: "merchant-b" }, as(adminToken));
    expect(listed.bookings.map((x) => x.booking?.bookingId)).toContain(b.booking.booking_id);
  });

  test("when the server has no merchantAuth, then MerchantService is not served", async () => {
    const plain = await startTestServer();
    try {
      const client = createClient(MerchantService, createConnectTransport({ baseUrl: plain.baseUrl, httpVersion: "1.1" }));
      expect(await codeOf(client.listBookings({ merchantId: "merchant-a" }, as(adminToken)))).toBe(Code.Unimplemented);
    } finally {
      await plain.close();
    }
  });
});

describe("ListBookings", () => {
  // merchant-list's own bookings: 7 of them, one hour apart; the first 2 confirmed, the 3rd declined.
  const starts = Array.from({ length: 7 }, (_, i) => futureStartSec + (1000 + i) * hour);
  let ids: string[];
  beforeAll(async () => {
    ids = [];
    // Created in reverse order, so the listing order is the slots', not the creation's.
    for (const startSec of [...starts].reverse()) {
      ids.unshift((await pendingBooking({ merchantId: "merchant-list", startSec })).booking.booking_id);
    }
    await merchant.confirmBooking({ bookingId: ids[0] }, as(tokens.list));
    await merchant.confirmBooking({ bookingId: ids[1] }, as(tokens.list));
    await merchant.declineBooking({ bookingId: ids[2] }, as(tokens.list));
    await pendingBooking({ merchantId: "merchant-a" }); // another merchant's booking, never listed
  });
  const list = (request: Parameters<typeof merchant.listBookings>[0]) =>
    merchant.listBookings({ merchantId: "merchant-list", ...request }, as(tokens.list));
  const idsOf = (bookings: MerchantBooking[]) => bookings.map((b) => b.booking!.bookingId);

  test("when a request is pending, then the list shows the user's special request and when it will be declined", async () => {
    const startSec = futureStartSec + 400 * hour;
    await seedSlots(server.store, [
      { merchantId: "merchant-special", serviceId: "dinner", startSec, spotsTotal: 1, confirmationMode: ASYNCHRONOUS },
    ]);
    const created = await rest(server, "CreateBooking", {
      slot: slotJson({ merchantId: "merchant-special", serviceId: "dinner", startSec }),
      idempotency_token: "special-request",
      user_information: newUser(),
      additional_request: "Window table, it is a birthday",
    });
    const listed = await merchant.listBookings({ merchantId: "merchant-special" }, as(adminToken));
    expect(listed.bookings).toHaveLength(1);
    const [entry] = listed.bookings;
    expect(entry.booking?.bookingId).toBe(created.body.booking.booking_id);
    expect(entry.additionalRequest).toBe("Window table, it is a birthday");
    const createdAt = Number(entry.createdAtSec);
    expect(Math.abs(createdAt - Date.now() / 1000)).toBeLessThan(60);
    // The default day to answer comes first here: the slot is weeks away.
    expect(Number(entry.decisionDeadlineSec)).toBe(createdAt + 24 * hour);
  });

  test("when listing without filters, then every booking of the merchant, earliest slot first, and no next page", async () => {
    const response = await list({});
    expect(idsOf(response.bookings)).toEqual(ids);
    expect(response.nextPageToken).toBe("");
  });

  test("when filtering by status, then only bookings in those statuses", async () => {
    expect(idsOf((await list({ status: [BookingStatus.CONFIRMED] })).bookings)).toEqual(ids.slice(0, 2));
    expect(
      idsOf((await list({ status: [BookingStatus.PENDING_MERCHANT_CONFIRMATION, BookingStatus.DECLINED_BY_MERCHANT] })).bookings),
    ).toEqual(ids.slice(2));
  });

  test("when filtering by time range, then start_sec_from is inclusive and start_sec_before exclusive", async () => {
    const response = await list({ startSecFrom: BigInt(starts[2]), startSecBefore: BigInt(starts[5]) });
    expect(idsOf(response.bookings)).toEqual(ids.slice(2, 5));
  });

  test("when paging through 7 bookings with page_size 3, then pages of 3, 3 and 1 with no overlap", async () => {
    const pages: string[][] = [];
    let pageToken = "";
    do {
      const response = await list({ pageSize: 3, pageToken });
      pages.push(idsOf(response.bookings));
      pageToken = response.nextPageToken;
    } while (pageToken && pages.length < 10);
    expect(pages).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)]);
  });

  test("when paging with a status filter, then the filter holds on every page", async () => {
    const first = await list({ pageSize: 2, status: [BookingStatus.PENDING_MERCHANT_CONFIRMATION] });
    expect(idsOf(first.bookings)).toEqual(ids.slice(3, 5));
    const second = await list({ pageSize: 2, status: [BookingStatus.PENDING_MERCHANT_CONFIRMATION], pageToken: first.nextPageToken });
    expect(idsOf(second.bookings)).toEqual(ids.slice(5, 7));
    expect(second.nextPageToken).toBe("");
  });

  test("when the page token is not one the server issued, then invalid_argument", async () => {
    expect(await codeOf(list({ pageToken: "garbage!" }))).toBe(Code.InvalidArgument);
  });

  test("when merchant_id is missing, then invalid_argument", async () => {
    expect(await codeOf(merchant.listBookings({}, as(adminToken)))).toBe(Code.InvalidArgument);
  });
});

describe("racing decisions", () => {
  test("when 20 confirms and 20 declines race on one pending booking, then exactly one wins and the rest are failed_precondition", async () => {
    const { booking, slot } = await pendingBooking();
    const bookingId = booking.booking_id;
    const calls = Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0
        ? merchant.confirmBooking({ bookingId }, as(tokens.a))
        : merchant.declineBooking({ bookingId }, as(tokens.a))
      ).then(
        (response) => ({ ok: true as const, status: response.booking!.status }),
        (error: unknown) => ({ ok: false as const, code: (error as ConnectError).code }),
      ),
    );
    const results = await Promise.all(calls);

    const wins = results.filter((r) => r.ok);
    expect(wins).toHaveLength(1);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.code === Code.FailedPrecondition)).toBe(true);
    const final = await statusOf(bookingId);
    expect(final).toBe((wins[0] as { status: BookingStatus }).status);
    expect(await countAvailable(server, slot)).toBe(final === BookingStatus.CONFIRMED ? 1 : 2);
  });
});

describe("cancellation after the slot started", () => {
  test("when the merchant cancels a booking whose slot has started, then failed_precondition and nothing changes", async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000));
    const timed = await startTestServer({ merchantAuth, clock });
    try {
      const { booking } = await pendingBooking({ target: timed, startSec: futureStartSec });
      clock.advance(futureStartSec - clock.nowSec() + 60);
      const client = createClient(MerchantService, createConnectTransport({ baseUrl: timed.baseUrl, httpVersion: "1.1" }));

      expect(await codeOf(client.cancelBooking({ bookingId: booking.booking_id }, as(tokens.a)))).toBe(
        Code.FailedPrecondition,
      );
      expect((await timed.store.read.bookings.get(booking.booking_id))!.booking.status).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    } finally {
      await timed.close();
    }
  });
});

describe("buf curl over gRPC", () => {
  const repoRoot = resolve(__dirname, "../..");
  const buf = join(repoRoot, "node_modules/.bin/buf");

  test("when buf curl confirms a pending booking with the merchant's token, then it prints the CONFIRMED booking", async () => {
    const { booking } = await pendingBooking();
    const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", "proto"];
    args.push("-H", `Authorization: ${bearer(tokens.a)}`);
    args.push("-d", JSON.stringify({ bookingId: booking.booking_id }));
    args.push(`${server.baseUrl}/${MerchantService.typeName}/ConfirmBooking`);

    const { stdout } = await promisify(execFile)(buf, args, { cwd: repoRoot, timeout: 15000 });

    expect(JSON.parse(stdout)).toMatchObject({ booking: { bookingId: booking.booking_id, status: "CONFIRMED" } });
    expect(await statusOf(booking.booking_id)).toBe(BookingStatus.CONFIRMED);
  }, 20000);
});
