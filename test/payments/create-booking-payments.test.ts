import { join } from "node:path";
import { paidBookingId } from "../../src/booking/take-payments";
import { importFeeds } from "../../src/inventory/feed-import";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { rest, startTestServer, type TestServer } from "../support/test-server";

const spaFeeds = ["merchants.json", "services.json", "availability.json"].map((f) =>
  join(__dirname, "..", "..", "examples", "feeds", "spa", f),
);

let server: TestServer;
let sandbox: SandboxProcessor;
beforeAll(async () => {
  server = await startTestServer({
    payments: (store) => (sandbox = new SandboxProcessor(store)),
  });
  await importFeeds(server.store, spaFeeds);
});
afterAll(() => server.close());

let nextUser = 0;
function bookingRequest(serviceId: string, startSec: number, options: { token?: string; paymentToken?: string; partySize?: number; durationSec?: number } = {}) {
  const n = ++nextUser;
  return {
    idempotency_token: options.token ?? `pay-${n}`,
    slot: {
      merchant_id: "demo-spa",
      service_id: serviceId,
      start_sec: String(startSec),
      duration_sec: String(options.durationSec ?? 3600),
      ...(options.partySize ? { resources: { party_size: options.partySize } } : {}),
    },
    user_information: { user_id: `spa-user-${n}`, given_name: "S", family_name: "P", telephone: "+1", email: `spa${n}@example.com` },
    payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
    ...(options.paymentToken === "" ? {} : {
      payment_processing_parameters: { unparsed_payment_method_token: options.paymentToken ?? '{"id":"tok_visa"}' },
    }),
  };
}

const countAvailable = async (serviceId: string, startSec: number) =>
  (await rest(server, "CheckAvailability", { slot: { merchant_id: "demo-spa", service_id: serviceId, start_sec: String(startSec), duration_sec: "3600" } })).body.count_available ?? 0;

