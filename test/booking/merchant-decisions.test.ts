/**
 * The merchant's decisions as use cases: confirm, decline, fail and cancel
 * (and the list the merchant decides from), in process on a real SQLite
 * store through the storage contract. Each decision is one transition: the
 * status, the spot and the PATCH that tells Google commit together; a
 * decision the merchant may not make, or not now, writes nothing.
 */
import { create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingStatus,
  ConfirmationMode,
  UpdateBookingRequestSchema,
  type Slot,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  CancelBookingRequestSchema,
  ConfirmBookingRequestSchema,
  DeclineBookingRequestSchema,
  FailBookingRequestSchema,
  ListBookingsRequestSchema,
} from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { createBooking } from "../../src/booking/create-booking";
import { updateBooking } from "../../src/booking/update-booking";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../../src/booking/errors";
import {
  cancelBooking,
  confirmBooking,
  declineBooking,
  failBooking,
  listMerchantBookings,
  type MerchantCaller,
} from "../../src/booking/merchant-decisions";
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
const salon: MerchantCaller = { kind: "merchant", merchantId };
const otherMerchant: MerchantCaller = { kind: "merchant", merchantId: "barber" };
const admin: MerchantCaller = { kind: "admin" };

let world: BookingWorld;
let now: number;
beforeEach(() => {
  world = openBookingWorld();
  now = world.clock.nowSec();
});
afterEach(async () => {
  await world.close();
});

/** Seeds a slot of the salon (2 spots, two days ahead) and books one spot; what was queued so far is taken. */
async function booked(confirmationMode: ConfirmationMode, startInSec = 48 * hour): Promise<{ slot: Slot; bookingId: string }> {
  const seed = { merchantId, serviceId, startSec: now + startInSec, spotsTotal: 2, confirmationMode };
  await seedSlots(world.store, [seed]);
  const slot = slotOf(seed);
  const response = await createBooking(world.ctx, bookingRequest(slot, userOf("ada"), "token-1"));
  expect(response.booking).toBeDefined();
  await takeQueuedNotifications(world.store, now);
  return { slot, bookingId: response.booking!.bookingId };
}
const pendingRequest = () => booked(ConfirmationMode.ASYNCHRONOUS);
const confirmedBooking = () => booked(ConfirmationMode.SYNCHRONOUS);

const open = (slot: Slot) => spotsOpen(world.store, merchantId, serviceId, Number(slot.startSec));

/** The PATCH of one booking, as `takeQueuedNotifications` gives it. */
function statusPatch(bookingId: string, status: string) {
  return expect.objectContaining({ kind: "booking_patch", queueKey: bookingId, updateMask: "status", payload: expect.objectContaining({ merchantId, serviceId, status }) });
}

describe("confirm", () => {
  test("when the merchant confirms a pending request, then it is CONFIRMED, keeps its spot, its deadline goes, and Google is sent the PATCH", async () => {
    const { slot, bookingId } = await pendingRequest();

    const response = await confirmBooking(world.ctx, salon, create(ConfirmBookingRequestSchema, { bookingId }));

    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.CONFIRMED });
    const stored = (await world.store.read.bookings.get(bookingId))!;
    expect(stored).toMatchObject({ holdsSpot: true, decideBySec: 0 });
    expect(stored.booking).toEqual(response.booking);
    expect(await open(slot)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([statusPatch(bookingId, "CONFIRMED")]);
    expect(world.wakeUps()).toBe(2);
  });

  test("when the booking is already confirmed, then it is a failed precondition and nothing is written", async () => {
    const { bookingId } = await confirmedBooking();
    const before = await world.store.read.bookings.get(bookingId);

    await expect(confirmBooking(world.ctx, salon, create(ConfirmBookingRequestSchema, { bookingId }))).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(await world.store.read.bookings.get(bookingId)).toEqual(before);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });
});

