import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, writeFileSync } from "node:fs";
import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importFeeds } from "../../src/inventory/feed-import";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { manualClock, rest, startTestServer, type TestServer } from "../support/test-server";

const start = 1830000000;
const hour = 3600;
const day = 24 * hour;

/** Services with cancellation terms, all at `start`. */
function feeds(): string[] {
  const dir = mkdtempSync(join(tmpdir(), "cancel-feeds-"));
  const write = (name: string, body: unknown) => (writeFileSync(join(dir, name), JSON.stringify(body)), join(dir, name));
  const usd = (micros: string) => ({ price_micros: micros, currency_code: "USD" });
  const services = [
    // Deposit refunded when cancelled 2 days ahead or more; online cancellation open until the start.
    { service_id: "deposit-2d", deposit: { deposit: usd("30000000"), min_advance_cancellation_sec: 2 * day } },
    // Online cancellation closes a day ahead; no fee: later cancellations are refused.
    { service_id: "closes-1d", price: usd("10000000"), scheduling_rules: { min_advance_online_canceling: day } },
    // No-show fee 25 USD; online cancellation closes 4 h ahead: later ones pay the fee.
    { service_id: "fee-4h", scheduling_rules: { min_advance_online_canceling: 4 * hour }, no_show_fee: { fee: usd("25000000"), fee_type: "FIXED_RATE_DEFAULT" } },
    // Prepaid 200 USD, no cancellation terms: a cancellation gives it all back.
    { service_id: "prepaid", price: usd("200000000"), prepayment_type: "REQUIRED" },
    // Prepaid 200 USD with refund steps: all back a week ahead, half two days ahead, nothing later.
    {
      service_id: "prepaid-steps",
      price: usd("200000000"),
      prepayment_type: "REQUIRED",
      scheduling_rules: {
        cancellation_policy: {
          refund_conditions: [
            { min_duration_before_start_time: `${7 * day}s`, refund_percent: 100 },
            { min_duration_before_start_time_sec: 2 * day, refund_percent: 50 },
          ],
        },
      },
    },
  ];
  return [
    write("m.json", { merchant: [{ merchant_id: "cxl", name: "Cancel Spa" }] }),
    write("s.json", { service: services.map((s) => ({ merchant_id: "cxl", name: s.service_id, ...s })) }),
    write("a.json", {
      availability: services.map((s) => ({ merchant_id: "cxl", service_id: s.service_id, start_sec: start, duration_sec: hour, spots_total: 5 })),
    }),
  ];
}

let nextUser = 0;
const book = async (server: TestServer, serviceId: string) => {
  const n = ++nextUser;
  const response = await rest(server, "CreateBooking", {
    idempotency_token: `cxl-${n}`,
    slot: { merchant_id: "cxl", service_id: serviceId, start_sec: String(start), duration_sec: String(hour) },
    user_information: { user_id: `cxl-${n}`, given_name: "C", family_name: "X", telephone: "+1", email: `cxl${n}@example.com` },
    payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
    payment_processing_parameters: { unparsed_payment_method_token: '{"id":"tok_visa"}' },
  });
  expect(response.body.booking).toBeDefined();
  return response.body.booking;
};
const cancel = (server: TestServer, bookingId: string) =>
  rest(server, "UpdateBooking", { booking: { booking_id: bookingId, status: "CANCELED" } });