describe("CreateBooking with payment", () => {
  test("when the service requires prepayment, then the price is charged and echoed as the seed shows", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-prepaid", 1803895200));
    expect(response.status).toBe(200);
    const { booking } = response.body;
    expect(booking.status).toBe("CONFIRMED");
    expect(booking.payment_information).toEqual({
      prepayment_status: "PREPAYMENT_PROVIDED",
      payment_processed_by: "PROCESSED_BY_PARTNER",
      payment_transaction_id: expect.stringMatching(/^sbx_/),
      price: { price_micros: "200000000", currency_code: "USD" },
    });
    const ledger = await sandbox.ledgerFor(booking.booking_id);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ operation: "charge", amount: { micros: 200000000n, currency: "USD" } });
    expect(ledger[0].transactionId).toBe(booking.payment_information.payment_transaction_id);
  });

  test("when the slot's payment option overrides the price, then that price is charged", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-prepaid", 1803981600));
    expect(response.body.booking.payment_information.price).toEqual({ price_micros: "160000000", currency_code: "USD" });
    expect((await sandbox.ledgerFor(response.body.booking.booking_id))[0].amount).toEqual({ micros: 160000000n, currency: "USD" });
  });

  test("when the same request is replayed, then nothing is charged again", async () => {
    const request = bookingRequest("spa-treatment-prepaid", 1803909600, { token: "replayed-payment" });
    const first = await rest(server, "CreateBooking", request);
    const again = await Promise.all([1, 2, 3].map(() => rest(server, "CreateBooking", request)));
    for (const response of again) expect(response.body.booking.booking_id).toBe(first.body.booking.booking_id);
    expect(await sandbox.ledgerFor(first.body.booking.booking_id)).toHaveLength(1);
  });

  test("when the card is declined, then PAYMENT_ERROR_CARD_DECLINED and the spot is not taken", async () => {
    const before = await countAvailable("spa-treatment-prepaid", 1803895200);
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-prepaid", 1803895200, { paymentToken: '{"id":"tok_decline"}' }));
    expect(response.body).toEqual({ booking_failure: { cause: "PAYMENT_ERROR_CARD_DECLINED", description: expect.any(String) } });
    expect(await countAvailable("spa-treatment-prepaid", 1803895200)).toBe(before);
  });

  test("when the card type is not accepted, then PAYMENT_ERROR_CARD_TYPE_REJECTED names the card type", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-prepaid", 1803895200, { paymentToken: "cardtype-amex" }));
    expect(response.body.booking_failure).toMatchObject({ cause: "PAYMENT_ERROR_CARD_TYPE_REJECTED", rejected_card_type: "AMERICAN_EXPRESS" });
  });

  test("when the payment token is missing where the policy needs one, then PAYMENT_ERROR and nothing is booked", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-prepaid", 1803895200, { paymentToken: "" }));
    expect(response.body.booking_failure.cause).toBe("PAYMENT_ERROR");
  });

  test("when the service has a deposit, then the deposit is charged and its terms echoed", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-deposit", 1803895200));
    const info = response.body.booking.payment_information;
    expect(info).toMatchObject({
      prepayment_status: "PREPAYMENT_PROVIDED",
      payment_processed_by: "PROCESSED_BY_PARTNER",
      deposit: { deposit: { price_micros: "25000000", currency_code: "USD" }, min_advance_cancellation_sec: "14400" },
    });
    expect((await sandbox.ledgerFor(response.body.booking.booking_id))[0]).toMatchObject({ operation: "charge", amount: { micros: 25000000n } });
  });

  test("when a group slot overrides the deposit per person, then it is charged for the party", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("group-spa-day", 1803891600, { partySize: 8, durationSec: 21600 }));
    expect((await sandbox.ledgerFor(response.body.booking.booking_id))[0].amount).toEqual({ micros: 160000000n, currency: "USD" });
  });

  test("when the service has a no-show fee, then the card is kept, nothing is charged, and the fee terms are echoed", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("spa-treatment-no-show-fee", 1803895200));
    const { booking } = response.body;
    expect(booking.payment_information).toMatchObject({
      prepayment_status: "PREPAYMENT_NOT_PROVIDED",
      no_show_fee: { fee: { price_micros: "25000000", currency_code: "USD" } },
    });
    const ledger = await sandbox.ledgerFor(booking.booking_id);
    expect(ledger.map((entry) => entry.operation)).toEqual(["store_card"]);
  });

  test("when a service only pays on arrival, then no token is needed and nothing is charged", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("massage-pay-on-arrival", 1803895200, { paymentToken: "" }));
    expect(response.body.booking.status).toBe("CONFIRMED");
    expect(await sandbox.ledgerFor(response.body.booking.booking_id)).toEqual([]);
  });
});

describe("a charge whose booking cannot be committed", () => {
  test("when the slot's last spot goes to someone else while the card is charged, then SLOT_UNAVAILABLE and the charge is refunded", async () => {
    let racer: (() => Promise<unknown>) | undefined;
    let inner!: SandboxProcessor;
    const racing = await startTestServer({
      payments: (store) => {
        inner = new SandboxProcessor(store);
        return {
          charge: async (request) => {
            const run = racer;
            racer = undefined;
            await run?.(); // another user books the last spot meanwhile
            return inner.charge(request);
          },
          storeCard: (request) => inner.storeCard(request),
          chargeStored: (request) => inner.chargeStored(request),
          refund: (request) => inner.refund(request),
          findCharge: (key) => inner.findCharge(key),
        };
      },
    });
    try {
      await importFeeds(racing.store, spaFeeds);
      const start = 1803981600;
      expect((await rest(racing, "CreateBooking", bookingRequest("spa-treatment-deposit", start))).body.booking).toBeDefined();
      racer = () => rest(racing, "CreateBooking", bookingRequest("spa-treatment-deposit", start));
      const response = await rest(racing, "CreateBooking", bookingRequest("spa-treatment-deposit", start, { token: "loses-the-race" }));
      expect(response.body.booking_failure.cause).toBe("SLOT_UNAVAILABLE");
      const ledger = await inner.ledgerFor(paidBookingId("loses-the-race"));
      expect(ledger.map((entry) => entry.operation)).toEqual(["charge", "refund"]);
    } finally {
      await racing.close();
    }
  });
});
