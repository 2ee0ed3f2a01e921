import { verify, need, passed, type ConformanceTest } from "../check.js";
import {
  bookingOf,
  bookingStatus,
  createBooking,
  createBookingJson,
  listBookings,
  listedBookingIds,
  slotDifferences,
  statusName,
} from "../v3-calls.js";
import { needSlot } from "./slot-needs.js";

/**
 * `list-bookings`: ListBookings answers a user's upcoming bookings and
 * GetBookingStatus a booking's status (spec §3.3, §3.4); ids nobody made are
 * refused (404 in Google's skeleton) or, for a user, answered with no bookings.
 */
export const listBookingsTest: ConformanceTest = {
  name: "list-bookings",
  summary: "ListBookings lists a new booking for its user, GetBookingStatus answers its status, unknown ids are refused",
  async run(test) {
    const slot = test.slots.take({ mode: "synchronous", minOpen: 1 });
    const made = await test.check("lists-new-booking", async (scope) => {
      const booked = needSlot(slot, "synchronous slot with an open spot");
      const userId = scope.newId("user");
      const booking = bookingOf(await createBooking(scope, createBookingJson(booked, userId, scope.newId("token"))), "CreateBooking");
      const { bookings } = await listBookings(scope, userId);
      const ids = bookings.map((listed) => listed.bookingId);
      verify(ids.length === 1 && ids[0] === booking.bookingId, `ListBookings of the user answered ${ids.length ? ids.join(", ") : "no booking"}, expected only ${booking.bookingId}`);
      const [listed] = bookings;
      verify(listed.status === booking.status, `ListBookings answered the booking ${statusName(listed.status)}, CreateBooking ${statusName(booking.status)}`);
      const differences = slotDifferences(listed.slot, booked);
      verify(differences.length === 0, `ListBookings answered the booking's slot with ${differences.join(", ")}`);
      return passed(`lists booking ${booking.bookingId} ${statusName(listed.status)} on its slot`, booking);
    });

    await test.check("get-booking-status", async (scope) => {
      const booking = need(made, "list-bookings.lists-new-booking");
      const status = await bookingStatus(scope, booking.bookingId);
      verify(status.bookingId === booking.bookingId, `GetBookingStatus answered booking_id ${JSON.stringify(status.bookingId)}, asked for ${booking.bookingId}`);
      verify(status.bookingStatus === booking.status, `GetBookingStatus answered ${statusName(status.bookingStatus)}, the booking is ${statusName(booking.status)}`);
      return passed(`booking_status ${statusName(status.bookingStatus)} for ${booking.bookingId}`);
    });

    await test.check("unknown-booking", async (scope) => {
      const answer = await scope.client.post("GetBookingStatus", { booking_id: scope.newId("no-such-booking") });
      verify(
        answer.status === 404 || answer.status === 400,
        `GetBookingStatus of a booking id never made answered HTTP ${answer.status}, expected 404 (Google's skeleton) or 400`,
      );
      return passed(`HTTP ${answer.status}`);
    });

    await test.check("unknown-user", async (scope) => {
      const ids = await listedBookingIds(scope, scope.newId("unknown-user"));
      verify(ids.length === 0, `ListBookings of a user never seen answered ${ids.length} booking(s)`);
      return passed("no bookings (HTTP 404, or 200 with an empty list)");
    });
  },
};
