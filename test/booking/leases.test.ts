/**
 * Leases. Over REST: lease expiry is decided from the database, so a server
 * gives back the spot of a lease it never saw (taken through another server
 * on the same file, or before a restart) once the lease has expired. In
 * process: `createLease` and `releaseExpiredLeases` as use cases on a real
 * SQLite store, through the storage contract (a lease's use by CreateBooking
 * is in create-booking.test.ts).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { BookingFailure_Cause, CreateLeaseRequestSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { InvalidArgumentError } from "../../src/booking/errors";
import { createLease, releaseExpiredLeases } from "../../src/booking/leases";
import { openBookingWorld, slotOf, spotsOpen, type BookingWorld } from "../support/booking-fixtures";
import { at, countAvailable, seedMerchant, uniqueId } from "../support/rest-helpers";
import { futureStartSec, hour, manualClock, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";

const clock = manualClock(futureStartSec - 7 * 24 * 3600);
let first: TestServer;
let second: TestServer;
beforeAll(async () => {
  first = await startTestServer({ clock, maxLeaseSec: 60 });
  // A second server on the same database file (as after a restart, or beside it during a rolling deploy).
  second = await startTestServer({ clock, maxLeaseSec: 60, dir: first.dir });
});
afterAll(async () => {
  await second.close();
  await first.close();
});

test("when a lease taken through one server expires, then the other server, which had already looked for expired leases, gives its spot back", async () => {
  const { slots } = await seedMerchant(first, [{ startSec: at(1), spotsTotal: 1 }]);
  // The first server looks (and finds nothing to expire) before the lease exists.
  expect(await countAvailable(first, slots[0])).toBe(1);
  const lease = await rest(second, "CreateLease", { lease: { slot: slots[0], user_reference: uniqueId("ref") } });
  expect(lease.body.lease.lease_id).toBeTruthy();
  expect(await countAvailable(first, slots[0])).toBe(0);

  clock.advance(61);
  expect(await countAvailable(first, slots[0])).toBe(1);
});

describe("createLease and releaseExpiredLeases in process", () => {
  const merchantId = "salon";
  const serviceId = "haircut";
  const maxLeaseSec = 600;
  let world: BookingWorld;
  let now: number;
  beforeEach(() => {
    world = openBookingWorld({ maxLeaseSec });
    now = world.clock.nowSec();
  });
  afterEach(async () => {
    await world.close();
  });

  async function seedSlot(startInSec = 48 * hour, spotsTotal = 2) {
    const seed = { merchantId, serviceId, startSec: now + startInSec, spotsTotal };
    await seedSlots(world.store, [seed]);
    return slotOf(seed);
  }
  const lease = (init: NonNullable<MessageInitShape<typeof CreateLeaseRequestSchema>["lease"]>) =>
    createLease(world.ctx, create(CreateLeaseRequestSchema, { lease: init }));
  const open = (slot: ReturnType<typeof slotOf>) => spotsOpen(world.store, merchantId, serviceId, Number(slot.startSec));

  test("when a lease is asked for without an expiry, then it holds one spot for the longest hold allowed", async () => {
    const slot = await seedSlot();

    const response = await lease({ slot, userReference: "ref-1" });

    expect(response.bookingFailure).toBeUndefined();
    expect(response.lease).toMatchObject({ leaseId: "id-1", userReference: "ref-1", leaseExpirationTimeSec: BigInt(now + maxLeaseSec) });
    expect(response.lease?.slot).toMatchObject({ merchantId, serviceId, startSec: slot.startSec });
    const stored = await world.store.read.leases.get("id-1");
    expect(stored?.state).toBe("held");
    expect(stored?.lease).toEqual(response.lease);
    expect(await world.store.read.leases.earliestHeldExpirySec()).toBe(now + maxLeaseSec);
    expect(await open(slot)).toBe(1);
  });

  test("when a shorter hold is asked for, then the lease keeps it; a longer one is shortened to the longest allowed", async () => {
    const slot = await seedSlot();

    const shorter = await lease({ slot, userReference: "ref-1", leaseExpirationTimeSec: BigInt(now + 60) });
    const longer = await lease({ slot, userReference: "ref-2", leaseExpirationTimeSec: BigInt(now + 10 * maxLeaseSec) });

    expect(shorter.lease?.leaseExpirationTimeSec).toBe(BigInt(now + 60));
    expect(longer.lease?.leaseExpirationTimeSec).toBe(BigInt(now + maxLeaseSec));
    expect(await open(slot)).toBe(0);
  });

  test("when the same user reference asks again, then it answers the lease made, and no second spot is held", async () => {
    const slot = await seedSlot();
    const first = await lease({ slot, userReference: "ref-1" });

    world.clock.advance(10);
    const again = await lease({ slot, userReference: "ref-1" });

    expect(again.lease).toEqual(first.lease);
    expect(await open(slot)).toBe(1);
    expect(await world.store.read.leases.get("id-2")).toBeUndefined();
  });

  test("when no spot is open, then it is SLOT_UNAVAILABLE and nothing is held", async () => {
    const slot = await seedSlot(48 * hour, 1);
    await lease({ slot, userReference: "ref-1" });

    const response = await lease({ slot, userReference: "ref-2" });

    expect(response.lease).toBeUndefined();
    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await world.store.read.leases.findByUserReference("ref-2")).toBeUndefined();
    expect(await open(slot)).toBe(0);
  });

  test("when the slot has started or is not in inventory, then it is SLOT_UNAVAILABLE", async () => {
    const slot = await seedSlot(hour);
    const missing = slotOf({ merchantId, serviceId, startSec: Number(slot.startSec) + 60 });
    world.clock.advance(hour);

    expect((await lease({ slot, userReference: "ref-1" })).bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect((await lease({ slot: missing, userReference: "ref-2" })).bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await open(slot)).toBe(2);
  });

  test.each([
    ["the expiry is in the past", "lease.lease_expiration_time_sec", (slot: ReturnType<typeof slotOf>, nowSec: number) => ({ slot, userReference: "ref-1", leaseExpirationTimeSec: BigInt(nowSec) })],
    ["the user reference is empty", "lease.user_reference", (slot: ReturnType<typeof slotOf>) => ({ slot, userReference: "" })],
    ["the slot is missing", "lease.slot", () => ({ userReference: "ref-1" })],
  ])("when %s, then it is an invalid argument naming %s, and nothing is held", async (_, field, requestFor) => {
    const slot = await seedSlot();

    const attempt = lease(requestFor(slot, now));

    await expect(attempt).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(attempt).rejects.toMatchObject({ field });
    expect(await world.store.read.leases.findByUserReference("ref-1")).toBeUndefined();
    expect(await open(slot)).toBe(2);
  });

  test("when a lease expires, then releaseExpiredLeases gives its spot back and marks it expired; not a second before", async () => {
    const slot = await seedSlot(48 * hour, 1);
    const held = (await lease({ slot, userReference: "ref-1", leaseExpirationTimeSec: BigInt(now + 60) })).lease!;

    await releaseExpiredLeases(world.ctx, now + 59);
    expect((await world.store.read.leases.get(held.leaseId))?.state).toBe("held");
    expect(await open(slot)).toBe(0);

    await releaseExpiredLeases(world.ctx, now + 60);
    expect((await world.store.read.leases.get(held.leaseId))?.state).toBe("expired");
    expect(await open(slot)).toBe(1);
    expect(await world.store.read.leases.earliestHeldExpirySec()).toBeUndefined();

    // Released once: a later run gives nothing back again.
    await releaseExpiredLeases(world.ctx, now + 120);
    expect(await open(slot)).toBe(1);
  });

  test("when a new lease is asked for after another expired, then the expired lease's spot is given back first and can be leased", async () => {
    const slot = await seedSlot(48 * hour, 1);
    await lease({ slot, userReference: "ref-1", leaseExpirationTimeSec: BigInt(now + 60) });
    expect((await lease({ slot, userReference: "ref-2" })).bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);

    world.clock.advance(60);
    const response = await lease({ slot, userReference: "ref-3" });

    expect(response.lease?.leaseId).toBe("id-2");
    expect(await open(slot)).toBe(0);
    expect((await world.store.read.leases.get("id-1"))?.state).toBe("expired");
  });
});
