/**
 * MarkNoShow as a use case: `markNoShow(ctx, caller, request)` in process on
 * a real SQLite store, through the storage contract. Only a confirmed
 * booking whose slot has started can be a no-show; without a no-show fee it
 * becomes NO_SHOW, and with one (the sandbox processor charging the card
 * kept at booking) NO_SHOW_PENALIZED. Google is sent the PATCH either way.
 */
import { create } from "@bufbuild/protobuf";
import { BookingStatus, ConfirmationMode, type Slot } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MarkNoShowRequestSchema } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { createBooking } from "../../src/booking/create-booking";
import { FailedPreconditionError, NotFoundError, PermissionDeniedError } from "../../src/booking/errors";
import type { MerchantCaller } from "../../src/booking/merchant-decisions";
import { markNoShow } from "../../src/booking/no-show";
import { PaymentDeclinedError, type ChargeStoredRequest } from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import {
  availabilityUpdate,
  bookingRequest,
  openBookingWorld,
  slotOf,
  takeQueuedNotifications,
  userOf,
  type BookingWorld,
  type BookingWorldOptions,
} from "../support/booking-fixtures";
import { hour, seedSlots } from "../support/test-server";

const merchantId = "salon";
const serviceId = "haircut";
const salon: MerchantCaller = { kind: "merchant", merchantId };

let world: BookingWorld;
let now: number;
function open(options: BookingWorldOptions = {}) {
  world = openBookingWorld(options);
  now = world.clock.nowSec();
}
afterEach(async () => {
  await world.close();
});

/** Seeds a slot of the salon starting in an hour and books it; what was queued so far is taken. */
async function booked(
  options: { confirmationMode?: ConfirmationMode; feedJson?: string; token?: string } = {},
): Promise<{ slot: Slot; bookingId: string }> {
  const seed = {
    merchantId,
    serviceId,
    startSec: now + hour,
    spotsTotal: 2,
    confirmationMode: options.confirmationMode ?? ConfirmationMode.SYNCHRONOUS,
    feedJson: options.feedJson ?? "{}",
  };
  await seedSlots(world.store, [seed]);
  const slot = slotOf(seed);
  const response = await createBooking(
    world.ctx,
    bookingRequest(slot, userOf("ada"), "token-1", options.token ? { paymentProcessingParameters: { unparsedPaymentMethodToken: options.token } } : {}),
  );
  expect(response.bookingFailure).toBeUndefined();
  await takeQueuedNotifications(world.store, now);
  return { slot, bookingId: response.booking!.bookingId };
}

const noShow = (bookingId: string, caller = salon) => markNoShow(world.ctx, caller, create(MarkNoShowRequestSchema, { bookingId }));