describe("decline", () => {
  test("when the merchant declines a pending request, then it is DECLINED_BY_MERCHANT, the spot comes back, and Google gets the PATCH and the availability", async () => {
    const { slot, bookingId } = await pendingRequest();

    const response = await declineBooking(world.ctx, salon, create(DeclineBookingRequestSchema, { bookingId }));

    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.DECLINED_BY_MERCHANT });
    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: false, decideBySec: 0, booking: { status: BookingStatus.DECLINED_BY_MERCHANT } });
    expect(await open(slot)).toBe(2);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([
      statusPatch(bookingId, "DECLINED_BY_MERCHANT"),
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
    ]);
  });

  test("when the request was canceled by Google first, then the decline is a failed precondition and the spot is not given back twice", async () => {
    const { slot, bookingId } = await pendingRequest();
    await updateBooking(world.ctx, create(UpdateBookingRequestSchema, { booking: { bookingId, status: BookingStatus.CANCELED } }));
    await takeQueuedNotifications(world.store, now);
    expect(await open(slot)).toBe(2);

    await expect(declineBooking(world.ctx, salon, create(DeclineBookingRequestSchema, { bookingId }))).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(await open(slot)).toBe(2);
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.CANCELED);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the booking was confirmed at once, then it cannot be declined", async () => {
    const { bookingId } = await confirmedBooking();

    await expect(declineBooking(world.ctx, salon, create(DeclineBookingRequestSchema, { bookingId }))).rejects.toBeInstanceOf(FailedPreconditionError);
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.CONFIRMED);
  });
});

describe("fail", () => {
  test("when the merchant fails a pending request with a cause, then it is FAILED, the spot comes back, and the cause travels in the PATCH's query", async () => {
    const { slot, bookingId } = await pendingRequest();

    const response = await failBooking(
      world.ctx,
      salon,
      create(FailBookingRequestSchema, { bookingId, cause: BookingFailure_Cause.SLOT_UNAVAILABLE, description: "the stylist is ill" }),
    );

    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.FAILED });
    expect(response.bookingFailure).toMatchObject({ cause: BookingFailure_Cause.SLOT_UNAVAILABLE, description: "the stylist is ill" });
    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: false, booking: { status: BookingStatus.FAILED } });
    expect(await open(slot)).toBe(2);
    const [patch, availability] = await takeQueuedNotifications(world.store, now);
    expect(patch).toEqual(statusPatch(bookingId, "FAILED"));
    expect(patch.query).toEqual({ "bookingFailure.cause": "SLOT_UNAVAILABLE", "bookingFailure.description": "the stylist is ill" });
    expect(availability).toEqual(expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])));
  });

  test("when no cause is given, then it is an invalid argument and nothing is written", async () => {
    const { slot, bookingId } = await pendingRequest();

    await expect(failBooking(world.ctx, salon, create(FailBookingRequestSchema, { bookingId }))).rejects.toMatchObject({ name: "InvalidArgumentError", field: "cause" });
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
    expect(await open(slot)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });
});

describe("cancel", () => {
  test("when the merchant cancels a confirmed booking, then it is CANCELED, the spot comes back, and Google gets the PATCH and the availability", async () => {
    const { slot, bookingId } = await confirmedBooking();

    const response = await cancelBooking(world.ctx, salon, create(CancelBookingRequestSchema, { bookingId }));

    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.CANCELED });
    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: false, booking: { status: BookingStatus.CANCELED } });
    expect(await open(slot)).toBe(2);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([
      statusPatch(bookingId, "CANCELED"),
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
    ]);
  });

  test("when the merchant cancels a pending request, then it is CANCELED and its deadline goes", async () => {
    const { bookingId } = await pendingRequest();

    await cancelBooking(world.ctx, salon, create(CancelBookingRequestSchema, { bookingId }));

    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: false, decideBySec: 0, booking: { status: BookingStatus.CANCELED } });
  });

  test("when the booking has started, then it cannot be canceled", async () => {
    const { slot, bookingId } = await booked(ConfirmationMode.SYNCHRONOUS, hour);
    world.clock.advance(hour);

    await expect(cancelBooking(world.ctx, salon, create(CancelBookingRequestSchema, { bookingId }))).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(await world.store.read.bookings.get(bookingId)).toMatchObject({ holdsSpot: true, booking: { status: BookingStatus.CONFIRMED } });
    expect(await open(slot)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the booking is already canceled, then a second cancel is a failed precondition", async () => {
    const { slot, bookingId } = await confirmedBooking();
    await cancelBooking(world.ctx, salon, create(CancelBookingRequestSchema, { bookingId }));
    await takeQueuedNotifications(world.store, now);

    await expect(cancelBooking(world.ctx, salon, create(CancelBookingRequestSchema, { bookingId }))).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(await open(slot)).toBe(2);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });
});

