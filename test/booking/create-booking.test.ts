/**
 * CreateBooking as a use case: `createBooking(ctx, request)` in process on a
 * real SQLite store, through the storage contract; what it answers, and what
 * the store then holds (bookings, tokens, spots, leases, the outbox).
 */
import { create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingStatus,
  ConfirmationMode,
  CreateLeaseRequestSchema,
  ResourceIdsSchema,
  UpdateBookingRequestSchema,
  type CreateBookingRequest,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { createBooking } from "../../src/booking/create-booking";
import { InvalidArgumentError } from "../../src/booking/errors";
import { createLease } from "../../src/booking/leases";
import { updateBooking } from "../../src/booking/update-booking";
import {
  availabilityUpdate,
  bookingRequest,
  openBookingWorld,
  slotOf,
  spotsOpen,
  takeQueuedNotifications,
  userOf,
  type BookingWorld,
} from "../support/booking-fixtures";
import { hour, seedSlots } from "../support/test-server";

const merchantId = "salon";
const serviceId = "haircut";

let world: BookingWorld;
let now: number;
beforeEach(() => {
  world = openBookingWorld();
  now = world.clock.nowSec();
});
afterEach(async () => {
  await world.close();
});

/** Seeds one slot of the salon's haircut starting `startInSec` from now; answers its Slot message. */
async function seedSlot(startInSec: number, extra: { spotsTotal?: number; confirmationMode?: ConfirmationMode } = {}) {
  const seed = { merchantId, serviceId, startSec: now + startInSec, ...extra };
  await seedSlots(world.store, [seed]);
  return slotOf(seed);
}

const open = (startSec: bigint) => spotsOpen(world.store, merchantId, serviceId, Number(startSec));

describe("a slot with an open spot", () => {
  test("when it confirms at once, then the booking is CONFIRMED, holds its spot, its token is recorded and Google is told the new availability", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 2 });
    const user = userOf("ada");

    const response = await createBooking(world.ctx, bookingRequest(slot, user, "token-1", { additionalRequest: "window seat" }));

    expect(response.bookingFailure).toBeUndefined();
    expect(response.booking).toMatchObject({ bookingId: "id-1", status: BookingStatus.CONFIRMED, slot: { merchantId, serviceId, startSec: slot.startSec } });
    expect(response.booking!.userInformation).toEqual(user);
    const stored = await world.store.read.bookings.get("id-1");
    expect(stored).toMatchObject({ holdsSpot: true, createdAtSec: now, decideBySec: 0, additionalRequest: "window seat" });
    expect(stored!.booking).toEqual(response.booking);
    expect(await world.store.read.idempotency.findBookingId("token-1")).toBe("id-1");
    expect(await open(slot.startSec)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
    ]);
    expect(world.wakeUps()).toBe(1);
  });

  test("when it is asynchronous, then the booking awaits the merchant, who has decideWithinSec to answer", async () => {
    const slot = await seedSlot(7 * 24 * hour, { confirmationMode: ConfirmationMode.ASYNCHRONOUS });

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));

    expect(response.booking?.status).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    expect(response.booking?.slot?.confirmationMode).toBe(ConfirmationMode.ASYNCHRONOUS);
    const stored = await world.store.read.bookings.get(response.booking!.bookingId);
    expect(stored).toMatchObject({ holdsSpot: true, createdAtSec: now, decideBySec: now + world.ctx.decideWithinSec });
    expect(await open(slot.startSec)).toBe(0);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
    ]);
  });

  test("when it is asynchronous and starts before decideWithinSec has passed, then the merchant must answer by the start", async () => {
    const slot = await seedSlot(2 * hour, { confirmationMode: ConfirmationMode.ASYNCHRONOUS });
    expect(2 * hour).toBeLessThan(world.ctx.decideWithinSec);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));

    expect(response.booking?.status).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    expect((await world.store.read.bookings.get(response.booking!.bookingId))?.decideBySec).toBe(Number(slot.startSec));
  });
});

