import {
  BookingFailure_Cause,
  BookingStatus,
  UpdateBookingResponseSchema,
} from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { verify, need, passed, type ConformanceTest } from "../check.js";
import { describeSlot } from "../feed-slots.js";
import {
  bookingOf,
  bookingStatus,
  callV3,
  cancelBooking,
  createBooking,
  createBookingJson,
  describeFailure,
  isAvailable,
  listBookings,
  listedBookingIds,
  slotDifferences,
  statusName,
} from "../v3-calls.js";
import { needSlot } from "./slot-needs.js";

/**
 * `rescheduling`: UpdateBooking (spec §3.2) with only `booking_id` and the new
 * `slot.start_sec` / `duration_sec` moves the booking, and availability
 * follows; malformed updates are 4xx and change nothing; with `status:
 * CANCELED` it cancels it, the spot comes back, and ListBookings no longer
 * lists it; cancelling again changes nothing.
 */
export const reschedulingTest: ConformanceTest = {
  name: "rescheduling",
  summary: "UpdateBooking moves a booking to another start (availability follows), refuses malformed updates, cancels; a second cancel is harmless",
  async run(test) {
    const pair = test.slots.takeMovePair();
    const moved = await test.check("move", async (scope) => {
      const [from, to] = needSlot(pair, "pair of synchronous slots of one service and resources, each with an open spot");
      const userId = scope.newId("user");
      const booking = bookingOf(await createBooking(scope, createBookingJson(from, userId, scope.newId("token"))), "CreateBooking");
      const request = { booking: { booking_id: booking.bookingId, slot: { start_sec: String(to.startSec), duration_sec: String(to.durationSec) } } };
      const updated = bookingOf(await callV3(scope, "UpdateBooking", request, UpdateBookingResponseSchema), "UpdateBooking to a new start");
      verify(updated.bookingId === booking.bookingId, `the move answered booking ${updated.bookingId}, not ${booking.bookingId}`);
      const differences = slotDifferences(updated.slot, to);
      verify(differences.length === 0, `the moved booking's slot has ${differences.join(", ")}`);
      verify(updated.status === BookingStatus.CONFIRMED, `the moved booking is ${statusName(updated.status)}, expected CONFIRMED`);
      const { bookings } = await listBookings(scope, userId);
      const listed = bookings.find((candidate) => candidate.bookingId === booking.bookingId);
      verify(listed?.slot?.startSec === BigInt(to.startSec), `ListBookings ${listed ? `answers the booking at start_sec ${listed.slot?.startSec}` : "does not list the booking"} after the move to ${to.startSec}`);
      return passed(`booking ${booking.bookingId} moved to ${describeSlot(to)}`, { bookingId: booking.bookingId, userId, from, to });
    });

    await test.check("availability-after-move", async (scope) => {
      const { from, to } = need(moved, "rescheduling.move");
      verify(await isAvailable(scope, from), `after the move, ${describeSlot(from)} is still not available: its spot was not given back`);
      if (to.spotsOpen === 1) {
        verify(!(await isAvailable(scope, to)), `the move took the only open spot of ${describeSlot(to)}, yet BatchAvailabilityLookup says it is available`);
      }
      return passed(to.spotsOpen === 1 ? "the old slot is available again, the new one full" : "the old slot is available again");
    });

    await test.check("malformed-update", async (scope) => {
      const { bookingId, userId, to } = need(moved, "rescheduling.move");
      const requests: Array<[what: string, booking: Record<string, unknown>]> = [
        ["a status that is not a BookingStatus name", { booking_id: bookingId, status: "CANCELLED" }],
        ["slot.start_sec that is not an integer", { booking_id: bookingId, slot: { start_sec: "later" } }],
      ];
      const problems: string[] = [];
      for (const [what, booking] of requests) {
        const answer = await scope.client.post("UpdateBooking", { booking });
        if (answer.status < 400 || answer.status > 499) problems.push(`${what}: HTTP ${answer.status}, expected 4xx`);
      }
      const status = await bookingStatus(scope, bookingId);
      if (status.bookingStatus !== BookingStatus.CONFIRMED) problems.push(`afterwards GetBookingStatus answers ${statusName(status.bookingStatus)}, not CONFIRMED`);
      const { bookings } = await listBookings(scope, userId);
      const listed = bookings.find((candidate) => candidate.bookingId === bookingId);
      if (listed?.slot?.startSec !== BigInt(to.startSec)) problems.push("afterwards ListBookings no longer answers the booking at its start");
      verify(problems.length === 0, problems.join("; "));
      return passed(`${requests.length} malformed UpdateBooking requests answered 4xx; the booking unchanged`);
    });

    const cancelled = await test.check("cancel", async (scope) => {
      const { bookingId, userId, to } = need(moved, "rescheduling.move");
      const updated = bookingOf(await cancelBooking(scope, bookingId), "UpdateBooking to CANCELED");
      verify(updated.status === BookingStatus.CANCELED, `UpdateBooking to CANCELED answered the booking ${statusName(updated.status)}`);
      const status = await bookingStatus(scope, bookingId);
      verify(status.bookingStatus === BookingStatus.CANCELED, `after the cancel, GetBookingStatus answers ${statusName(status.bookingStatus)}`);
      const listed = await listedBookingIds(scope, userId);
      verify(!listed.includes(bookingId), `ListBookings still lists the cancelled booking ${bookingId} (it lists upcoming bookings that stand)`);
      verify(await isAvailable(scope, to), `after the cancel, ${describeSlot(to)} is not available: its spot was not given back`);
      return passed("CANCELED; GetBookingStatus agrees, ListBookings no longer lists it, the spot is open again", bookingId);
    });

    await test.check("cancel-again", async (scope) => {
      const bookingId = need(cancelled, "rescheduling.cancel");
      const response = await cancelBooking(scope, bookingId);
      if (response.bookingFailure) {
        verify(
          response.bookingFailure.cause === BookingFailure_Cause.BOOKING_ALREADY_CANCELLED,
          `cancelling a cancelled booking answered ${describeFailure(response.bookingFailure)}, expected the booking CANCELED or BOOKING_ALREADY_CANCELLED`,
        );
        return passed("HTTP 200 with booking_failure BOOKING_ALREADY_CANCELLED");
      }
      verify(response.booking?.status === BookingStatus.CANCELED, `cancelling a cancelled booking answered it ${statusName(response.booking?.status ?? 0)}`);
      return passed("HTTP 200 with the booking still CANCELED");
    });
  },
};
