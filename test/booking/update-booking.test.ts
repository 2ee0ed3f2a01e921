/**
 * UpdateBooking as a use case: `updateBooking(ctx, request)` in process on a
 * real SQLite store, through the storage contract. A cancellation gives the
 * spot back; a move takes the new slot's spot and frees the old one; what
 * cannot change is refused, with nothing written.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingStatus,
  ConfirmationMode,
  UpdateBookingRequestSchema,
  type Slot,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { createBooking } from "../../src/booking/create-booking";
import { InvalidArgumentError, NotFoundError } from "../../src/booking/errors";
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
import { hour, seedSlots, type SlotSeed } from "../support/test-server";

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

type Seed = Omit<SlotSeed, "merchantId" | "serviceId" | "startSec"> & { startSec?: number };

/** Seeds slots of the salon's haircut (starting two days from now unless told); answers their Slot messages. */
async function seed(...slots: Seed[]): Promise<Slot[]> {
  const seeds = slots.map((slot) => ({ merchantId, serviceId, startSec: now + 48 * hour, ...slot }));
  await seedSlots(world.store, seeds);
  return seeds.map(slotOf);
}

/** Books the slot for the user; answers the booking id (what was queued is taken, so each test sees only its own). */
async function book(slot: Slot, userId = "ada"): Promise<string> {
  const response = await createBooking(world.ctx, bookingRequest(slot, userOf(userId), `token-of-${userId}-${slot.startSec}`));
  expect(response.booking).toBeDefined();
  await takeQueuedNotifications(world.store, now);
  return response.booking!.bookingId;
}

function update(booking: MessageInitShape<typeof UpdateBookingRequestSchema>["booking"]) {
  return updateBooking(world.ctx, create(UpdateBookingRequestSchema, { booking }));
}
const cancel = (bookingId: string) => update({ bookingId, status: BookingStatus.CANCELED });
const moveTo = (bookingId: string, startSec: bigint) => update({ bookingId, slot: { startSec } });
const open = (slot: Slot) => spotsOpen(world.store, merchantId, serviceId, Number(slot.startSec));