describe("the idempotency token", () => {
  test("when the same request comes again, then it answers the booking made for the token, and nothing more is taken, made or queued", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 3 });
    const request = bookingRequest(slot, userOf("ada"), "token-1");
    const first = await createBooking(world.ctx, request);
    await takeQueuedNotifications(world.store, now);

    world.clock.advance(60);
    const replay = await createBooking(world.ctx, request);

    expect(replay.booking).toEqual(first.booking);
    expect(await open(slot.startSec)).toBe(2);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
    expect((await world.store.read.bookings.get("id-1"))?.createdAtSec).toBe(now);
    // No id was drawn for the replay: the next booking gets the second one.
    const next = await createBooking(world.ctx, bookingRequest(slot, userOf("grace"), "token-2"));
    expect(next.booking?.bookingId).toBe("id-2");
  });

  test("when a retry of the request arrives after its booking took the last spot, then it still answers that booking", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 1 });
    const request = bookingRequest(slot, userOf("ada"), "token-1");
    const first = await createBooking(world.ctx, request);
    expect(await open(slot.startSec)).toBe(0);

    const replay = await createBooking(world.ctx, request);

    expect(replay.bookingFailure).toBeUndefined();
    expect(replay.booking).toEqual(first.booking);
  });

  test("when the same user asks again for the same slot under a new token, then it is OVERLAPPING_RESERVATION and nothing is written", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 3 });
    await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));
    await takeQueuedNotifications(world.store, now);

    const again = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-2"));

    expect(again.booking).toBeUndefined();
    expect(again.bookingFailure?.cause).toBe(BookingFailure_Cause.OVERLAPPING_RESERVATION);
    expect(await world.store.read.idempotency.findBookingId("token-2")).toBeUndefined();
    expect(await world.store.read.bookings.get("id-2")).toBeUndefined();
    expect(await open(slot.startSec)).toBe(2);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when another user id comes with the same email in other letter case, then it is the same user: OVERLAPPING_RESERVATION", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 3 });
    await createBooking(world.ctx, bookingRequest(slot, userOf("ada", "Ada@Example.com"), "token-1"));

    const again = await createBooking(world.ctx, bookingRequest(slot, userOf("ada-on-another-device", "ada@example.COM"), "token-2"));

    expect(again.bookingFailure?.cause).toBe(BookingFailure_Cause.OVERLAPPING_RESERVATION);
    expect(await open(slot.startSec)).toBe(2);
  });

  test("when the user's earlier booking of the slot was canceled, then the user may book the slot again", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 3 });
    await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));
    const canceled = await updateBooking(world.ctx, create(UpdateBookingRequestSchema, { booking: { bookingId: "id-1", status: BookingStatus.CANCELED } }));
    expect(canceled.booking?.status).toBe(BookingStatus.CANCELED);

    const again = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-2"));

    expect(again.booking?.status).toBe(BookingStatus.CONFIRMED);
    expect(again.booking?.bookingId).toBe("id-2");
  });
});

describe("no spot to take", () => {
  test("when another user took the last spot, then it is SLOT_UNAVAILABLE and nothing is written", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 1 });
    await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));
    await takeQueuedNotifications(world.store, now);

    const late = await createBooking(world.ctx, bookingRequest(slot, userOf("grace"), "token-2"));

    expect(late.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await world.store.read.idempotency.findBookingId("token-2")).toBeUndefined();
    expect(await world.store.read.bookings.get("id-2")).toBeUndefined();
    expect(await open(slot.startSec)).toBe(0);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
    expect(world.wakeUps()).toBe(1);
  });

  test("when the slot has started, then it is SLOT_UNAVAILABLE even with spots open", async () => {
    const slot = await seedSlot(hour, { spotsTotal: 2 });
    world.clock.advance(hour);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await open(slot.startSec)).toBe(2);
  });

  test("when no slot of the inventory matches, then it is SLOT_UNAVAILABLE", async () => {
    const slot = await seedSlot(48 * hour);
    const elsewhere = slotOf({ merchantId, serviceId, startSec: Number(slot.startSec) + 15 * 60 });

    const response = await createBooking(world.ctx, bookingRequest(elsewhere, userOf("ada"), "token-1"));

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await open(slot.startSec)).toBe(1);
  });
});