describe("who may decide", () => {
  const decisions: Array<[string, (caller: MerchantCaller, bookingId: string) => Promise<unknown>]> = [
    ["confirm", (caller, bookingId) => confirmBooking(world.ctx, caller, create(ConfirmBookingRequestSchema, { bookingId }))],
    ["decline", (caller, bookingId) => declineBooking(world.ctx, caller, create(DeclineBookingRequestSchema, { bookingId }))],
    ["fail", (caller, bookingId) => failBooking(world.ctx, caller, create(FailBookingRequestSchema, { bookingId, cause: BookingFailure_Cause.SLOT_UNAVAILABLE }))],
    ["cancel", (caller, bookingId) => cancelBooking(world.ctx, caller, create(CancelBookingRequestSchema, { bookingId }))],
  ];

  test.each(decisions)("when another merchant tries to %s the booking, then permission is denied and nothing is written", async (_, decide) => {
    const { slot, bookingId } = await pendingRequest();
    const before = await world.store.read.bookings.get(bookingId);

    await expect(decide(otherMerchant, bookingId)).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(await world.store.read.bookings.get(bookingId)).toEqual(before);
    expect(await open(slot)).toBe(1);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test.each(decisions)("when the admin decides to %s the booking, then it may", async (_, decide) => {
    const { bookingId } = await pendingRequest();

    await expect(decide(admin, bookingId)).resolves.toBeDefined();
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).not.toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
  });

  test.each(decisions)("when the booking to %s does not exist, then it is not found", async (_, decide) => {
    await expect(decide(salon, "no-such-booking")).rejects.toBeInstanceOf(NotFoundError);
  });

  test("when the booking id is empty, then it is an invalid argument", async () => {
    await expect(confirmBooking(world.ctx, salon, create(ConfirmBookingRequestSchema, {}))).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("the merchant's list", () => {
  test("when the merchant lists its bookings, then a pending request shows its decision deadline and a decided one shows none", async () => {
    const { bookingId: pendingId } = await pendingRequest();
    const confirmedSeed = { merchantId, serviceId, startSec: now + 72 * hour };
    await seedSlots(world.store, [confirmedSeed]);
    const confirmed = await createBooking(world.ctx, bookingRequest(slotOf(confirmedSeed), userOf("grace"), "token-2"));

    const list = await listMerchantBookings(world.ctx, salon, create(ListBookingsRequestSchema, { merchantId }));

    expect(list.bookings.map((entry) => [entry.booking?.bookingId, entry.decisionDeadlineSec, entry.createdAtSec])).toEqual([
      [pendingId, BigInt(now + world.ctx.decideWithinSec), BigInt(now)],
      [confirmed.booking!.bookingId, 0n, BigInt(now)],
    ]);
    expect(list.nextPageToken).toBe("");
  });

  test("when another merchant asks for the salon's list, then permission is denied", async () => {
    await expect(listMerchantBookings(world.ctx, otherMerchant, create(ListBookingsRequestSchema, { merchantId }))).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });
});