describe("a cancellation", () => {
  test("when Google cancels a confirmed booking, then it is CANCELED, gives its spot back, and Google is told the new availability", async () => {
    const [slot] = await seed({ spotsTotal: 1 });
    const bookingId = await book(slot);
    expect(await open(slot)).toBe(0);
    const wokenBefore = world.wakeUps();

    const response = await cancel(bookingId);

    expect(response.bookingFailure).toBeUndefined();
    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.CANCELED });
    const stored = await world.store.read.bookings.get(bookingId);
    expect(stored).toMatchObject({ holdsSpot: false, decideBySec: 0 });
    expect(stored!.booking.status).toBe(BookingStatus.CANCELED);
    expect(await open(slot)).toBe(1);
    // Google learns of its own cancellation from its call: only the availability is queued.
    expect(await takeQueuedNotifications(world.store, now)).toEqual([
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
    ]);
    expect(world.wakeUps()).toBe(wokenBefore + 1);
  });

  test("when a pending request is canceled, then its spot comes back and its decision deadline goes", async () => {
    const [slot] = await seed({ spotsTotal: 1, confirmationMode: ConfirmationMode.ASYNCHRONOUS });
    const bookingId = await book(slot);
    expect((await world.store.read.bookings.get(bookingId))?.decideBySec).toBeGreaterThan(0);

    const response = await cancel(bookingId);

    expect(response.booking?.status).toBe(BookingStatus.CANCELED);
    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: false, decideBySec: 0 });
    expect(await open(slot)).toBe(1);
  });

  test("when the booking is canceled twice, then the second is BOOKING_ALREADY_CANCELLED and gives nothing back again", async () => {
    const [slot] = await seed({ spotsTotal: 2 });
    const bookingId = await book(slot);
    await book(slot, "grace");
    await cancel(bookingId);
    await takeQueuedNotifications(world.store, now);
    expect(await open(slot)).toBe(1);

    const again = await cancel(bookingId);

    expect(again.booking).toBeUndefined();
    expect(again.bookingFailure?.cause).toBe(BookingFailure_Cause.BOOKING_ALREADY_CANCELLED);
    expect(await open(slot)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the booking has started, then it is OUTSIDE_CANCELLATION_WINDOW and it keeps its spot", async () => {
    const [slot] = await seed({ startSec: now + hour });
    const bookingId = await book(slot);
    world.clock.advance(hour);

    const response = await cancel(bookingId);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.OUTSIDE_CANCELLATION_WINDOW);
    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: true, booking: { status: BookingStatus.CONFIRMED } });
  });

  test("when the booking does not exist, then it is not found", async () => {
    await expect(cancel("no-such-booking")).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("a move", () => {
  test("when the booking moves to another start, then it takes the new slot's spot, frees the old one, and both start times are queued", async () => {
    const [from, to] = await seed({ spotsTotal: 1 }, { startSec: now + 72 * hour, spotsTotal: 1 });
    const bookingId = await book(from);
    const slotIdBefore = (await world.store.read.bookings.get(bookingId))!.slotId;

    const response = await moveTo(bookingId, to.startSec);

    expect(response.bookingFailure).toBeUndefined();
    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.CONFIRMED, slot: { startSec: to.startSec } });
    const stored = (await world.store.read.bookings.get(bookingId))!;
    expect(stored.slotId).not.toBe(slotIdBefore);
    expect(stored.holdsSpot).toBe(true);
    expect(stored.booking.slot?.startSec).toBe(to.startSec);
    expect(await open(from)).toBe(1);
    expect(await open(to)).toBe(0);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(from.startSec), Number(to.startSec)])),
    ]);
  });

  test("when a dining booking asks for a larger party, then it moves to the slot of that party size", async () => {
    const startSec = now + 48 * hour;
    const [forTwo, forFour] = await seed({ startSec, partySize: 2 }, { startSec, partySize: 4 });
    const bookingId = await book(forTwo);

    const response = await update({ bookingId, slot: { resources: { partySize: 4 } } });

    expect(response.booking?.slot?.resources?.partySize).toBe(4);
    const stored = (await world.store.read.bookings.get(bookingId))!;
    expect((await world.store.read.inventory.getSlot(stored.slotId))?.partySize).toBe(4);
    const [two] = await world.store.read.inventory.findSlots({ ...slotKey(forTwo), partySize: 2 }, 1);
    const [four] = await world.store.read.inventory.findSlots({ ...slotKey(forFour), partySize: 4 }, 1);
    expect([two.spotsOpen, four.spotsOpen]).toEqual([1, 0]);
  });

  test("when the new start's slot has no open spot, then it is SLOT_UNAVAILABLE and the booking stays where it was", async () => {
    const [from, full] = await seed({ spotsTotal: 1 }, { startSec: now + 72 * hour, spotsTotal: 1 });
    const bookingId = await book(from);
    await book(full, "grace");
    const before = await world.store.read.bookings.get(bookingId);

    const response = await moveTo(bookingId, full.startSec);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await world.store.read.bookings.get(bookingId)).toEqual(before);
    expect([await open(from), await open(full)]).toEqual([0, 0]);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when no slot starts at the new start, then it is SLOT_UNAVAILABLE", async () => {
    const [from] = await seed({});
    const bookingId = await book(from);

    const response = await moveTo(bookingId, from.startSec + 1800n);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect((await world.store.read.bookings.get(bookingId))?.booking.slot?.startSec).toBe(from.startSec);
  });

  test("when the booking is asynchronous, then a move is refused (SLOT_UNAVAILABLE) and nothing changes", async () => {
    const [from, to] = await seed({ confirmationMode: ConfirmationMode.ASYNCHRONOUS }, { startSec: now + 72 * hour });
    const bookingId = await book(from);
    const before = await world.store.read.bookings.get(bookingId);

    const response = await moveTo(bookingId, to.startSec);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(response.bookingFailure?.description).toMatch(/asynchronous/);
    expect(await world.store.read.bookings.get(bookingId)).toEqual(before);
    expect([await open(from), await open(to)]).toEqual([0, 1]);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the new slot confirms asynchronously, then a move onto it is refused", async () => {
    const [from, to] = await seed({}, { startSec: now + 72 * hour, confirmationMode: ConfirmationMode.ASYNCHRONOUS });
    const bookingId = await book(from);

    const response = await moveTo(bookingId, to.startSec);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect([await open(from), await open(to)]).toEqual([0, 1]);
  });

  test("when the user already holds a booking at the new start, then it is OVERLAPPING_RESERVATION and both bookings stay as they were", async () => {
    const [from, to] = await seed({ spotsTotal: 2 }, { startSec: now + 72 * hour, spotsTotal: 2 });
    const bookingId = await book(from);
    await book(to);
    const before = await world.store.read.bookings.get(bookingId);

    const response = await moveTo(bookingId, to.startSec);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.OVERLAPPING_RESERVATION);
    expect(await world.store.read.bookings.get(bookingId)).toEqual(before);
    expect([await open(from), await open(to)]).toEqual([1, 1]);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the move asks for the slot the booking is in, then it answers the booking unchanged", async () => {
    const [slot] = await seed({ spotsTotal: 2 });
    const bookingId = await book(slot);
    const before = await world.store.read.bookings.get(bookingId);

    const response = await moveTo(bookingId, slot.startSec);

    expect(response.booking).toEqual(before!.booking);
    expect(await open(slot)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the booking was canceled, then it cannot move (BOOKING_NOT_CANCELLABLE)", async () => {
    const [from, to] = await seed({}, { startSec: now + 72 * hour });
    const bookingId = await book(from);
    await cancel(bookingId);

    const response = await moveTo(bookingId, to.startSec);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.BOOKING_NOT_CANCELLABLE);
    expect(await open(to)).toBe(1);
  });

  test("when the booking has started, then it cannot move", async () => {
    const [from, to] = await seed({ startSec: now + hour }, { startSec: now + 72 * hour });
    const bookingId = await book(from);
    world.clock.advance(hour);

    const response = await moveTo(bookingId, to.startSec);

    expect(response.bookingFailure?.cause).toBe(BookingFailure_Cause.SLOT_UNAVAILABLE);
    expect(await open(to)).toBe(1);
  });
});

describe("a malformed request", () => {
  test("when a status other than CANCELED is asked for, then it is an invalid argument and nothing changes", async () => {
    const [slot] = await seed({});
    const bookingId = await book(slot);

    await expect(update({ bookingId, status: BookingStatus.CONFIRMED })).rejects.toMatchObject({ name: "InvalidArgumentError", field: "booking.status" });
    expect(await open(slot)).toBe(0);
  });

  test("when nothing to change is given, then it is an invalid argument", async () => {
    const [slot] = await seed({});
    const bookingId = await book(slot);

    await expect(update({ bookingId })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test("when the booking or its id is missing, then it is an invalid argument", async () => {
    await expect(updateBooking(world.ctx, create(UpdateBookingRequestSchema, {}))).rejects.toMatchObject({ field: "booking" });
    await expect(update({ status: BookingStatus.CANCELED })).rejects.toMatchObject({ field: "booking.booking_id" });
  });
});

function slotKey(slot: Slot) {
  return {
    merchantId: slot.merchantId,
    serviceId: slot.serviceId,
    startSec: Number(slot.startSec),
    durationSec: Number(slot.durationSec),
    staffId: "",
    roomId: "",
    partySize: 0,
  };
}
