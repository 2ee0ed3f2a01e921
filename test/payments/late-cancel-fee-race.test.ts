/**
 * Google's cancellation inside the online-cancellation window charges the
 * late-cancellation fee before it commits. These tests hold the processor's
 * answer to that charge (no timers) while something else changes the booking,
 * and check that the fee is kept only when Google's cancellation committed.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingStatus,
  PaymentInformation_PaymentProcessedBy,
  UpdateBookingRequestSchema,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { createBookingContext } from "../../src/booking/context";
import { createBooking } from "../../src/booking/create-booking";
import { updateBooking } from "../../src/booking/update-booking";
import { main } from "../../src/cli";
import { importFeeds } from "../../src/inventory/feed-import";
import type { ChargeResult, ChargeStoredRequest } from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { StripeProcessor } from "../../src/payments/stripe-processor";
import { openPostgresStore } from "../../src/store/postgres/postgres-store";
import type { Store } from "../../src/store/repositories";
import { bookingRequest, sequentialIds, slotOf, userOf } from "../support/booking-fixtures";
import { clusterStartTimeoutMs, createTestDatabase, type TestDatabase } from "../support/postgres-cluster";
import { manualClock, rest, startTestServer, type TestServer } from "../support/test-server";
import { StripeStandIn } from "./stripe-stand-in";

const start = 1830000000;
const hour = 3600;
const day = 24 * hour;
const merchantToken = { headers: { authorization: "Bearer fee-token" } };

/** A $25 no-show fee; online cancellation closes 4 h ahead, later ones pay the fee. Slots at `start`. */
function feeds(): string[] {
  const dir = mkdtempSync(join(tmpdir(), "late-fee-feeds-"));
  const write = (name: string, body: unknown) => (writeFileSync(join(dir, name), JSON.stringify(body)), join(dir, name));
  const service = {
    merchant_id: "fee",
    service_id: "fee-4h",
    name: "Late fee",
    scheduling_rules: { min_advance_online_canceling: 4 * hour },
    no_show_fee: { fee: { price_micros: "25000000", currency_code: "USD" }, fee_type: "FIXED_RATE_DEFAULT" },
  };
  const slot = { merchant_id: "fee", service_id: "fee-4h", duration_sec: hour, spots_total: 50 };
  return [
    write("m.json", { merchant: [{ merchant_id: "fee", name: "Fee Salon" }] }),
    write("s.json", { service: [service] }),
    write("a.json", {
      availability: [
        { ...slot, start_sec: start, confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS" },
        { ...slot, start_sec: start + hour, confirmation_mode: "CONFIRMATION_MODE_ASYNCHRONOUS" },
      ],
    }),
  ];
}

/** The sandbox, whose next `chargeStored` charges at once but answers only when the test releases it. */
class HeldSandbox extends SandboxProcessor {
  private held: { arrived: () => void; released: Promise<void> } | undefined;

  holdNextChargeStored(): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    this.held = { arrived, released: new Promise<void>((resolve) => (release = resolve)) };
    return { arrived: arrival, release };
  }

  override async chargeStored(request: ChargeStoredRequest): Promise<ChargeResult> {
    const result = await super.chargeStored(request);
    const held = this.held;
    this.held = undefined;
    if (held) {
      held.arrived();
      await held.released;
    }
    return result;
  }
}

let nextUser = 0;
async function book(server: TestServer, slotStart = start): Promise<string> {
  const n = ++nextUser;
  const response = await rest(server, "CreateBooking", {
    idempotency_token: `late-fee-${n}`,
    slot: { merchant_id: "fee", service_id: "fee-4h", start_sec: String(slotStart), duration_sec: String(hour) },
    user_information: { user_id: `late-fee-${n}`, given_name: "L", family_name: "F", telephone: "+1", email: `lf${n}@example.com` },
    payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
    payment_processing_parameters: { unparsed_payment_method_token: '{"id":"tok_visa"}' },
  });
  expect(response.body.booking).toBeDefined();
  return response.body.booking.booking_id;
}

const googleCancel = (server: TestServer, bookingId: string) =>
  rest(server, "UpdateBooking", { booking: { booking_id: bookingId, status: "CANCELED" } });

/** The booking's payment records as [operation, state, amount micros]. */
const recordsOf = async (server: TestServer, bookingId: string) =>
  (await server.store.read.payments.forBooking(bookingId)).map((r) => [r.operation, r.state, r.amountMicros]);

/** What `booking-server payments ID` prints for the booking, one string per line. */
async function paymentsCommand(server: TestServer, bookingId: string): Promise<string[]> {
  const lines: string[] = [];
  const log = jest.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
  try {
    await main(["payments", "--db", server.dbPath, bookingId]);
  } finally {
    log.mockRestore();
  }
  return lines.map((line) => line.replace(/\s+/g, " ").trim());
}

