import { CheckAvailabilityResponseSchema, BatchAvailabilityLookupResponseSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  at,
  book,
  expectInvalidArgument,
  keysOutsideProto,
  seedMerchant,
  uniqueId,
  type Json,
} from "../support/rest-helpers";
import { rest, startTestServer, type TestServer } from "../support/test-server";

const SYNCHRONOUS = 1;
const ASYNCHRONOUS = 2;
const MUST_SHOW_DURATION = 2;

describe("CheckAvailability", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  test("when a synchronous slot has open spots, then count_available and confirmation_mode come from inventory", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 3, confirmationMode: SYNCHRONOUS }]);
    const response = await rest(server, "CheckAvailability", { slot: slots[0] });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      slot: { ...slots[0], confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS" },
      count_available: 3,
    });
    expect(keysOutsideProto(CheckAvailabilityResponseSchema, response.body)).toEqual([]);
  });

  test("when the slot is asynchronous in inventory, then confirmation_mode CONFIRMATION_MODE_ASYNCHRONOUS is answered", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2, confirmationMode: ASYNCHRONOUS }]);
    const response = await rest(server, "CheckAvailability", { slot: slots[0] });
    expect(response.status).toBe(200);
    expect(response.body.slot.confirmation_mode).toBe("CONFIRMATION_MODE_ASYNCHRONOUS");
    expect(response.body.count_available).toBe(2);
  });

  test("when the inventory states a duration requirement, then duration_requirement is echoed by name", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), durationRequirement: MUST_SHOW_DURATION }]);
    const response = await rest(server, "CheckAvailability", { slot: slots[0] });
    expect(response.status).toBe(200);
    expect(response.body.duration_requirement).toBe("MUST_SHOW_DURATION");
  });

  test("when some spots were sold elsewhere, then only the open ones are counted", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 4, spotsOpen: 1 }]);
    expect((await rest(server, "CheckAvailability", { slot: slots[0] })).body.count_available).toBe(1);
  });

  test("when a booking takes a spot, then the count drops at once (live inventory)", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
    await book(server, slots[0]);
    expect((await rest(server, "CheckAvailability", { slot: slots[0] })).body.count_available).toBe(1);
  });

  test("when the slot is not in inventory, then 200 with count 0 (count_available absent) and the slot echoed", async () => {
    const { merchantId } = await seedMerchant(server, [{ startSec: at(1) }]);
    const unknown = { merchant_id: merchantId, service_id: "haircut", start_sec: String(at(5)), duration_sec: "3600" };
    for (const slot of [unknown, { ...unknown, merchant_id: uniqueId("no-such-merchant") }]) {
      const response = await rest(server, "CheckAvailability", { slot });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ slot });
    }
  });

  test("when the slot has already started, then the count is 0", async () => {
    const pastStart = Math.floor(Date.now() / 1000) - 3600;
    const { slots } = await seedMerchant(server, [{ startSec: pastStart, spotsTotal: 3 }]);
    const response = await rest(server, "CheckAvailability", { slot: slots[0] });
    expect(response.status).toBe(200);
    expect(response.body.count_available).toBeUndefined();
  });

  test("when the request is lowerCamelCase with int64 numbers, then it is understood", async () => {
    const { merchantId } = await seedMerchant(server, [{ startSec: at(2), spotsTotal: 2 }]);
    const slot = { merchantId, serviceId: "haircut", startSec: at(2), durationSec: 3600 };
    const response = await rest(server, "CheckAvailability", { slot });
    expect(response.body.count_available).toBe(2);
    expect(response.body.slot.start_sec).toBe(String(at(2)));
  });

  test("when slot is missing, then 400 naming slot", async () => {
    expectInvalidArgument(await rest(server, "CheckAvailability", {}), "slot");
  });
});

