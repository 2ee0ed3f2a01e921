import { UpdateBookingResponseSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import {
  at,
  book,
  bookingStatus,
  countAvailable,
  expectBookingFailure,
  expectInvalidArgument,
  keysOutsideProto,
  newUser,
  seedMerchant,
  type Json,
} from "../support/rest-helpers";
import { rest, startTestServer, type TestServer } from "../support/test-server";

const ASYNCHRONOUS = 2;

describe("UpdateBooking", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const update = (booking: Json) => rest(server, "UpdateBooking", { booking });
  const startsListed = async (userId: string) =>
    ((await rest(server, "ListBookings", { user_id: userId })).body.bookings ?? []).map((b: Json) => b.slot.start_sec);

  describe("cancel", () => {
    test("when a confirmed booking is canceled, then it is CANCELED and its spot is open again", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const booking = await book(server, slots[0]);
      expect(await countAvailable(server, slots[0])).toBe(1);

      const response = await update({ booking_id: booking.booking_id, status: "CANCELED" });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ booking: { ...booking, status: "CANCELED" } });
      expect(keysOutsideProto(UpdateBookingResponseSchema, response.body)).toEqual([]);
      expect(await countAvailable(server, slots[0])).toBe(2);
      expect(await bookingStatus(server, booking.booking_id)).toBe("CANCELED");
    });

    test("when the status is given as its number (3), then it cancels too", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const booking = await book(server, slots[0]);
      expect((await update({ booking_id: booking.booking_id, status: 3 })).body.booking.status).toBe("CANCELED");
      expect(await countAvailable(server, slots[0])).toBe(1);
    });

    test("when a canceled booking is canceled again, then BOOKING_ALREADY_CANCELLED and the spot is not released twice", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }]);
      const booking = await book(server, slots[0]);
      await book(server, slots[0]);
      await update({ booking_id: booking.booking_id, status: "CANCELED" });
      expect(await countAvailable(server, slots[0])).toBe(1);

      expectBookingFailure(await update({ booking_id: booking.booking_id, status: "CANCELED" }), "BOOKING_ALREADY_CANCELLED");
      expect(await countAvailable(server, slots[0])).toBe(1);
    });

    test("when an asynchronous booking is canceled, then it is CANCELED", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), confirmationMode: ASYNCHRONOUS }]);
      const booking = await book(server, slots[0]);
      expect(booking.status).toBe("PENDING_MERCHANT_CONFIRMATION");
      expect((await update({ booking_id: booking.booking_id, status: "CANCELED" })).body.booking.status).toBe("CANCELED");
      expect(await countAvailable(server, slots[0])).toBe(1);
    });
  });

  describe("reschedule", () => {
    test("when a new start_sec of a seeded slot is asked, then booking.slot moves there and the spot moves with it", async () => {
      const { slots } = await seedMerchant(server, [
        { startSec: at(1), spotsTotal: 2 },
        { startSec: at(3), spotsTotal: 2 },
      ]);
      const user = newUser();
      const booking = await book(server, slots[0], user);

      const response = await update({
        booking_id: booking.booking_id,
        slot: { start_sec: String(at(3)), duration_sec: "3600" },
      });
      expect(response.status).toBe(200);
      expect(response.body.booking).toEqual({ ...booking, slot: { ...booking.slot, start_sec: String(at(3)) } });
      expect(await countAvailable(server, slots[0])).toBe(2);
      expect(await countAvailable(server, slots[1])).toBe(1);
      expect(await startsListed(user.user_id)).toEqual([String(at(3))]);
      expect(await bookingStatus(server, booking.booking_id)).toBe("CONFIRMED");
    });

    test("when the same reschedule is applied twice, then the second answers the same booking and takes nothing more", async () => {
      const { slots } = await seedMerchant(server, [
        { startSec: at(1), spotsTotal: 2 },
        { startSec: at(3), spotsTotal: 2 },
      ]);
      const booking = await book(server, slots[0]);
      const change = { booking_id: booking.booking_id, slot: { start_sec: String(at(3)) } };
      const first = await update(change);
      const second = await update(change);
      expect(second.body).toEqual(first.body);
      expect(await countAvailable(server, slots[0])).toBe(2);
      expect(await countAvailable(server, slots[1])).toBe(1);
    });

    test.each([
      ["full", [{ startSec: at(3), spotsTotal: 1, spotsOpen: 0 }]],
      ["not in inventory", []],
    ])("when the new slot is %s, then SLOT_UNAVAILABLE and nothing changes", async (_, others) => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), spotsTotal: 2 }, ...others]);
      const user = newUser();
      const booking = await book(server, slots[0], user);

      const response = await update({ booking_id: booking.booking_id, slot: { start_sec: String(at(3)) } });
      expectBookingFailure(response, "SLOT_UNAVAILABLE");
      expect(await countAvailable(server, slots[0])).toBe(1);
      if (slots[1]) expect(await countAvailable(server, slots[1])).toBe(0);
      expect(await startsListed(user.user_id)).toEqual([String(at(1))]);
      expect(await bookingStatus(server, booking.booking_id)).toBe("CONFIRMED");
    });

    test("when a new party size is asked, then the booking moves to the slot of that party size", async () => {
      const { slots } = await seedMerchant(server, [
        { startSec: at(1), partySize: 2 },
        { startSec: at(1), partySize: 4 },
      ]);
      const booking = await book(server, slots[0]);
      expect(booking.slot.resources).toEqual({ party_size: 2 });

      const response = await update({ booking_id: booking.booking_id, slot: { resources: { party_size: 4 } } });
      expect(response.status).toBe(200);
      expect(response.body.booking.slot).toEqual({ ...booking.slot, resources: { party_size: 4 } });
      expect(await countAvailable(server, slots[0])).toBe(1);
      expect(await countAvailable(server, slots[1])).toBe(0);
    });

    test("when a party size without a slot is asked, then SLOT_UNAVAILABLE and the booking stays", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), partySize: 2 }]);
      const booking = await book(server, slots[0]);
      const response = await update({ booking_id: booking.booking_id, slot: { resources: { party_size: 8 } } });
      expectBookingFailure(response, "SLOT_UNAVAILABLE");
      expect(await countAvailable(server, slots[0])).toBe(0);
    });

    test("when an asynchronous booking is rescheduled, then booking_failure and nothing moves", async () => {
      const { slots } = await seedMerchant(server, [
        { startSec: at(1), confirmationMode: ASYNCHRONOUS },
        { startSec: at(3), confirmationMode: ASYNCHRONOUS },
      ]);
      const booking = await book(server, slots[0]);
      const response = await update({ booking_id: booking.booking_id, slot: { start_sec: String(at(3)) } });
      expect(response.status).toBe(200);
      expect(Object.keys(response.body)).toEqual(["booking_failure"]);
      expect(await countAvailable(server, slots[0])).toBe(0);
      expect(await countAvailable(server, slots[1])).toBe(1);
      expect(await bookingStatus(server, booking.booking_id)).toBe("PENDING_MERCHANT_CONFIRMATION");
    });

    test("when a canceled booking is rescheduled, then booking_failure and no spot is taken", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }, { startSec: at(3) }]);
      const booking = await book(server, slots[0]);
      await update({ booking_id: booking.booking_id, status: "CANCELED" });
      const response = await update({ booking_id: booking.booking_id, slot: { start_sec: String(at(3)) } });
      expect(response.status).toBe(200);
      expect(Object.keys(response.body)).toEqual(["booking_failure"]);
      expect(await countAvailable(server, slots[1])).toBe(1);
    });
  });

  describe("request errors", () => {
    test("when the booking_id is unknown, then 404 not_found", async () => {
      for (const booking of [
        { booking_id: "no-such-booking", status: "CANCELED" },
        { booking_id: "no-such-booking", slot: { start_sec: String(at(2)) } },
      ]) {
        const response = await update(booking);
        expect(response.status).toBe(404);
        expect(response.body).toEqual({ code: "not_found", message: expect.stringContaining("no-such-booking") });
      }
    });

    test("when booking_id is missing, then 400 naming booking.booking_id", async () => {
      expectInvalidArgument(await update({ status: "CANCELED" }), "booking.booking_id");
    });

    test("when booking is missing, then 400 naming booking", async () => {
      expectInvalidArgument(await rest(server, "UpdateBooking", {}), "booking");
    });

    test("when status CONFIRMED is requested, then 400 naming booking.status and nothing changes", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1), confirmationMode: ASYNCHRONOUS }]);
      const booking = await book(server, slots[0]);
      expectInvalidArgument(await update({ booking_id: booking.booking_id, status: "CONFIRMED" }), "booking.status");
      expect(await bookingStatus(server, booking.booking_id)).toBe("PENDING_MERCHANT_CONFIRMATION");
    });

    test("when nothing to update is given, then 400", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const booking = await book(server, slots[0]);
      expectInvalidArgument(await update({ booking_id: booking.booking_id }), /^booking: nothing to update/);
      expect(await countAvailable(server, slots[0])).toBe(0);
    });

    test("when the new start_sec is malformed, then 400 naming booking.slot.start_sec", async () => {
      const { slots } = await seedMerchant(server, [{ startSec: at(1) }]);
      const booking = await book(server, slots[0]);
      expectInvalidArgument(
        await update({ booking_id: booking.booking_id, slot: { start_sec: "soon" } }),
        "booking.slot.start_sec",
      );
      expectInvalidArgument(
        await update({ booking_id: booking.booking_id, slot: { start_sec: "-60" } }),
        "booking.slot.start_sec",
      );
    });
  });
});
