import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { paidBookingId } from "../../src/booking/take-payments";
import { importFeeds } from "../../src/inventory/feed-import";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { StripeProcessor } from "../../src/payments/stripe-processor";
import { rest, startTestServer, type TestServer } from "../support/test-server";
import { StripeStandIn } from "./stripe-stand-in";

// An OPTIONAL prepayment (service `prepayment_type: OPTIONAL`) is taken only
// when the request says the user chose to pay: payment_information.prepayment_status
// PREPAYMENT_PROVIDED (see prepaidAtBooking in src/payments/payment-policy.ts).

const start = 1803895200;
const hour = 3600;
const price = { price_micros: "80000000", currency_code: "USD" };
const services = [
  { service_id: "facial-optional", prepayment_type: "OPTIONAL" },
  {
    service_id: "facial-optional-deposit",
    prepayment_type: "OPTIONAL",
    deposit: { deposit: { price_micros: "10000000", currency_code: "USD" }, min_advance_cancellation_sec: 14400, deposit_type: "FIXED_RATE_DEFAULT" },
  },
  {
    service_id: "facial-optional-no-show-fee",
    prepayment_type: "OPTIONAL",
    no_show_fee: { fee: { price_micros: "20000000", currency_code: "USD" }, fee_type: "FIXED_RATE_DEFAULT" },
  },
];
/** Slot starts each test books (one slot per service and start, five spots each). */
const starts = Array.from({ length: 12 }, (_, i) => start + i * hour);

const metadata = (nonce: string) => ({ processing_instruction: "PROCESS_AS_COMPLETE", shard_number: 0, total_shards: 1, nonce, generation_timestamp: 1798761600 });

/** Feed files of the spa merchant with the OPTIONAL-prepayment services, in a fresh directory. */
function writeFeeds(): { dir: string; files: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "optional-prepayment-"));
  const merchants = JSON.parse(readFileSync(join(__dirname, "..", "..", "examples", "feeds", "spa", "merchants.json"), "utf8"));
  const feeds = {
    "merchants.json": merchants,
    "services.json": {
      metadata: metadata("optional-1"),
      service: services.map((s) => ({ merchant_id: "demo-spa", name: "Facial", description: "A facial; prepaying is up to the user", price, ...s })),
    },
    "availability.json": {
      metadata: metadata("optional-1"),
      availability: services.flatMap(({ service_id }) =>
        starts.map((start_sec) => ({
          merchant_id: "demo-spa",
          service_id,
          start_sec,
          duration_sec: hour,
          spots_total: 5,
          spots_open: 5,
          confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS",
        })),
      ),
    },
  };
  const files = Object.entries(feeds).map(([name, feed]) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(feed));
    return file;
  });
  return { dir, files };
}

let nextUser = 0;
function bookingRequest(
  serviceId: string,
  startSec: number,
  options: { token?: string; paymentToken?: string; prepaymentStatus?: string } = {},
) {
  const n = ++nextUser;
  return {
    idempotency_token: options.token ?? `optional-${n}`,
    slot: { merchant_id: "demo-spa", service_id: serviceId, start_sec: String(startSec), duration_sec: String(hour) },
    user_information: { user_id: `optional-user-${n}`, given_name: "O", family_name: "P", telephone: "+1", email: `optional${n}@example.com` },
    payment_information: {
      payment_processed_by: "PROCESSED_BY_PARTNER",
      ...(options.prepaymentStatus ? { prepayment_status: options.prepaymentStatus } : {}),
    },
    ...(options.paymentToken === "" ? {} : {
      payment_processing_parameters: { unparsed_payment_method_token: options.paymentToken ?? '{"id":"tok_visa"}' },
    }),
  };
}

const chosePay = { prepaymentStatus: "PREPAYMENT_PROVIDED" };

const countAvailable = async (server: TestServer, serviceId: string, startSec: number) =>
  (await rest(server, "CheckAvailability", { slot: { merchant_id: "demo-spa", service_id: serviceId, start_sec: String(startSec), duration_sec: String(hour) } })).body
    .count_available ?? 0;

