/**
 * The auto-decline as a use case: `declineOverdueRequests(ctx)` in process on
 * a real SQLite store, through the storage contract. A request the merchant
 * has not answered by its `decideBySec` (decideWithinSec after it was made,
 * or its slot's start if that comes first) is declined as the merchant's own
 * decline would: the spot comes back and Google is sent the PATCH. Before
 * its deadline, or once answered, it is left alone.
 */
import { create } from "@bufbuild/protobuf";
import { BookingStatus, ConfirmationMode, type Slot } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { ConfirmBookingRequestSchema } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { applyDecisionWindow, declineOverdueRequests } from "../../src/booking/auto-decline";
import { createBooking } from "../../src/booking/create-booking";
import { confirmBooking } from "../../src/booking/merchant-decisions";
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
const decideWithinSec = 3 * hour;

let world: BookingWorld;
let createdAt: number;
beforeEach(() => {
  world = openBookingWorld({ decideWithinSec });
  createdAt = world.clock.nowSec();
});
afterEach(async () => {
  // declineOverdueRequests settles refunds after it answers (not awaited): let that end before the store closes.
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(world.jobFailures).toEqual([]);
  await world.close();
});

/** Seeds a slot starting `startInSec` from now and books it for `userId`; what was queued so far is taken. */
async function request(
  startInSec: number,
  userId = "ada",
  confirmationMode = ConfirmationMode.ASYNCHRONOUS,
): Promise<{ slot: Slot; bookingId: string }> {
  const seed = { merchantId, serviceId, startSec: createdAt + startInSec, confirmationMode };
  await seedSlots(world.store, [seed]);
  const slot = slotOf(seed);
  const response = await createBooking(world.ctx, bookingRequest(slot, userOf(userId), `token-of-${userId}`));
  expect(response.booking).toBeDefined();
  await takeQueuedNotifications(world.store, world.clock.nowSec());
  return { slot, bookingId: response.booking!.bookingId };
}

const status = async (bookingId: string) => (await world.store.read.bookings.get(bookingId))?.booking.status;
const open = (slot: Slot) => spotsOpen(world.store, merchantId, serviceId, Number(slot.startSec));

test("when decideWithinSec has passed without an answer, then the request is declined, its spot comes back and Google is sent the PATCH; not a second before", async () => {
  const { slot, bookingId } = await request(48 * hour);
  expect((await world.store.read.bookings.get(bookingId))?.decideBySec).toBe(createdAt + decideWithinSec);

  world.clock.advance(decideWithinSec - 1);
  expect(await declineOverdueRequests(world.ctx)).toEqual([]);
  expect(await status(bookingId)).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
  expect(await open(slot)).toBe(0);
  expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toEqual([]);

  world.clock.advance(1);
  expect(await declineOverdueRequests(world.ctx)).toEqual([bookingId]);

  expect(await world.store.read.bookings.get(bookingId)).toMatchObject({
    holdsSpot: false,
    decideBySec: 0,
    booking: { status: BookingStatus.DECLINED_BY_MERCHANT },
  });
  expect(await open(slot)).toBe(1);
  expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toEqual([
    expect.objectContaining({ kind: "booking_patch", queueKey: bookingId, updateMask: "status", payload: expect.objectContaining({ status: "DECLINED_BY_MERCHANT" }) }),
    expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
  ]);
  // Declined once: a later run finds nothing more to do.
  world.clock.advance(hour);
  expect(await declineOverdueRequests(world.ctx)).toEqual([]);
  expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toEqual([]);
});

test("when the slot starts before decideWithinSec has passed, then the request is declined at the start", async () => {
  const { bookingId } = await request(hour);
  expect((await world.store.read.bookings.get(bookingId))?.decideBySec).toBe(createdAt + hour);

  world.clock.advance(hour - 1);
  expect(await declineOverdueRequests(world.ctx)).toEqual([]);
  world.clock.advance(1);
  expect(await declineOverdueRequests(world.ctx)).toEqual([bookingId]);
  expect(await status(bookingId)).toBe(BookingStatus.DECLINED_BY_MERCHANT);
});

test("when the merchant answered in time, then the request is not declined at its deadline", async () => {
  const { slot, bookingId } = await request(48 * hour);
  await confirmBooking(world.ctx, { kind: "merchant", merchantId }, create(ConfirmBookingRequestSchema, { bookingId }));
  await takeQueuedNotifications(world.store, world.clock.nowSec());

  world.clock.advance(decideWithinSec);
  expect(await declineOverdueRequests(world.ctx)).toEqual([]);
  expect(await status(bookingId)).toBe(BookingStatus.CONFIRMED);
  expect(await open(slot)).toBe(0);
  expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toEqual([]);
});

test("when several requests are pending, then only those past their deadline are declined, oldest first", async () => {
  const first = await request(48 * hour, "ada");
  world.clock.advance(hour);
  const second = await request(49 * hour, "grace");
  world.clock.advance(hour);
  const third = await request(50 * hour, "hedy");
  const confirmedAtOnce = await request(51 * hour, "joan", ConfirmationMode.SYNCHRONOUS);
  expect((await world.store.read.bookings.get(confirmedAtOnce.bookingId))?.decideBySec).toBe(0);

  // The second's deadline has just passed, the third's not yet.
  world.clock.advance(decideWithinSec - hour);
  expect(await declineOverdueRequests(world.ctx)).toEqual([first.bookingId, second.bookingId]);

  expect(await status(first.bookingId)).toBe(BookingStatus.DECLINED_BY_MERCHANT);
  expect(await status(second.bookingId)).toBe(BookingStatus.DECLINED_BY_MERCHANT);
  expect(await status(third.bookingId)).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
  expect(await status(confirmedAtOnce.bookingId)).toBe(BookingStatus.CONFIRMED);
  const patched = (await takeQueuedNotifications(world.store, world.clock.nowSec())).filter((entry) => entry.kind === "booking_patch");
  expect(patched.map((entry) => entry.queueKey)).toEqual([first.bookingId, second.bookingId]);

  world.clock.advance(hour);
  expect(await declineOverdueRequests(world.ctx)).toEqual([third.bookingId]);
  expect(await status(confirmedAtOnce.bookingId)).toBe(BookingStatus.CONFIRMED);
});

test("when the server was down past a deadline, then the first run after catches up", async () => {
  const { bookingId } = await request(48 * hour);

  world.clock.advance(30 * hour);
  expect(await declineOverdueRequests(world.ctx)).toEqual([bookingId]);
  expect(await status(bookingId)).toBe(BookingStatus.DECLINED_BY_MERCHANT);
});

test("when the decision window changes, then applying it moves each waiting request to the new window once: applied again, it moves none", async () => {
  const { bookingId } = await request(48 * hour);
  const answered = await request(49 * hour, "grace");
  await confirmBooking(world.ctx, { kind: "merchant", merchantId }, create(ConfirmBookingRequestSchema, { bookingId: answered.bookingId }));
  const shorterWindow = { ...world.ctx, decideWithinSec: hour };

  expect(await applyDecisionWindow(shorterWindow)).toBe(1);
  expect((await world.store.read.bookings.get(bookingId))?.decideBySec).toBe(createdAt + hour);
  expect((await world.store.read.bookings.get(answered.bookingId))?.decideBySec).toBe(0);
  // A second instance with the same window, or a restart: nothing left to move, nothing written.
  expect(await applyDecisionWindow(shorterWindow)).toBe(0);

  world.clock.advance(hour);
  expect(await declineOverdueRequests(world.ctx)).toEqual([bookingId]);
});
