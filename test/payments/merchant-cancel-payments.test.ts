/**
 * A merchant's cancellation gives the customer back everything the booking
 * took, whatever the terms say of a customer's own cancellation; Google hears
 * CANCELED at once and PREPAYMENT_REFUNDED with the refund once it is through.
 * A refund the processor cannot make now stays owed across a restart.
 * Real servers, the sandbox processor, Google's stand-in receiving the PATCHes.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BookingStatus, PrepaymentStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { importFeeds } from "../../src/inventory/feed-import";
import { Notifier, StaticTokenSource } from "../../src/notify/notifier";
import type { PaymentProcessor } from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import type { Store } from "../../src/store/repositories";
import { GoogleStandIn } from "../support/google-stand-in";
import { manualClock, rest, startTestServer, type TestServer } from "../support/test-server";

const start = 1830000000;
const day = 24 * 3600;
const adminToken = "admin-for-refunds";
const merchantAuth = { merchantTokens: new Map([["refunds", "merchant-token"]]), adminToken };
const usd = (micros: string) => ({ price_micros: micros, currency_code: "USD" });

/** A prepaid service ($200) and a deposit service ($25, kept when the customer cancels inside 2 days). */
function feeds(dir: string): string[] {
  const write = (name: string, body: unknown) => (writeFileSync(join(dir, name), JSON.stringify(body)), join(dir, name));
  const services = [
    { service_id: "prepaid", price: usd("200000000"), prepayment_type: "REQUIRED" },
    { service_id: "deposit", deposit: { deposit: usd("25000000"), min_advance_cancellation_sec: 2 * day } },
  ];
  return [
    write("m.json", { merchant: [{ merchant_id: "refunds", name: "Refunds Bistro" }] }),
    write("s.json", { service: services.map((s) => ({ merchant_id: "refunds", name: s.service_id, ...s })) }),
    write("a.json", {
      availability: services.map((s) => ({ merchant_id: "refunds", service_id: s.service_id, start_sec: start, duration_sec: 3600, spots_total: 50 })),
    }),
  ];
}

let google: GoogleStandIn;
let dir: string;
const servers: TestServer[] = [];
beforeEach(async () => {
  google = new GoogleStandIn();
  await google.listen();
  dir = mkdtempSync(join(tmpdir(), "merchant-cancel-"));
});
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
  await google.close();
  rmSync(dir, { recursive: true, force: true });
});

const clock = manualClock(start - 90 * day);
let sandbox!: SandboxProcessor;

async function serve(payments: (store: Store) => PaymentProcessor = (store) => (sandbox = new SandboxProcessor(store))) {
  const server = await startTestServer({
    dir,
    clock,
    merchantAuth,
    payments,
    notifier: (store: Store) =>
      new Notifier({ store, partnerId: "p", baseUrl: google.baseUrl, tokenSource: new StaticTokenSource("t"), pollIntervalMs: 20, baseBackoffMs: 20 }),
  });
  servers.push(server);
  const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
  return { server, merchant };
}

let nextUser = 0;
async function book(server: TestServer, serviceId: string) {
  const n = ++nextUser;
  const response = await rest(server, "CreateBooking", {
    idempotency_token: `refund-${n}`,
    slot: { merchant_id: "refunds", service_id: serviceId, start_sec: String(start), duration_sec: "3600" },
    user_information: { user_id: `u-${n}`, given_name: "R", family_name: "F", telephone: "+1", email: `r${n}@example.com` },
    payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
    payment_processing_parameters: { unparsed_payment_method_token: '{"id":"tok_visa"}' },
  });
  expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_PROVIDED");
  return response.body.booking;
}

const asAdmin = { headers: { Authorization: `Bearer ${adminToken}` } };
const patchesFor = (bookingId: string) => google.requests.filter((request) => request.bookingId === bookingId);

