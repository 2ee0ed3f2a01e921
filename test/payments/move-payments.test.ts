/**
 * A move or a party-size change applies the destination slot's terms: more
 * due is charged on the kept card or refused with PAYMENT_ERROR (nothing
 * changes), less due is refunded. Real server, sandbox processor.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { importFeeds } from "../../src/inventory/feed-import";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { manualClock, rest, startTestServer, type TestServer } from "../support/test-server";

const start = 1830000000;
const hour = 3600;
const day = 24 * hour;
const usd = (micros: string) => ({ price_micros: micros, currency_code: "USD" });
const adminToken = "admin-for-moves";

function feeds(): string[] {
  const dir = mkdtempSync(join(tmpdir(), "move-feeds-"));
  const write = (name: string, body: unknown) => (writeFileSync(join(dir, name), JSON.stringify(body)), join(dir, name));
  const services = [
    // A group table: a deposit of 10 USD per person.
    { service_id: "group", deposit: { deposit: usd("10000000"), deposit_type: "PER_PERSON" } },
    // A tasting menu prepaid at 50 USD per person (the per-person price is the slots').
    { service_id: "tasting", price: usd("50000000"), prepayment_type: "REQUIRED" },
    // A table with a no-show fee: the card is kept at booking; the 21:00 slot asks a 25 USD deposit.
    { service_id: "fee", no_show_fee: { fee: usd("15000000"), fee_type: "FIXED_RATE_DEFAULT" } },
  ];
  const perPerson = { prepayment: { price_info: { price: usd("50000000"), price_type: "PER_PERSON" } } };
  const slot = (serviceId: string, startSec: number, partySize: number, extra: object = {}) => ({
    merchant_id: "moves",
    service_id: serviceId,
    start_sec: startSec,
    duration_sec: 2 * hour,
    spots_total: 20,
    resources: { party_size: partySize },
    ...extra,
  });
  const availability = [
    ...[2, 4, 8].map((party) => slot("group", start, party)),
    ...[2, 4].map((party) => slot("tasting", start, party, perPerson)),
    slot("tasting", start + hour, 2, perPerson),
    slot("fee", start, 2),
    slot("fee", start + hour, 2, { deposit: { deposit: usd("25000000") } }),
  ];
  return [
    write("m.json", { merchant: [{ merchant_id: "moves", name: "Moves Bistro" }] }),
    write("s.json", { service: services.map((s) => ({ merchant_id: "moves", name: s.service_id, ...s })) }),
    write("a.json", { availability }),
  ];
}

const clock = manualClock(start - 30 * day);
let server: TestServer;
let sandbox!: SandboxProcessor;
beforeAll(async () => {
  server = await startTestServer({
    clock,
    merchantAuth: { merchantTokens: new Map(), adminToken },
    payments: (store) => (sandbox = new SandboxProcessor(store)),
  });
  await importFeeds(server.store, feeds());
});
afterAll(() => server.close());

let nextUser = 0;
async function book(serviceId: string, partySize: number, startSec = start) {
  const n = ++nextUser;
  const response = await rest(server, "CreateBooking", {
    idempotency_token: `move-${n}`,
    slot: { merchant_id: "moves", service_id: serviceId, start_sec: String(startSec), duration_sec: String(2 * hour), resources: { party_size: partySize } },
    user_information: { user_id: `m-${n}`, given_name: "M", family_name: "V", telephone: "+1", email: `m${n}@example.com` },
    payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
    payment_processing_parameters: { unparsed_payment_method_token: '{"id":"tok_visa"}' },
  });
  expect(response.body.booking).toBeDefined();
  return response.body.booking;
}
const move = (bookingId: string, slot: object) => rest(server, "UpdateBooking", { booking: { booking_id: bookingId, slot } });
const money = async (bookingId: string) => (await sandbox.ledgerFor(bookingId)).map((entry) => [entry.operation, entry.amount?.micros]);

test("when a per-person-deposit party of 4 asks to become 8, then the move is refused with PAYMENT_ERROR and nothing changes", async () => {
  const booking = await book("group", 4);
  expect(await money(booking.booking_id)).toEqual([["charge", 40000000n]]);
  const answer = await move(booking.booking_id, { resources: { party_size: 8 } });
  expect(answer.body.booking_failure).toMatchObject({ cause: "PAYMENT_ERROR" });
  expect(answer.body.booking_failure.description).toMatch(/deposit of 80\.00 USD and the booking holds 40\.00 USD/);
  expect(await money(booking.booking_id)).toEqual([["charge", 40000000n]]);
  const status = await rest(server, "GetBookingStatus", { booking_id: booking.booking_id });
  expect(status.body.booking_status).toBe("CONFIRMED");
  const slot = await rest(server, "CheckAvailability", {
    slot: { merchant_id: "moves", service_id: "group", start_sec: String(start), duration_sec: String(2 * hour), resources: { party_size: 8 } },
  });
  expect(slot.body.count_available).toBe(20);
});

test("when a party of 8 becomes 4, then half the per-person deposit is refunded; a later merchant cancellation refunds the rest, never more", async () => {
  const booking = await book("group", 8);
  const answer = await move(booking.booking_id, { resources: { party_size: 4 } });
  expect(answer.body.booking.slot.resources.party_size).toBe(4);
  expect(await money(booking.booking_id)).toEqual([
    ["charge", 80000000n],
    ["refund", 40000000n],
  ]);
  expect((await server.store.read.payments.forBooking(booking.booking_id)).map((r) => [r.operation, r.state, r.amountMicros])).toEqual([
    ["deposit", "done", 80000000n],
    ["refund/deposit", "done", 40000000n],
  ]);

  const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
  await merchant.cancelBooking({ bookingId: booking.booking_id }, { headers: { Authorization: `Bearer ${adminToken}` } });
  expect(await money(booking.booking_id)).toEqual([
    ["charge", 80000000n],
    ["refund", 40000000n],
    ["refund", 40000000n],
  ]);
  expect((await server.store.read.payments.forBooking(booking.booking_id)).map((r) => r.operation)).toEqual(["deposit", "refund/deposit", "refund/deposit/2"]);
});

test("when a prepaid party of 4 becomes 2, then the prepayment for two is refunded and the booking's price says 100 USD; 2 to 4 is refused", async () => {
  const booking = await book("tasting", 4);
  expect(booking.payment_information.price.price_micros).toBe("200000000");
  const smaller = await move(booking.booking_id, { resources: { party_size: 2 } });
  expect(smaller.body.booking.payment_information).toMatchObject({ prepayment_status: "PREPAYMENT_PROVIDED", price: { price_micros: "100000000" } });
  expect(await money(booking.booking_id)).toEqual([
    ["charge", 200000000n],
    ["refund", 100000000n],
  ]);
  const back = await move(booking.booking_id, { resources: { party_size: 4 } });
  expect(back.body.booking_failure).toMatchObject({ cause: "PAYMENT_ERROR" });
  // Same party, another time, same terms: moves with no money.
  const later = await move(booking.booking_id, { start_sec: String(start + hour) });
  expect(later.body.booking.slot.start_sec).toBe(String(start + hour));
  expect(await money(booking.booking_id)).toHaveLength(2);
});

test("when a booking that kept its card moves to a slot asking a deposit, then the deposit is charged on the kept card", async () => {
  const booking = await book("fee", 2);
  expect((await sandbox.ledgerFor(booking.booking_id)).map((entry) => entry.operation)).toEqual(["store_card"]);
  const answer = await move(booking.booking_id, { start_sec: String(start + hour) });
  expect(answer.body.booking.slot.start_sec).toBe(String(start + hour));
  expect(await money(booking.booking_id)).toEqual([
    ["store_card", undefined],
    ["charge_stored", 25000000n],
  ]);
  expect(answer.body.booking.payment_information).toMatchObject({ prepayment_status: "PREPAYMENT_PROVIDED", deposit: { deposit: { price_micros: "25000000" } } });
});