describe("cancellation terms", () => {
  const clock = manualClock(start - 10 * day);
  let server: TestServer;
  let sandbox!: SandboxProcessor;
  beforeAll(async () => {
    server = await startTestServer({ clock, payments: (store) => (sandbox = new SandboxProcessor(store)) });
    await importFeeds(server.store, feeds());
  });
  afterAll(() => server.close());
  const at = (sec: number) => clock.advance(sec - clock.nowSec());
  const patchesOf = async (bookingId: string) =>
    (await server.store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 1000)).filter((entry) => entry.queueKey === bookingId);

  test("when the user cancels before the deposit's window, then the deposit is refunded and Google is told both fields", async () => {
    at(start - 10 * day);
    const booking = await book(server, "deposit-2d");
    at(start - 3 * day);
    const response = await cancel(server, booking.booking_id);
    expect(response.body.booking.status).toBe("CANCELED");
    expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_REFUNDED");
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => [e.operation, e.amount?.micros])).toEqual([
      ["charge", 30000000n],
      ["refund", 30000000n],
    ]);
    const [patch] = await patchesOf(booking.booking_id);
    expect(patch.updateMask).toBe("status,paymentInformation.prepaymentStatus");
    const refundId = (await sandbox.ledgerFor(booking.booking_id))[1].transactionId;
    expect(response.body.booking.payment_information.payment_transaction_id).toBe(refundId);
    expect(JSON.parse(patch.payloadJson)).toMatchObject({
      status: "CANCELED",
      paymentInformation: { prepaymentStatus: "PREPAYMENT_REFUNDED", paymentTransactionId: refundId },
    });
  });

  test("when the user cancels a prepaid booking three months ahead and the service has no cancellation terms, then the prepayment is refunded in full and the answer says PREPAYMENT_REFUNDED", async () => {
    at(start - 100 * day);
    const booking = await book(server, "prepaid");
    at(start - 90 * day);
    const response = await cancel(server, booking.booking_id);
    expect(response.body.booking.status).toBe("CANCELED");
    expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_REFUNDED");
    const ledger = await sandbox.ledgerFor(booking.booking_id);
    expect(ledger.map((e) => [e.operation, e.amount?.micros])).toEqual([
      ["charge", 200000000n],
      ["refund", 200000000n],
    ]);
    expect(response.body.booking.payment_information.payment_transaction_id).toBe(ledger[1].transactionId);
    const [patch] = await patchesOf(booking.booking_id);
    expect(patch.updateMask).toBe("status,paymentInformation.prepaymentStatus");
  });

  test.each([
    ["eight days ahead: the 100% step", 8 * day, 200000000n],
    ["three days ahead: the 50% step", 3 * day, 100000000n],
  ])("when the user cancels a prepaid booking with refund conditions %s, then that part is refunded", async (_when, notice, refunded) => {
    at(start - 10 * day);
    const booking = await book(server, "prepaid-steps");
    at(start - notice);
    const response = await cancel(server, booking.booking_id);
    expect(response.body.booking.status).toBe("CANCELED");
    expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_REFUNDED");
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => [e.operation, e.amount?.micros])).toEqual([
      ["charge", 200000000n],
      ["refund", refunded],
    ]);
    expect((await server.store.read.payments.forBooking(booking.booking_id)).map((r) => [r.operation, r.amountMicros])).toEqual([
      ["prepayment", 200000000n],
      ["refund/prepayment/cancel", refunded],
    ]);
  });

  test("when the user cancels a prepaid booking later than every refund condition, then it is cancelled and nothing is refunded", async () => {
    at(start - 10 * day);
    const booking = await book(server, "prepaid-steps");
    at(start - 1 * day);
    const response = await cancel(server, booking.booking_id);
    expect(response.body.booking.status).toBe("CANCELED");
    expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_PROVIDED");
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => e.operation)).toEqual(["charge"]);
    expect(await patchesOf(booking.booking_id)).toEqual([]);
  });

  test("when the user cancels inside the deposit's window, then it is cancelled without refund and the answer says so", async () => {
    at(start - 10 * day);
    const booking = await book(server, "deposit-2d");
    at(start - 1 * day);
    const response = await cancel(server, booking.booking_id);
    expect(response.body.booking.status).toBe("CANCELED");
    expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_PROVIDED");
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => e.operation)).toEqual(["charge"]);
    expect(await patchesOf(booking.booking_id)).toEqual([]);
  });

  test("when online cancellation has closed and no fee applies, then the cancellation is refused and nothing changes", async () => {
    at(start - 10 * day);
    const booking = await book(server, "closes-1d");
    at(start - 2 * hour);
    const response = await cancel(server, booking.booking_id);
    expect(response.body).toEqual({ booking_failure: { cause: "OUTSIDE_CANCELLATION_WINDOW", description: expect.any(String) } });
    const status = await rest(server, "GetBookingStatus", { booking_id: booking.booking_id });
    expect(status.body.booking_status).toBe("CONFIRMED");
  });

  test("when the user cancels inside the no-show fee's window, then the fee is charged on the kept card and the booking is cancelled", async () => {
    at(start - 10 * day);
    const booking = await book(server, "fee-4h");
    at(start - 1 * hour);
    const response = await cancel(server, booking.booking_id);
    expect(response.body.booking.status).toBe("CANCELED");
    const ledger = await sandbox.ledgerFor(booking.booking_id);
    expect(ledger.map((e) => e.operation)).toEqual(["store_card", "charge_stored"]);
    expect(ledger[1].amount).toEqual({ micros: 25000000n, currency: "USD" });
  });

  test("when the user cancels before the no-show fee's window, then nothing is charged", async () => {
    at(start - 10 * day);
    const booking = await book(server, "fee-4h");
    at(start - 5 * hour);
    expect((await cancel(server, booking.booking_id)).body.booking.status).toBe("CANCELED");
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => e.operation)).toEqual(["store_card"]);
  });
});