describe.each([
  ["a prepaid booking ($200)", "prepaid", 200000000n, "prepayment"],
  ["a deposit booking ($25)", "deposit", 25000000n, "deposit"],
])("when the merchant cancels %s three months ahead", (_name, serviceId, micros, operation) => {
  test("then everything is refunded, the answer says PREPAYMENT_REFUNDED with the refund, and Google's PATCHes carry both fields", async () => {
    const { server, merchant } = await serve();
    await importFeeds(server.store, feeds(dir));
    const booking = await book(server, serviceId);

    const answer = await merchant.cancelBooking({ bookingId: booking.booking_id }, asAdmin);
    const ledger = await sandbox.ledgerFor(booking.booking_id);
    expect(ledger.map((entry) => [entry.operation, entry.amount?.micros])).toEqual([
      ["charge", micros],
      ["refund", micros],
    ]);
    const refundId = ledger[1].transactionId;
    expect(answer.booking?.status).toBe(BookingStatus.CANCELED);
    expect(answer.booking?.paymentInformation?.prepaymentStatus).toBe(PrepaymentStatus.PREPAYMENT_REFUNDED);
    expect(answer.booking?.paymentInformation?.paymentTransactionId).toBe(refundId);
    expect((await server.store.read.payments.forBooking(booking.booking_id)).map((r) => [r.operation, r.state, r.transactionId])).toEqual([
      [operation, "done", ledger[0].transactionId],
      [`refund/${operation}`, "done", refundId],
    ]);

    await google.waitFor(() => patchesFor(booking.booking_id).length === 2, 5000, "both PATCHes");
    const [canceled, refunded] = patchesFor(booking.booking_id);
    expect([canceled.query.updateMask, canceled.body.status]).toEqual(["status", "CANCELED"]);
    expect(refunded.query.updateMask).toBe("status,paymentInformation.prepaymentStatus");
    expect(refunded.body).toMatchObject({
      status: "CANCELED",
      paymentInformation: { prepaymentStatus: "PREPAYMENT_REFUNDED", paymentTransactionId: refundId },
    });
    // Google's view agrees: GetBookingStatus says refunded.
    const status = await rest(server, "GetBookingStatus", { booking_id: booking.booking_id });
    expect(status.body).toMatchObject({ booking_status: "CANCELED", prepayment_status: "PREPAYMENT_REFUNDED" });
  });
});

test("when the processor cannot refund at the merchant's cancellation, then the cancellation holds, the refund stays owed, and the next start makes it and tells Google", async () => {
  let refundsWork = false;
  const { server, merchant } = await serve((store) => {
    sandbox = new SandboxProcessor(store);
    return {
      charge: (request) => sandbox.charge(request),
      storeCard: (request) => sandbox.storeCard(request),
      chargeStored: (request) => sandbox.chargeStored(request),
      refund: async (request) => {
        if (!refundsWork) throw new Error("processor unreachable");
        return sandbox.refund(request);
      },
      findCharge: (key) => sandbox.findCharge(key),
    };
  });
  await importFeeds(server.store, feeds(dir));
  const booking = await book(server, "prepaid");

  const answer = await merchant.cancelBooking({ bookingId: booking.booking_id }, asAdmin);
  expect(answer.booking?.status).toBe(BookingStatus.CANCELED);
  expect(answer.booking?.paymentInformation?.prepaymentStatus).toBe(PrepaymentStatus.PREPAYMENT_PROVIDED) // not refunded yet;
  expect((await server.store.read.payments.forBooking(booking.booking_id)).map((r) => [r.operation, r.state])).toEqual([
    ["prepayment", "done"],
    ["refund/prepayment", "started"],
  ]);
  expect((await sandbox.ledgerFor(booking.booking_id)).map((entry) => entry.operation)).toEqual(["charge"]);

  // A restart with the processor back: reconciliation makes the owed refund and reports it.
  await servers.pop()!.close();
  refundsWork = true;
  const restarted = await serve();
  const ledger = await sandbox.ledgerFor(booking.booking_id);
  expect(ledger.map((entry) => entry.operation)).toEqual(["charge", "refund"]);
  const status = await rest(restarted.server, "GetBookingStatus", { booking_id: booking.booking_id });
  expect(status.body).toMatchObject({ booking_status: "CANCELED", prepayment_status: "PREPAYMENT_REFUNDED" });
  await google.waitFor(
    () => patchesFor(booking.booking_id).some((patch) => patch.body?.paymentInformation?.prepaymentStatus === "PREPAYMENT_REFUNDED"),
    5000,
    "the refund's PATCH",
  );
});