async function startServer(clock: ReturnType<typeof manualClock>, payments: (store: Store) => SandboxProcessor | StripeProcessor) {
  const server = await startTestServer({
    clock,
    merchantAuth: { merchantTokens: new Map([["fee", "fee-token"]]) },
    payments,
  });
  await importFeeds(server.store, feeds());
  const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
  return { server, merchant };
}

describe("a late-cancellation fee racing another change, with the sandbox", () => {
  const clock = manualClock(start - 10 * day);
  const at = (sec: number) => clock.advance(sec - clock.nowSec());
  let server: TestServer;
  let merchant: Awaited<ReturnType<typeof startServer>>["merchant"];
  let sandbox!: HeldSandbox;
  beforeAll(async () => {
    ({ server, merchant } = await startServer(clock, (store) => (sandbox = new HeldSandbox(store))));
  });
  afterAll(() => server.close());
  const ledgerOf = async (bookingId: string) =>
    (await sandbox.ledgerFor(bookingId)).map((e) => [e.operation, e.amount?.micros ?? null, e.refersTo]);

  test("when the merchant's CancelBooking commits while the fee is charged, then Google's cancel answers BOOKING_ALREADY_CANCELLED and the fee is refunded", async () => {
    at(start - 10 * day);
    const bookingId = await book(server);
    at(start - 1 * hour);
    const held = sandbox.holdNextChargeStored();
    const google = googleCancel(server, bookingId);
    await held.arrived;
    const merchantCancel = await merchant.cancelBooking({ bookingId }, merchantToken);
    expect(merchantCancel.booking?.status).toBe(BookingStatus.CANCELED);
    held.release();

    const answer = await google;
    expect(answer.body).toEqual({ booking_failure: { cause: "BOOKING_ALREADY_CANCELLED", description: expect.any(String) } });
    const ledger = await sandbox.ledgerFor(bookingId);
    const fee = ledger.find((e) => e.operation === "charge_stored")!;
    expect(await ledgerOf(bookingId)).toEqual([
      ["store_card", null, null],
      ["charge_stored", 25000000n, ledger[0].transactionId],
      ["refund", 25000000n, fee.transactionId],
    ]);
    expect(await recordsOf(server, bookingId)).toEqual([
      ["store_card", "done", null],
      ["late_cancel_fee", "done", 25000000n],
      ["refund/late_cancel_fee", "done", 25000000n],
    ]);
    const refund = ledger.find((e) => e.operation === "refund")!;
    expect(await paymentsCommand(server, bookingId)).toEqual([
      `store_card done ${ledger[0].transactionId}`,
      `late_cancel_fee 25.000000 USD done ${fee.transactionId}`,
      `refund/late_cancel_fee 25.000000 USD done ${refund.transactionId}`,
    ]);
  });

  test("when the merchant declines a pending booking while the fee is charged, then Google's cancel answers BOOKING_NOT_CANCELLABLE and the fee is refunded", async () => {
    // Booked 6 h ahead, so the merchant's time to answer runs until the slot starts.
    at(start - 5 * hour);
    const bookingId = await book(server, start + hour);
    at(start - 2 * hour);
    const held = sandbox.holdNextChargeStored();
    const google = googleCancel(server, bookingId);
    await held.arrived;
    expect((await merchant.declineBooking({ bookingId }, merchantToken)).booking?.status).toBe(BookingStatus.DECLINED_BY_MERCHANT);
    held.release();

    expect((await google).body.booking_failure.cause).toBe("BOOKING_NOT_CANCELLABLE");
    expect((await ledgerOf(bookingId)).map(([operation, micros]) => [operation, micros])).toEqual([
      ["store_card", null],
      ["charge_stored", 25000000n],
      ["refund", 25000000n],
    ]);
  });

  test("when Google retries its cancellation while the first attempt's fee is charged, then one cancellation commits and the fee is kept once", async () => {
    at(start - 10 * day);
    const bookingId = await book(server);
    at(start - 1 * hour);
    const held = sandbox.holdNextChargeStored();
    const first = googleCancel(server, bookingId);
    await held.arrived;
    // The retry is called in-process, on the server's store and processor: when
    // the call returns, the retry is surely under way before the fee's answer
    // is released (over HTTP nothing tells when the server has received it).
    const ctx = createBookingContext({ store: server.store, clock, newId: () => "unused", payments: sandbox });
    const retry = updateBooking(
      ctx,
      create(UpdateBookingRequestSchema, { booking: { bookingId, status: BookingStatus.CANCELED } }),
    );
    held.release();

    expect((await first).body.booking.status).toBe("CANCELED");
    expect((await retry).bookingFailure?.cause).toBe(BookingFailure_Cause.BOOKING_ALREADY_CANCELLED);
    expect((await ledgerOf(bookingId)).map(([operation, micros]) => [operation, micros])).toEqual([
      ["store_card", null],
      ["charge_stored", 25000000n],
    ]);
  });

  test("when nothing else changes the booking, then Google's cancel inside the window commits and keeps the fee", async () => {
    at(start - 10 * day);
    const bookingId = await book(server);
    at(start - 1 * hour);
    const held = sandbox.holdNextChargeStored();
    const google = googleCancel(server, bookingId);
    await held.arrived;
    held.release();

    expect((await google).body.booking.status).toBe("CANCELED");
    expect(await recordsOf(server, bookingId)).toEqual([
      ["store_card", "done", null],
      ["late_cancel_fee", "done", 25000000n],
    ]);
    expect((await ledgerOf(bookingId)).map(([operation, micros]) => [operation, micros])).toEqual([
      ["store_card", null],
      ["charge_stored", 25000000n],
    ]);
  });

  test("when Google cancels a booking whose slot has started, then it is refused and no fee is charged", async () => {
    at(start - 10 * day);
    const bookingId = await book(server);
    at(start + 60);

    expect((await googleCancel(server, bookingId)).body.booking_failure.cause).toBe("OUTSIDE_CANCELLATION_WINDOW");
    expect(await recordsOf(server, bookingId)).toEqual([["store_card", "done", null]]);
    expect((await rest(server, "GetBookingStatus", { booking_id: bookingId })).body.booking_status).toBe("CONFIRMED");
  });
});