describe("BatchAvailabilityLookup", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const slotTime = (startSec: number, extra: Json = {}): Json => ({
    service_id: "haircut",
    start_sec: String(startSec),
    duration_sec: "3600",
    ...extra,
  });

  test("when several slot times include unknown ones, then one answer per slot time comes back in request order", async () => {
    const { merchantId } = await seedMerchant(server, [
      { startSec: at(1), confirmationMode: SYNCHRONOUS },
      { startSec: at(2), spotsTotal: 2, spotsOpen: 0 },
      { startSec: at(3), confirmationMode: ASYNCHRONOUS },
    ]);
    const requested = [
      slotTime(at(3), { confirmation_mode: "CONFIRMATION_MODE_ASYNCHRONOUS" }),
      slotTime(at(9)),
      slotTime(at(1), { confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS" }),
      slotTime(at(2)),
      slotTime(at(1), { service_id: "no-such-service" }),
      slotTime(at(1), { duration_sec: "1800" }),
    ];
    const response = await rest(server, "BatchAvailabilityLookup", { merchant_id: merchantId, slot_time: requested });
    expect(response.status).toBe(200);
    expect(keysOutsideProto(BatchAvailabilityLookupResponseSchema, response.body)).toEqual([]);
    const answers: Json[] = response.body.slot_time_availability;
    expect(answers.map((answer) => answer.slot_time.start_sec)).toEqual(requested.map((time) => time.start_sec));
    expect(answers.map((answer) => answer.slot_time.service_id)).toEqual(requested.map((time) => time.service_id));
    expect(answers.map((answer) => answer.available ?? false)).toEqual([true, false, true, false, false, false]);
    expect(answers[0].slot_time.confirmation_mode).toBe("CONFIRMATION_MODE_ASYNCHRONOUS");
    expect(answers[2].slot_time.confirmation_mode).toBe("CONFIRMATION_MODE_SYNCHRONOUS");
  });

  test("when the merchant is unknown, then every slot time is unavailable", async () => {
    const response = await rest(server, "BatchAvailabilityLookup", {
      merchant_id: uniqueId("no-such-merchant"),
      slot_time: [slotTime(at(1)), slotTime(at(2))],
    });
    expect(response.status).toBe(200);
    expect(response.body.slot_time_availability).toEqual([{ slot_time: slotTime(at(1)) }, { slot_time: slotTime(at(2)) }]);
  });

  test("when 300 slot times come in one call, then 300 answers come back in order", async () => {
    const seeded = Array.from({ length: 150 }, (_, i) => ({ startSec: at(2 * i) }));
    const { merchantId } = await seedMerchant(server, seeded);
    const requested = Array.from({ length: 300 }, (_, i) => slotTime(at(i)));
    const started = Date.now();
    const response = await rest(server, "BatchAvailabilityLookup", { merchant_id: merchantId, slot_time: requested });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(response.status).toBe(200);
    const answers: Json[] = response.body.slot_time_availability;
    expect(answers).toHaveLength(300);
    expect(answers.map((answer) => answer.slot_time.start_sec)).toEqual(requested.map((time) => time.start_sec));
    expect(answers.map((answer) => answer.available ?? false)).toEqual(requested.map((_, i) => i % 2 === 0));
  });

  test("when resource_ids give a party size, then only the slot of that party size answers", async () => {
    const { merchantId } = await seedMerchant(server, [
      { startSec: at(1), partySize: 2 },
      { startSec: at(1), partySize: 4, spotsTotal: 1, spotsOpen: 0 },
    ]);
    const requested = [
      slotTime(at(1), { resource_ids: { party_size: 2 } }),
      slotTime(at(1), { resource_ids: { party_size: 4 } }),
      slotTime(at(1), { resource_ids: { party_size: 6 } }),
      slotTime(at(1)),
    ];
    const response = await rest(server, "BatchAvailabilityLookup", { merchant_id: merchantId, slot_time: requested });
    expect(response.status).toBe(200);
    const answers: Json[] = response.body.slot_time_availability;
    expect(answers.map((answer) => answer.available ?? false)).toEqual([true, false, false, true]);
    expect(answers[0].slot_time.resource_ids).toEqual({ party_size: 2 });
  });

  test("when the last spot has been booked, then the slot time is unavailable", async () => {
    const { merchantId, slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    await book(server, slots[0]);
    const response = await rest(server, "BatchAvailabilityLookup", { merchant_id: merchantId, slot_time: [slotTime(at(1))] });
    expect(response.body.slot_time_availability[0].available).toBeUndefined();
  });

  test("when merchant_id is missing, then 400 naming merchant_id", async () => {
    expectInvalidArgument(await rest(server, "BatchAvailabilityLookup", { slot_time: [slotTime(at(1))] }), "merchant_id");
  });

  test("when a slot time has no start_sec, then 400 naming it by index", async () => {
    const { merchantId } = await seedMerchant(server, [{ startSec: at(1) }]);
    const response = await rest(server, "BatchAvailabilityLookup", {
      merchant_id: merchantId,
      slot_time: [slotTime(at(1)), { service_id: "haircut", duration_sec: "3600" }],
    });
    expectInvalidArgument(response, "slot_time[1].start_sec");
  });

  test("when slot_time is not an array, then 400 naming slot_time", async () => {
    const response = await rest(server, "BatchAvailabilityLookup", { merchant_id: "m", slot_time: slotTime(at(1)) });
    expectInvalidArgument(response, "slot_time");
  });
});
