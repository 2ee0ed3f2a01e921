import { CreateLeaseResponseSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  at,
  bookingRequest,
  countAvailable,
  createBooking,
  expectBookingFailure,
  expectInvalidArgument,
  keysOutsideProto,
  newUser,
  seedMerchant,
  uniqueId,
  type Json,
} from "../support/rest-helpers";
import { futureStartSec, manualClock, rest, startTestServer, type TestServer } from "../support/test-server";

const maxLeaseSec = 60;

/** CreateLease has no REST path in Google's v3 table; this server serves it at /v3/CreateLease all the same. */
describe("CreateLease", () => {
  // Slots start days after the clock, so moving it by minutes never makes them past.
  const clock = manualClock(futureStartSec - 7 * 24 * 3600);
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ clock, maxLeaseSec });
  });
  afterAll(() => server.close());

  const lease = (slot: Json, extra: Json = {}) =>
    rest(server, "CreateLease", { lease: { slot, user_reference: uniqueId("user-ref"), ...extra } });

  test("when a lease is taken, then it holds one spot of the slot", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
    const userReference = uniqueId("user-ref");
    const response = await rest(server, "CreateLease", { lease: { slot: slots[0], user_reference: userReference } });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      lease: {
        lease_id: expect.stringMatching(/.+/),
        slot: slots[0],
        user_reference: userReference,
        lease_expiration_time_sec: String(clock.nowSec() + maxLeaseSec),
      },
    });
    expect(keysOutsideProto(CreateLeaseResponseSchema, response.body)).toEqual([]);
    expect(await countAvailable(server, slots[0])).toBe(1);
  });

  test("when the same user_reference comes again, then the same lease comes back and no second spot is held", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 3 }]);
    const body = { lease: { slot: slots[0], user_reference: uniqueId("user-ref") } };
    const first = await rest(server, "CreateLease", body);
    const again = await rest(server, "CreateLease", body);
    expect(again.body.lease.lease_id).toBe(first.body.lease.lease_id);
    expect(again.body).toEqual(first.body);
    expect(await countAvailable(server, slots[0])).toBe(2);
  });

  test("when the requested expiry is beyond the longest hold, then it is shortened to the longest hold", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const response = await lease(slots[0], { lease_expiration_time_sec: String(clock.nowSec() + 3600) });
    expect(response.body.lease.lease_expiration_time_sec).toBe(String(clock.nowSec() + maxLeaseSec));
  });

  test("when the requested expiry is within the longest hold, then it is kept", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const response = await lease(slots[0], { lease_expiration_time_sec: String(clock.nowSec() + 30) });
    expect(response.body.lease.lease_expiration_time_sec).toBe(String(clock.nowSec() + 30));
  });

  test("when the slot is full, then booking_failure SLOT_UNAVAILABLE and no lease", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 1, spotsOpen: 0 }]);
    expectBookingFailure(await lease(slots[0]), "SLOT_UNAVAILABLE");
  });

  test("when CreateBooking carries the lease_ref, then it consumes the held spot and the lease cannot be reused", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
    const leaseId = (await lease(slots[0])).body.lease.lease_id;
    expect(await countAvailable(server, slots[0])).toBe(1);

    const booked = await createBooking(server, slots[0], newUser(), uniqueId("token"), { lease_ref: { lease_id: leaseId } });
    expect(booked.status).toBe(200);
    expect(booked.body.booking.status).toBe("CONFIRMED");
    expect(await countAvailable(server, slots[0])).toBe(1);

    const reused = await createBooking(server, slots[0], newUser(), uniqueId("token"), { lease_ref: { lease_id: leaseId } });
    expectBookingFailure(reused, "LEASE_EXPIRED");
    expect(await countAvailable(server, slots[0])).toBe(1);
  });

  test("when the lease has expired, then LEASE_EXPIRED and its spot is open again", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
    const held = await lease(slots[0], { lease_expiration_time_sec: String(clock.nowSec() + 30) });
    expect(await countAvailable(server, slots[0])).toBe(1);

    clock.advance(31);
    const response = await createBooking(server, slots[0], newUser(), uniqueId("token"), {
      lease_ref: { lease_id: held.body.lease.lease_id },
    });
    expectBookingFailure(response, "LEASE_EXPIRED");
    expect(await countAvailable(server, slots[0])).toBe(2);
  });

  test("when a lease expires unused, then CheckAvailability alone gives its spot back", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    await lease(slots[0]);
    expect(await countAvailable(server, slots[0])).toBe(0);
    clock.advance(maxLeaseSec);
    expect(await countAvailable(server, slots[0])).toBe(1);
  });

  test("when the lease_ref comes with a slot that differs from the lease's, then 400 naming slot and the lease stays usable", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }, { startSec: at(2) }]);
    const leaseId = (await lease(slots[0])).body.lease.lease_id;
    const user = newUser();
    const token = uniqueId("token");

    const mismatched = await rest(server, "CreateBooking", bookingRequest(slots[1], user, token, { lease_ref: { lease_id: leaseId } }));
    expectInvalidArgument(mismatched, "slot");
    expect(await countAvailable(server, slots[0])).toBe(0);
    expect(await countAvailable(server, slots[1])).toBe(1);
    expect((await rest(server, "ListBookings", { user_id: user.user_id })).status).toBe(404);

    const matching = await rest(server, "CreateBooking", bookingRequest(slots[0], user, token, { lease_ref: { lease_id: leaseId } }));
    expect(matching.body.booking.status).toBe("CONFIRMED");
    expect(await countAvailable(server, slots[0])).toBe(0);
  });

  test("when the lease_ref names no lease, then LEASE_EXPIRED", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const response = await createBooking(server, slots[0], newUser(), uniqueId("token"), { lease_ref: { lease_id: "no-such-lease" } });
    expectBookingFailure(response, "LEASE_EXPIRED");
    expect(await countAvailable(server, slots[0])).toBe(1);
  });

  test("when lease or its user_reference is missing, then 400 naming the field", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    expectInvalidArgument(await rest(server, "CreateLease", {}), "lease");
    expectInvalidArgument(await rest(server, "CreateLease", { lease: { slot: slots[0] } }), "lease.user_reference");
    expect(await countAvailable(server, slots[0])).toBe(1);
  });

  test("when the requested expiry is already past, then 400 naming lease.lease_expiration_time_sec", async () => {
    const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
    const response = await lease(slots[0], { lease_expiration_time_sec: String(clock.nowSec() - 1) });
    expectInvalidArgument(response, "lease.lease_expiration_time_sec");
    expect(await countAvailable(server, slots[0])).toBe(1);
  });
});