describe("an OPTIONAL prepayment, with the sandbox", () => {
  let server: TestServer;
  let sandbox: SandboxProcessor;
  let feedDir: string;
  beforeAll(async () => {
    server = await startTestServer({ payments: (store) => (sandbox = new SandboxProcessor(store)) });
    const feeds = writeFeeds();
    feedDir = feeds.dir;
    await importFeeds(server.store, feeds.files);
  });
  afterAll(async () => {
    await server.close();
    rmSync(feedDir, { recursive: true, force: true });
  });

  /** What the ledger and the booking's payment records both say was charged: [operation, micros, transaction id]. */
  async function charges(bookingId: string) {
    const ledger = (await sandbox.ledgerFor(bookingId)).map((e) => [e.operation, e.amount?.micros, e.transactionId]);
    const records = (await server.store.read.payments.forBooking(bookingId)).map((r) => [r.state, r.operation, r.amountMicros, r.transactionId]);
    return { ledger, records };
  }

  test("when the user chose to pay and sent a token, then the price is charged once and echoed PREPAYMENT_PROVIDED with the charge's transaction id and price", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional", starts[0]!, chosePay));
    const { booking } = response.body;
    expect(booking.status).toBe("CONFIRMED");
    expect(booking.payment_information).toEqual({
      prepayment_status: "PREPAYMENT_PROVIDED",
      payment_processed_by: "PROCESSED_BY_PARTNER",
      payment_transaction_id: expect.stringMatching(/^sbx_ch_/),
      price,
    });
    const transactionId = booking.payment_information.payment_transaction_id;
    expect(await charges(booking.booking_id)).toEqual({
      ledger: [["charge", 80000000n, transactionId]],
      records: [["done", "prepayment", 80000000n, transactionId]],
    });
    const status = await rest(server, "GetBookingStatus", { booking_id: booking.booking_id });
    expect(status.body.prepayment_status).toBe("PREPAYMENT_PROVIDED");
  });

  test.each([
    ["said PREPAYMENT_NOT_PROVIDED and sent a token", { prepaymentStatus: "PREPAYMENT_NOT_PROVIDED" }],
    ["said nothing about prepaying and sent no token", { paymentToken: "" }],
  ])("when the user %s, then nothing is charged and the booking is made with PREPAYMENT_NOT_PROVIDED", async (_case, options) => {
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional", starts[1]!, options));
    const { booking } = response.body;
    expect(booking.status).toBe("CONFIRMED");
    expect(booking.payment_information.prepayment_status).toBe("PREPAYMENT_NOT_PROVIDED");
    expect(booking.payment_information.payment_transaction_id).toBeUndefined();
    expect(await charges(booking.booking_id)).toEqual({ ledger: [], records: [] });
  });

  test("when the user chose to pay but sent no token, then PAYMENT_ERROR and nothing is booked", async () => {
    const before = await countAvailable(server, "facial-optional", starts[2]!);
    const request = bookingRequest("facial-optional", starts[2]!, { ...chosePay, paymentToken: "", token: "chose-pay-no-token" });
    const response = await rest(server, "CreateBooking", request);
    expect(response.body).toEqual({ booking_failure: { cause: "PAYMENT_ERROR", description: expect.stringContaining("unparsed_payment_method_token") } });
    expect(await countAvailable(server, "facial-optional", starts[2]!)).toBe(before);
    expect(await server.store.read.bookings.get(paidBookingId("chose-pay-no-token"))).toBeUndefined();
    expect(await charges(paidBookingId("chose-pay-no-token"))).toEqual({ ledger: [], records: [] });
  });

  test("when a request that chose to pay is replayed three times at once, then it is charged once and every answer is the same booking", async () => {
    const request = bookingRequest("facial-optional", starts[3]!, { ...chosePay, token: "optional-replayed" });
    const first = await rest(server, "CreateBooking", request);
    const again = await Promise.all([1, 2, 3].map(() => rest(server, "CreateBooking", request)));
    for (const response of again) expect(response.body).toEqual(first.body);
    const { booking_id: bookingId, payment_information: info } = first.body.booking;
    expect(bookingId).toBe(paidBookingId("optional-replayed"));
    expect(await charges(bookingId)).toEqual({
      ledger: [["charge", 80000000n, info.payment_transaction_id]],
      records: [["done", "prepayment", 80000000n, info.payment_transaction_id]],
    });
  });

  test("when the first attempts of a request that chose to pay arrive together, then it is charged once", async () => {
    const request = bookingRequest("facial-optional", starts[4]!, { ...chosePay, token: "optional-together" });
    const answers = await Promise.all([1, 2, 3].map(() => rest(server, "CreateBooking", request)));
    for (const response of answers) expect(response.body.booking.booking_id).toBe(paidBookingId("optional-together"));
    expect((await sandbox.ledgerFor(paidBookingId("optional-together"))).map((e) => e.operation)).toEqual(["charge"]);
    expect(await countAvailable(server, "facial-optional", starts[4]!)).toBe(4);
  });

  test("when the card is declined, then PAYMENT_ERROR_CARD_DECLINED, nothing is booked and no money or card is kept", async () => {
    const before = await countAvailable(server, "facial-optional", starts[5]!);
    const request = bookingRequest("facial-optional", starts[5]!, { ...chosePay, paymentToken: '{"id":"tok_decline"}', token: "optional-declined" });
    const response = await rest(server, "CreateBooking", request);
    expect(response.body).toEqual({ booking_failure: { cause: "PAYMENT_ERROR_CARD_DECLINED", description: expect.any(String) } });
    expect(await countAvailable(server, "facial-optional", starts[5]!)).toBe(before);
    const bookingId = paidBookingId("optional-declined");
    expect(await server.store.read.bookings.get(bookingId)).toBeUndefined();
    expect(await sandbox.ledgerFor(bookingId)).toEqual([]);
    expect((await server.store.read.payments.forBooking(bookingId)).filter((r) => r.state === "done")).toEqual([]);
  });

  test("when the slot also has a deposit and the user chose to pay, then both are charged and the prepayment's transaction is echoed with the deposit terms", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional-deposit", starts[6]!, chosePay));
    const { booking } = response.body;
    const { ledger, records } = await charges(booking.booking_id);
    expect(records.map(([state, operation, micros]) => [state, operation, micros])).toEqual([
      ["done", "prepayment", 80000000n],
      ["done", "deposit", 10000000n],
    ]);
    expect(ledger.map(([operation, micros, id]) => [operation, micros, id])).toEqual(records.map(([, , micros, id]) => ["charge", micros, id]));
    expect(booking.payment_information).toMatchObject({
      prepayment_status: "PREPAYMENT_PROVIDED",
      payment_transaction_id: records[0]![3],
      price,
      deposit: { deposit: { price_micros: "10000000", currency_code: "USD" }, min_advance_cancellation_sec: "14400" },
    });
  });

  test("when the slot also has a deposit and the user chose not to pay, then only the deposit is charged", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional-deposit", starts[7]!, { prepaymentStatus: "PREPAYMENT_NOT_PROVIDED" }));
    const { booking } = response.body;
    const { ledger, records } = await charges(booking.booking_id);
    expect(records.map(([state, operation, micros]) => [state, operation, micros])).toEqual([["done", "deposit", 10000000n]]);
    expect(ledger).toEqual([["charge", 10000000n, records[0]![3]]]);
    // A deposit taken at booking is reported PROVIDED (seed L164), with its own transaction.
    expect(booking.payment_information).toMatchObject({ prepayment_status: "PREPAYMENT_PROVIDED", payment_transaction_id: records[0]![3] });
  });

  test("when the slot also has a no-show fee and the user chose not to pay, then only the card is kept and the fee terms are echoed", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional-no-show-fee", starts[8]!, { prepaymentStatus: "PREPAYMENT_NOT_PROVIDED" }));
    const { booking } = response.body;
    expect((await sandbox.ledgerFor(booking.booking_id)).map((e) => e.operation)).toEqual(["store_card"]);
    expect(booking.payment_information).toMatchObject({
      prepayment_status: "PREPAYMENT_NOT_PROVIDED",
      no_show_fee: { fee: { price_micros: "20000000", currency_code: "USD" } },
    });
  });

  test("when the slot also has a no-show fee and the user chose to pay, then the price is charged and echoed with the fee terms", async () => {
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional-no-show-fee", starts[9]!, chosePay));
    const { booking } = response.body;
    const charged = (await sandbox.ledgerFor(booking.booking_id)).filter((e) => e.operation === "charge");
    expect(charged.map((e) => e.amount?.micros)).toEqual([80000000n]);
    expect(booking.payment_information).toMatchObject({
      prepayment_status: "PREPAYMENT_PROVIDED",
      payment_transaction_id: charged[0]!.transactionId,
      price,
      no_show_fee: { fee: { price_micros: "20000000", currency_code: "USD" } },
    });
  });
});