describe("a late-cancellation fee racing the merchant's cancel, with the Stripe adapter", () => {
  const clock = manualClock(start - 10 * day);
  const at = (sec: number) => clock.advance(sec - clock.nowSec());
  const standIn = new StripeStandIn();
  let server: TestServer;
  let merchant: Awaited<ReturnType<typeof startServer>>["merchant"];
  beforeAll(async () => {
    const port = await standIn.start();
    ({ server, merchant } = await startServer(
      clock,
      () => new StripeProcessor({ secretKey: "sk_test_standin", host: "127.0.0.1", port, protocol: "http", timeoutMs: 10_000 }),
    ));
  });
  afterAll(async () => {
    await server.close();
    await standIn.stop();
  });
  const feeOf = async (bookingId: string) => (await server.store.read.payments.forBooking(bookingId)).find((r) => r.operation === "late_cancel_fee")!;

  test("when the merchant's CancelBooking commits while Stripe answers the fee, then the stand-in shows the fee's PaymentIntent refunded in full", async () => {
    at(start - 10 * day);
    const bookingId = await book(server);
    at(start - 1 * hour);
    const held = standIn.holdNextAnswer("/v1/payment_intents");
    const google = googleCancel(server, bookingId);
    await held.arrived;
    expect((await merchant.cancelBooking({ bookingId }, merchantToken)).booking?.status).toBe(BookingStatus.CANCELED);
    held.release();

    expect((await google).body.booking_failure.cause).toBe("BOOKING_ALREADY_CANCELLED");
    const fee = await feeOf(bookingId);
    const intent = standIn.paymentIntents.find((pi) => pi.id === fee.transactionId)!;
    expect([intent.amount, intent.currency, intent.refunded]).toEqual([2500, "usd", 2500]);
    const refund = standIn.refunds.filter((r) => r.paymentIntent === intent.id);
    expect(refund).toEqual([{ id: expect.any(String), paymentIntent: intent.id, amount: 2500 }]);
    expect(await recordsOf(server, bookingId)).toEqual([
      ["store_card", "done", null],
      ["late_cancel_fee", "done", 25000000n],
      ["refund/late_cancel_fee", "done", 25000000n],
    ]);
    const refundRecord = (await server.store.read.payments.forBooking(bookingId)).find((r) => r.operation === "refund/late_cancel_fee")!;
    expect(refundRecord.transactionId).toBe(refund[0]!.id);
  });

  test("when nothing else changes the booking, then Google's cancel commits and the fee's PaymentIntent stays charged", async () => {
    at(start - 10 * day);
    const bookingId = await book(server);
    at(start - 1 * hour);
    const held = standIn.holdNextAnswer("/v1/payment_intents");
    const google = googleCancel(server, bookingId);
    await held.arrived;
    held.release();

    expect((await google).body.booking.status).toBe("CANCELED");
    const fee = await feeOf(bookingId);
    const intent = standIn.paymentIntents.find((pi) => pi.id === fee.transactionId)!;
    expect([intent.amount, intent.refunded]).toEqual([2500, 0]);
    expect(standIn.refunds.filter((r) => r.paymentIntent === intent.id)).toEqual([]);
  });
});