describe("without a no-show fee", () => {
  beforeEach(() => open());

  test("when the slot has started, then the confirmed booking becomes NO_SHOW, no fee is charged, and Google is sent the PATCH", async () => {
    const { slot, bookingId } = await booked();
    world.clock.advance(hour);

    const response = await noShow(bookingId);

    expect(response.booking).toMatchObject({ bookingId, status: BookingStatus.NO_SHOW });
    expect(response.feeFailure).toBe("");
    const stored = (await world.store.read.bookings.get(bookingId))!;
    expect(stored.booking).toEqual(response.booking);
    expect(stored.holdsSpot).toBe(false);
    expect(await world.store.read.payments.forBooking(bookingId)).toEqual([]);
    expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toEqual([
      expect.objectContaining({ kind: "booking_patch", queueKey: bookingId, updateMask: "status", payload: expect.objectContaining({ status: "NO_SHOW" }) }),
      // A no-show holds no spot: the started slot's availability is replaced too (it is not bookable any more either way).
      expect.objectContaining(availabilityUpdate(merchantId, serviceId, [Number(slot.startSec)])),
    ]);
  });

  test("when the slot has not started yet, then it is a failed precondition and nothing is written", async () => {
    const { bookingId } = await booked();
    world.clock.advance(hour - 1);
    const before = await world.store.read.bookings.get(bookingId);

    await expect(noShow(bookingId)).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(await world.store.read.bookings.get(bookingId)).toEqual(before);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the booking still awaits the merchant, then it cannot be a no-show", async () => {
    const { bookingId } = await booked({ confirmationMode: ConfirmationMode.ASYNCHRONOUS });
    world.clock.advance(hour);

    await expect(noShow(bookingId)).rejects.toBeInstanceOf(FailedPreconditionError);
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.PENDING_MERCHANT_CONFIRMATION);
  });

  test("when it is marked a no-show twice, then the second is a failed precondition", async () => {
    const { bookingId } = await booked();
    world.clock.advance(hour);
    await noShow(bookingId);
    await takeQueuedNotifications(world.store, world.clock.nowSec());

    await expect(noShow(bookingId)).rejects.toBeInstanceOf(FailedPreconditionError);
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.NO_SHOW);
    expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toEqual([]);
  });

  test("when another merchant marks it, then permission is denied and nothing is written", async () => {
    const { bookingId } = await booked();
    world.clock.advance(hour);

    await expect(noShow(bookingId, { kind: "merchant", merchantId: "barber" })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.CONFIRMED);
    expect(await takeQueuedNotifications(world.store, now)).toEqual([]);
  });

  test("when the booking does not exist, then it is not found", async () => {
    await expect(noShow("no-such-booking")).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("with a no-show fee (sandbox processor)", () => {
  /** The slot's availability feed record: a 25.00 USD no-show fee. */
  const noShowFee = JSON.stringify({ no_show_fee: { fee: { price_micros: "25000000", currency_code: "USD" }, fee_type: "FIXED_RATE_DEFAULT" } });

  test("when the guest does not come, then the fee is charged on the card kept at booking and the booking becomes NO_SHOW_PENALIZED", async () => {
    open({ payments: (store, clock) => new SandboxProcessor(store, clock) });
    const { bookingId } = await booked({ feedJson: noShowFee, token: '{"id":"tok_visa"}' });
    expect((await world.store.read.payments.forBooking(bookingId)).map((record) => [record.operation, record.state])).toEqual([["store_card", "done"]]);
    world.clock.advance(hour);

    const response = await noShow(bookingId);

    expect(response.booking?.status).toBe(BookingStatus.NO_SHOW_PENALIZED);
    expect(response.feeFailure).toBe("");
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.NO_SHOW_PENALIZED);
    const records = await world.store.read.payments.forBooking(bookingId);
    expect(records.map((record) => [record.operation, record.state, record.amountMicros, record.currency])).toEqual([
      ["store_card", "done", null, null],
      ["no_show_fee", "done", 25_000_000n, "USD"],
    ]);
    const ledger = await world.store.read.ledger.forBooking(bookingId);
    expect(ledger.map((entry) => [entry.operation, entry.amountMicros, entry.currency])).toEqual([
      ["store_card", null, null],
      ["charge_stored", 25_000_000n, "USD"],
    ]);
    expect(ledger[1].refersTo).toBe(ledger[0].transactionId);
    expect(await takeQueuedNotifications(world.store, world.clock.nowSec())).toContainEqual(
      expect.objectContaining({ kind: "booking_patch", queueKey: bookingId, payload: expect.objectContaining({ status: "NO_SHOW_PENALIZED" }) }),
    );
  });

  test("when the kept card refuses the fee, then the booking becomes NO_SHOW and the answer says why", async () => {
    class RefusingStoredCharges extends SandboxProcessor {
      override async chargeStored(_request: ChargeStoredRequest): Promise<never> {
        throw new PaymentDeclinedError("card_declined", "the card was declined");
      }
    }
    open({ payments: (store, clock) => new RefusingStoredCharges(store, clock) });
    const { bookingId } = await booked({ feedJson: noShowFee, token: '{"id":"tok_visa"}' });
    world.clock.advance(hour);

    const response = await noShow(bookingId);

    expect(response.booking?.status).toBe(BookingStatus.NO_SHOW);
    expect(response.feeFailure).toBe("the card was declined");
    expect((await world.store.read.bookings.get(bookingId))?.booking.status).toBe(BookingStatus.NO_SHOW);
    expect((await world.store.read.ledger.forBooking(bookingId)).map((entry) => entry.operation)).toEqual(["store_card"]);
  });

  test("when the slot has not started, then no fee is charged", async () => {
    open({ payments: (store, clock) => new SandboxProcessor(store, clock) });
    const { bookingId } = await booked({ feedJson: noShowFee, token: '{"id":"tok_visa"}' });

    await expect(noShow(bookingId)).rejects.toBeInstanceOf(FailedPreconditionError);
    expect((await world.store.read.ledger.forBooking(bookingId)).map((entry) => entry.operation)).toEqual(["store_card"]);
  });
});
