import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { paidBookingId } from "../../src/booking/take-payments";
import { importFeeds } from "../../src/inventory/feed-import";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { rest, startTestServer } from "../support/test-server";

const start = 1830000000; // 2027-12, in the future
/** A restaurant that takes a 50 USD prepayment, with one synchronous and one asynchronous table. */
function paidInventory(): string[] {
  const dir = mkdtempSync(join(tmpdir(), "paid-feeds-"));
  const write = (name: string, body: unknown) => {
    writeFileSync(join(dir, name), JSON.stringify(body));
    return join(dir, name);
  };
  return [
    write("merchants.json", { merchant: [{ merchant_id: "paid", name: "Paid Bistro" }] }),
    write("services.json", {
      service: [
        { merchant_id: "paid", service_id: "tasting", name: "Tasting menu", prepayment_type: "REQUIRED", price: { price_micros: "50000000", currency_code: "USD" } },
      ],
    }),
    write("availability.json", {
      availability: [
        { merchant_id: "paid", service_id: "tasting", start_sec: start, duration_sec: 7200, spots_total: 2, confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS" },
        { merchant_id: "paid", service_id: "tasting", start_sec: start + 7200, duration_sec: 7200, spots_total: 2, confirmation_mode: "CONFIRMATION_MODE_ASYNCHRONOUS" },
      ],
    }),
  ];
}

const request = (token: string, startSec: number) => ({
  idempotency_token: token,
  slot: { merchant_id: "paid", service_id: "tasting", start_sec: String(startSec), duration_sec: "7200" },
  user_information: { user_id: `u-${token}`, given_name: "P", family_name: "Q", telephone: "+1", email: `${token}@example.com` },
  payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
  payment_processing_parameters: { unparsed_payment_method_token: '{"id":"tok_visa"}' },
});

test("when the process dies between the charge and the booking, then the next start refunds the charge", async () => {
  const dir = mkdtempSync(join(tmpdir(), "payment-crash-"));
  let sandbox!: SandboxProcessor;
  // The first server's processor charges, then the process "dies" before the booking commits.
  const crashing = await startTestServer({
    dir,
    payments: (store) => {
      sandbox = new SandboxProcessor(store);
      return {
        charge: async (charge) => {
          await sandbox.charge(charge);
          throw new Error("process killed after the charge");
        },
        storeCard: (r) => sandbox.storeCard(r),
        chargeStored: (r) => sandbox.chargeStored(r),
        refund: (r) => sandbox.refund(r),
        findCharge: (key) => sandbox.findCharge(key),
      };
    },
  });
  await importFeeds(crashing.store, paidInventory());
  const lost = await rest(crashing, "CreateBooking", request("crash-token", start));
  expect(lost.status).toBeGreaterThanOrEqual(500);
  const bookingId = paidBookingId("crash-token");
  expect((await sandbox.ledgerFor(bookingId)).map((e) => e.operation)).toEqual(["charge"]);
  await crashing.close();

  const restarted = await startTestServer({ dir, payments: (store) => (sandbox = new SandboxProcessor(store)) });
  try {
    const ledger = await sandbox.ledgerFor(bookingId);
    expect(ledger.map((e) => e.operation)).toEqual(["charge", "refund"]);
    expect(ledger[1].amount).toEqual(ledger[0].amount);
    // Google's retry of the same request does not book on the refunded charge.
    const retried = await rest(restarted, "CreateBooking", request("crash-token", start));
    expect(retried.body.booking_failure.cause).toBe("PAYMENT_ERROR");
    expect(await sandbox.ledgerFor(bookingId)).toHaveLength(2);
  } finally {
    await restarted.close();
  }
});

test("when the merchant declines a paid request, then the prepayment is refunded", async () => {
  let sandbox!: SandboxProcessor;
  const server = await startTestServer({
    merchantAuth: { merchantTokens: new Map([["paid", "paid-token"]]) },
    payments: (store) => (sandbox = new SandboxProcessor(store)),
  });
  try {
    await importFeeds(server.store, paidInventory());
    const created = await rest(server, "CreateBooking", request("async-paid", start + 7200));
    expect(created.body.booking.status).toBe("PENDING_MERCHANT_CONFIRMATION");
    expect(created.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_PROVIDED");
    const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
    await merchant.declineBooking({ bookingId: created.body.booking.booking_id }, { headers: { authorization: "Bearer paid-token" } });
    const ledger = await sandbox.ledgerFor(created.body.booking.booking_id);
    expect(ledger.map((e) => e.operation)).toEqual(["charge", "refund"]);
    expect(ledger[1].amount).toEqual({ micros: 50000000n, currency: "USD" });
  } finally {
    await server.close();
  }
});