test("when the process dies while the fee is charged and the merchant's cancel committed meanwhile, then the next start refunds the fee", async () => {
  const clock = manualClock(start - 10 * day);
  const dir = mkdtempSync(join(tmpdir(), "late-fee-crash-"));
  let sandbox!: HeldSandbox;
  const first = await startTestServer({
    dir,
    clock,
    merchantAuth: { merchantTokens: new Map([["fee", "fee-token"]]) },
    payments: (store) => (sandbox = new HeldSandbox(store)),
    shutdownGraceMs: 100,
  });
  await importFeeds(first.store, feeds());
  const bookingId = await book(first);
  clock.advance(10 * day - hour);
  const held = sandbox.holdNextChargeStored();
  void googleCancel(first, bookingId).catch(() => undefined);
  await held.arrived;
  const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: first.baseUrl, httpVersion: "1.1" }));
  await merchant.cancelBooking({ bookingId }, merchantToken);
  expect((await recordsOf(first, bookingId)).find(([operation]) => operation === "late_cancel_fee")).toEqual(["late_cancel_fee", "started", 25000000n]);
  // The process "dies" with the fee charged at the processor and recorded only as started.
  await first.close();

  const restarted = await startTestServer({ dir, clock, payments: (store) => (sandbox = new HeldSandbox(store)) });
  try {
    expect(await recordsOf(restarted, bookingId)).toEqual([
      ["store_card", "done", null],
      ["late_cancel_fee", "done", 25000000n],
      ["refund/late_cancel_fee", "done", 25000000n],
    ]);
    expect((await sandbox.ledgerFor(bookingId)).map((e) => [e.operation, e.amount?.micros ?? null])).toEqual([
      ["store_card", null],
      ["charge_stored", 25000000n],
      ["refund", 25000000n],
    ]);
  } finally {
    await restarted.close();
  }
});

describe("Google's retry of a late cancellation reaching another instance on one PostgreSQL database", () => {
  let database: TestDatabase;
  let stores: Store[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    stores = [await openPostgresStore(database.url), await openPostgresStore(database.url)];
    await importFeeds(stores[0], feeds());
  }, clusterStartTimeoutMs);
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await database?.drop();
  });

  test("when the retry reaches the second instance while the first attempt's fee is charged, then it waits, one cancellation commits and the fee is kept once", async () => {
    const clock = manualClock(start - 10 * day);
    // Two instances: each its own store (pool), ids and sandbox, over the one database and its ledger.
    const [first, second] = stores.map((store, index) => {
      const sandbox = new HeldSandbox(store);
      return { sandbox, ctx: createBookingContext({ store, clock, newId: sequentialIds(`instance${index}`), payments: sandbox }) };
    });
    const booked = await createBooking(
      first.ctx,
      bookingRequest(
        slotOf({ merchantId: "fee", serviceId: "fee-4h", startSec: start, durationSec: hour, partySize: 0 }),
        userOf("late-fee-pg"),
        "late-fee-pg",
        {
          paymentInformation: { paymentProcessedBy: PaymentInformation_PaymentProcessedBy.PROCESSED_BY_PARTNER },
          paymentProcessingParameters: { unparsedPaymentMethodToken: '{"id":"tok_visa"}' },
        },
      ),
    );
    const bookingId = booked.booking!.bookingId;
    clock.advance(10 * day - hour);
    const cancelOn = (instance: (typeof first)) =>
      updateBooking(instance.ctx, create(UpdateBookingRequestSchema, { booking: { bookingId, status: BookingStatus.CANCELED } }));

    const held = first.sandbox.holdNextChargeStored();
    const firstAttempt = cancelOn(first);
    await held.arrived;
    const retry = cancelOn(second);
    // Long enough for the retry to have reached the claim the first attempt holds (it polls every <= 250 ms).
    await new Promise((resolve) => setTimeout(resolve, 500));
    held.release();

    expect((await firstAttempt).booking?.status).toBe(BookingStatus.CANCELED);
    expect((await retry).bookingFailure?.cause).toBe(BookingFailure_Cause.BOOKING_ALREADY_CANCELLED);
    expect((await first.sandbox.ledgerFor(bookingId)).map((entry) => [entry.operation, entry.amount?.micros ?? null])).toEqual([
      ["store_card", null],
      ["charge_stored", 25000000n],
    ]);
  });
});