describe("a lease", () => {
  async function lease(slot: ReturnType<typeof slotOf>, userReference: string) {
    const response = await createLease(world.ctx, create(CreateLeaseRequestSchema, { lease: { slot, userReference } }));
    expect(response.lease?.leaseId).toBeTruthy();
    return response.lease!;
  }

  test("when the booking names a live lease, then it books the lease's spot (not a second one) and consumes the lease", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 2 });
    const held = await lease(slot, "ref-1");
    expect(await open(slot.startSec)).toBe(1);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1", { leaseRef: { leaseId: held.leaseId } }));

    expect(response.booking?.status).toBe(BookingStatus.CONFIRMED);
    expect(await open(slot.startSec)).toBe(1);
    expect((await world.store.read.leases.get(held.leaseId))?.state).toBe("consumed");
    expect((await world.store.read.bookings.get(response.booking!.bookingId))?.holdsSpot).toBe(true);
  });

  test("when the lease was used already, then another booking on it is LEASE_EXPIRED and takes nothing", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 2 });
    const held = await lease(slot, "ref-1");
    await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1", { leaseRef: { leaseId: held.leaseId } }));

    const second = await createBooking(world.ctx, bookingRequest(slot, userOf("grace"), "token-2", { leaseRef: { leaseId: held.leaseId } }));

    expect(second.bookingFailure?.cause).toBe(BookingFailure_Cause.LEASE_EXPIRED);
    expect(await open(slot.startSec)).toBe(1);
    expect(await world.store.read.idempotency.findBookingId("token-2")).toBeUndefined();
  });

  test("when the lease has expired, then the booking is LEASE_EXPIRED, and the lease's spot is back", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 1 });
    const held = await lease(slot, "ref-1");
    expect(await open(slot.startSec)).toBe(0);
    world.clock.advance(world.ctx.maxLeaseSec);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1", { leaseRef: { leaseId: held.leaseId } }));

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.LEASE_EXPIRED);
    expect((await world.store.read.leases.get(held.leaseId))?.state).toBe("expired");
    expect(await open(slot.startSec)).toBe(1);
  });

  test("when the user already holds a booking of the lease's slot, then booking on the lease is OVERLAPPING_RESERVATION and the lease stays held", async () => {
    const slot = await seedSlot(48 * hour, { spotsTotal: 3 });
    await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));
    const held = await lease(slot, "ref-1");
    expect(await open(slot.startSec)).toBe(1);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-2", { leaseRef: { leaseId: held.leaseId } }));

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.OVERLAPPING_RESERVATION);
    expect((await world.store.read.leases.get(held.leaseId))?.state).toBe("held");
    expect(await world.store.read.idempotency.findBookingId("token-2")).toBeUndefined();
    expect(await open(slot.startSec)).toBe(1);
  });

  test("when the lease is unknown, then the booking is LEASE_EXPIRED", async () => {
    const slot = await seedSlot(48 * hour);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1", { leaseRef: { leaseId: "no-such-lease" } }));

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.LEASE_EXPIRED);
    expect(await open(slot.startSec)).toBe(1);
  });

  test("when the booking's slot is not the lease's, then it is an invalid argument and the lease stays held", async () => {
    const slot = await seedSlot(48 * hour);
    const other = await seedSlot(49 * hour);
    const held = await lease(slot, "ref-1");

    await expect(
      createBooking(world.ctx, bookingRequest(other, userOf("ada"), "token-1", { leaseRef: { leaseId: held.leaseId } })),
    ).rejects.toMatchObject({ name: "InvalidArgumentError", field: "slot" });
    expect((await world.store.read.leases.get(held.leaseId))?.state).toBe("held");
    expect(await world.store.read.idempotency.findBookingId("token-1")).toBeUndefined();
  });
});

describe("an offer", () => {
  test("when the merchant has no such offer, then it is OFFER_UNAVAILABLE and no spot is taken", async () => {
    const slot = await seedSlot(48 * hour);

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1", { offerId: "summer-sale" }));

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.OFFER_UNAVAILABLE);
    expect(await open(slot.startSec)).toBe(1);
    expect(await world.store.read.idempotency.findBookingId("token-1")).toBeUndefined();
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the merchant has the offer, then the booking carries it", async () => {
    const slot = await seedSlot(48 * hour);
    await world.store.transaction((tx) => tx.inventory.upsertOffer({ merchantId, offerId: "summer-sale", serviceId: "", feedJson: "{}" }));

    const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1", { offerId: "summer-sale" }));

    expect(response.booking?.offerInfo?.offerId).toBe("summer-sale");
    expect((await world.store.read.bookings.get(response.booking!.bookingId))?.booking.offerInfo?.offerId).toBe("summer-sale");
  });
});

describe("a malformed request", () => {
  const cases: Array<[string, string, (request: CreateBookingRequest) => void]> = [
    ["the idempotency token is empty", "idempotency_token", (request) => void (request.idempotencyToken = "")],
    ["the slot is missing", "slot", (request) => void (request.slot = undefined)],
    ["the slot has no start", "slot.start_sec", (request) => void (request.slot!.startSec = 0n)],
    ["the slot has no merchant", "slot.merchant_id", (request) => void (request.slot!.merchantId = "")],
    ["the user is missing", "user_information", (request) => void (request.userInformation = undefined)],
    ["the user has no email", "user_information.email", (request) => void (request.userInformation!.email = "")],
    ["the party size is negative", "slot.resources.party_size", (request) => void (request.slot!.resources = create(ResourceIdsSchema, { partySize: -1 }))],
  ];

  test.each(cases)("when %s, then it is an invalid argument naming %s, and nothing is written", async (_, field, spoil) => {
    const slot = await seedSlot(48 * hour);
    const startSec = slot.startSec;
    const request = bookingRequest(slot, userOf("ada"), "token-1");
    spoil(request);

    const attempt = createBooking(world.ctx, request);

    await expect(attempt).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(attempt).rejects.toMatchObject({ field });
    expect(await open(startSec)).toBe(1);
    expect(await world.store.read.idempotency.findBookingId("token-1")).toBeUndefined();
    expect(await world.store.read.bookings.get("id-1")).toBeUndefined();
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
    expect(world.wakeUps()).toBe(0);
  });
});