describe("no-shows", () => {
  const clock = manualClock(start - 10 * day);
  let server: TestServer;
  let sandbox!: SandboxProcessor;
  let merchant: ReturnType<typeof merchantClient>;
  const merchantClient = (baseUrl: string) =>
    createClient(MerchantService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  const asMerchant = { headers: { authorization: "Bearer cxl-token" } };
  beforeAll(async () => {
    server = await startTestServer({
      clock,
      merchantAuth: { merchantTokens: new Map([["cxl", "cxl-token"]]) },
      payments: (store) => (sandbox = new SandboxProcessor(store)),
    });
    await importFeeds(server.store, feeds());
    merchant = merchantClient(server.baseUrl);
  });
  afterAll(() => server.close());

  test("when the merchant marks a no-show where a fee applies, then the fee is charged, NO_SHOW_PENALIZED, and Google is told", async () => {
    clock.advance(start - 10 * day - clock.nowSec());
    const booking = await book(server, "fee-4h");
    clock.advance(start + 2 * hour - clock.nowSec());
    const { booking: after, feeFailure } = await merchant.markNoShow({ bookingId: booking.booking_id }, asMerchant);
    expect(after?.status).toBe(BookingStatus.NO_SHOW_PENALIZED);
    expect(feeFailure).toBe("");
    const ledger = await sandbox.ledgerFor(booking.booking_id);
    expect(ledger.map((e) => [e.operation, e.amount?.micros])).toEqual([
      ["store_card", undefined],
      ["charge_stored", 25000000n],
    ]);
    const patch = (await server.store.read.outbox.nextDue(Number.MAX_SAFE_INTEGER, 1000))
      .find((entry) => entry.queueKey === booking.booking_id)!;
    expect(patch.updateMask).toBe("status");
    expect(JSON.parse(patch.payloadJson).status).toBe("NO_SHOW_PENALIZED");
  });

  test("when the slot has no no-show fee, then the booking is a plain NO_SHOW and nothing is charged", async () => {
    clock.advance(start - 10 * day - clock.nowSec());
    const booking = await book(server, "closes-1d");
    clock.advance(start + 2 * hour - clock.nowSec());
    const { booking: after } = await merchant.markNoShow({ bookingId: booking.booking_id }, asMerchant);
    expect(after?.status).toBe(BookingStatus.NO_SHOW);
    expect(await sandbox.ledgerFor(booking.booking_id)).toEqual([]);
  });

  test("when the slot has not started yet, then a no-show is refused and nothing is charged", async () => {
    clock.advance(start - 10 * day - clock.nowSec());
    const booking = await book(server, "fee-4h");
    const error = await merchant.markNoShow({ bookingId: booking.booking_id }, asMerchant).catch((e) => e);
    expect(ConnectError.from(error).code).toBe(Code.FailedPrecondition);
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => e.operation)).toEqual(["store_card"]);
  });
});