describe("an OPTIONAL prepayment, with the Stripe adapter against its stand-in", () => {
  let standIn: StripeStandIn;
  let server: TestServer;
  let feedDir: string;
  beforeAll(async () => {
    standIn = new StripeStandIn();
    const port = await standIn.start();
    server = await startTestServer({
      payments: () => new StripeProcessor({ secretKey: "sk_test_standin", host: "127.0.0.1", port, protocol: "http", timeoutMs: 10_000 }),
    });
    const feeds = writeFeeds();
    feedDir = feeds.dir;
    await importFeeds(server.store, feeds.files);
  });
  afterAll(async () => {
    await server.close();
    await standIn.stop();
    rmSync(feedDir, { recursive: true, force: true });
  });

  test("when the user chose to pay and the request is replayed, then Stripe holds one PaymentIntent for the price, the one echoed", async () => {
    const request = bookingRequest("facial-optional", starts[10]!, { ...chosePay, token: "optional-stripe" });
    const first = await rest(server, "CreateBooking", request);
    const again = await Promise.all([1, 2, 3].map(() => rest(server, "CreateBooking", request)));
    for (const response of again) expect(response.body).toEqual(first.body);
    const info = first.body.booking.payment_information;
    expect(info).toEqual({ prepayment_status: "PREPAYMENT_PROVIDED", payment_processed_by: "PROCESSED_BY_PARTNER", payment_transaction_id: expect.stringMatching(/^pi_/), price });
    expect(standIn.paymentIntents.map((pi) => [pi.id, pi.amount, pi.currency])).toEqual([[info.payment_transaction_id, 8000, "usd"]]);
    expect((await server.store.read.payments.forBooking(paidBookingId("optional-stripe"))).map((r) => [r.operation, r.transactionId])).toEqual([
      ["prepayment", info.payment_transaction_id],
    ]);
  });

  test("when the user chose not to pay, then Stripe is not called", async () => {
    const calls = standIn.requests.length;
    const response = await rest(server, "CreateBooking", bookingRequest("facial-optional", starts[11]!, { prepaymentStatus: "PREPAYMENT_NOT_PROVIDED" }));
    expect(response.body.booking.payment_information.prepayment_status).toBe("PREPAYMENT_NOT_PROVIDED");
    expect(standIn.requests.length).toBe(calls);
  });

  test("when Stripe declines the card, then PAYMENT_ERROR_CARD_DECLINED and nothing is booked or charged", async () => {
    const intents = standIn.paymentIntents.length;
    const request = bookingRequest("facial-optional", starts[11]!, { ...chosePay, paymentToken: '{"id":"tok_chargeDeclined"}', token: "optional-stripe-declined" });
    const response = await rest(server, "CreateBooking", request);
    expect(response.body.booking_failure.cause).toBe("PAYMENT_ERROR_CARD_DECLINED");
    expect(await server.store.read.bookings.get(paidBookingId("optional-stripe-declined"))).toBeUndefined();
    expect(standIn.paymentIntents.length).toBe(intents);
  });
});
