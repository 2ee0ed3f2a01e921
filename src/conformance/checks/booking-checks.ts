import { equals, toJson } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  BookingSchema,
  BookingStatus,
  type Booking,
} from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { CheckSkipped, verify, need, passed, type CheckScope, type ConformanceTest } from "../check.js";
import { describeSlot, type FeedSlot } from "../feed-slots.js";
import {
  bookingOf,
  createBooking,
  createBookingJson,
  describeFailure,
  isAvailable,
  listedBookingIds,
  noteBooking,
  slotDifferences,
  statusName,
  type Json,
} from "../v3-calls.js";
import { needSlot } from "./slot-needs.js";

/**
 * `booking`: CreateBooking as spec §3.1 has it. A synchronous slot is booked
 * CONFIRMED (an asynchronous one PENDING_MERCHANT_CONFIRMATION); the same
 * request again answers the same booking; another token never answers an old
 * booking; the same user on the same slot again is OVERLAPPING_RESERVATION; a
 * full slot is SLOT_UNAVAILABLE with HTTP 200, and BatchAvailabilityLookup
 * shows it full right away; malformed requests are 4xx and book nothing.
 */
export const bookingTest: ConformanceTest = {
  name: "booking",
  summary: "CreateBooking: confirmed and pending, idempotent replay, new tokens, OVERLAPPING_RESERVATION, SLOT_UNAVAILABLE with 200, malformed requests",
  async run(test) {
    const shared = test.slots.take({ mode: "synchronous", minOpen: 2 });
    const first = await test.check("create-confirmed", async (scope) => {
      const slot = needSlot(shared, "synchronous slot with 2 open spots");
      const request = createBookingJson(slot, scope.newId("user"), scope.newId("token"));
      const booking = bookingOf(await createBooking(scope, request), "CreateBooking of a synchronous slot");
      verify(booking.status === BookingStatus.CONFIRMED, `a synchronous slot was booked ${statusName(booking.status)}, expected CONFIRMED`);
      const differences = slotDifferences(booking.slot, slot);
      verify(differences.length === 0, `the booking's slot is not the slot booked: ${differences.join(", ")}`);
      return passed(`booking ${booking.bookingId} CONFIRMED on ${describeSlot(slot)}`, { request, booking, slot });
    });

    await test.check("idempotent-replay", async (scope) => {
      const { request, booking } = need(first, "booking.create-confirmed");
      const again = bookingOf(await createBooking(scope, request), "the same CreateBooking sent again");
      verify(again.bookingId === booking.bookingId, `the same request (same idempotency_token) answered booking ${again.bookingId}, not ${booking.bookingId}`);
      verify(equals(BookingSchema, again, booking), `the same request answered booking ${booking.bookingId} with other ${differingFields(again, booking)}`);
      return passed(`the same request answered the same booking ${booking.bookingId}`);
    });

    // Before another booking takes the slot's second spot: a refusal here can only be about the user.
    await test.check("overlapping-reservation", async (scope) => {
      const { request, booking } = need(first, "booking.create-confirmed");
      const response = await createBooking(scope, { ...request, idempotency_token: scope.newId("token") });
      const answered = response.booking?.bookingId;
      verify(answered !== booking.bookingId, `a new idempotency_token answered booking ${booking.bookingId}, made for another token`);
      verify(!response.booking, `the same user booking the same slot under a new token got a second booking ${answered}; expected booking_failure OVERLAPPING_RESERVATION`);
      const cause = response.bookingFailure?.cause;
      verify(
        cause === BookingFailure_Cause.OVERLAPPING_RESERVATION || cause === BookingFailure_Cause.SLOT_ALREADY_BOOKED_BY_USER,
        `the same user booking the same slot again answered ${describeFailure(response.bookingFailure)}, expected OVERLAPPING_RESERVATION`,
      );
      return passed(`HTTP 200 with booking_failure ${describeFailure(response.bookingFailure)}`);
    });

    await test.check("new-token-new-booking", async (scope) => {
      const { booking, slot } = need(first, "booking.create-confirmed");
      const response = await createBooking(scope, createBookingJson(slot, scope.newId("user"), scope.newId("token")));
      verify(response.booking?.bookingId !== booking.bookingId, `a new idempotency_token (another user) answered booking ${booking.bookingId}, made for another token`);
      const other = bookingOf(response, `CreateBooking of another user on a slot with a spot left (the feed lists ${slot.spotsOpen})`);
      return passed(`another user with a new token got a new booking ${other.bookingId}`);
    });

    const filling = test.slots.take({ mode: "synchronous", minOpen: 1, maxOpen: 4, fewest: true });
    const full = await test.check("lookup-after-booking", async (scope) => {
      const slot = needSlot(filling, "synchronous slot with 1 to 4 open spots");
      verify(await isAvailable(scope, slot), `before any booking, BatchAvailabilityLookup says ${describeSlot(slot)} is not available; the feed lists ${slot.spotsOpen} open spot(s)`);
      for (let spot = 1; spot <= slot.spotsOpen; spot++) {
        bookingOf(await createBooking(scope, newBooking(scope, slot)), `CreateBooking of spot ${spot} of ${slot.spotsOpen}`);
      }
      verify(
        !(await isAvailable(scope, slot)),
        `right after CreateBooking took the last of ${slot.spotsOpen} open spot(s) of ${describeSlot(slot)}, BatchAvailabilityLookup still answered available: true`,
      );
      return passed(`available: false right after the last of ${slot.spotsOpen} open spot(s) was booked`, slot);
    });

    await test.check("slot-unavailable-http-200", async (scope) => {
      const slot = need(full, "booking.lookup-after-booking");
      const response = await createBooking(scope, newBooking(scope, slot));
      verify(!response.booking, `a full slot was booked again: booking ${response.booking?.bookingId} (all ${slot.spotsOpen} spot(s) were booked by this run)`);
      verify(
        response.bookingFailure?.cause === BookingFailure_Cause.SLOT_UNAVAILABLE,
        `CreateBooking of a full slot answered ${describeFailure(response.bookingFailure)}, expected booking_failure SLOT_UNAVAILABLE`,
      );
      return passed("HTTP 200 with booking_failure SLOT_UNAVAILABLE and no booking");
    });

    const untouched = test.slots.take({ mode: "synchronous", minOpen: 1, fewest: true });
    await test.check("malformed-requests", async (scope) => {
      const slot = needSlot(untouched, "synchronous slot with an open spot");
      return malformedRequests(scope, slot);
    });

    const asynchronous = test.slots.take({ mode: "asynchronous", minOpen: 1 });
    await test.check("create-pending-async", async (scope) => {
      if (!asynchronous) throw new CheckSkipped("the feed lists no asynchronous slot (CONFIRMATION_MODE_ASYNCHRONOUS) with an open spot");
      const booking = bookingOf(await createBooking(scope, newBooking(scope, asynchronous)), "CreateBooking of an asynchronous slot");
      verify(
        booking.status === BookingStatus.PENDING_MERCHANT_CONFIRMATION,
        `an asynchronous slot was booked ${statusName(booking.status)}, expected PENDING_MERCHANT_CONFIRMATION`,
      );
      return passed(`booking ${booking.bookingId} PENDING_MERCHANT_CONFIRMATION on ${describeSlot(asynchronous)}`);
    });
  },
};

/** A booking request of a new user with a new token. */
function newBooking(scope: CheckScope, slot: FeedSlot): Json {
  return createBookingJson(slot, scope.newId("user"), scope.newId("token"));
}

/**
 * CreateBooking requests Google's own client would never send: each must be
 * answered 4xx, and none may change anything (availability the same before
 * and after, no booking for their user).
 */
async function malformedRequests(scope: CheckScope, slot: FeedSlot) {
  const userId = scope.newId("user");
  const valid = createBookingJson(slot, userId, scope.newId("token"));
  const without = (name: string): Json => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== name));
  const requests: Array<[what: string, body: Json | undefined, raw?: string]> = [
    ["a body that is not JSON", undefined, JSON.stringify(valid).slice(0, 48)],
    ["slot.start_sec that is not an integer", { ...valid, slot: { ...(valid.slot as Json), start_sec: "tomorrow" } }],
    ["an unknown enum name", { ...valid, payment_information: { prepayment_status: "PREPAYMENT_MAYBE" } }],
    ["no slot", without("slot")],
    ["no idempotency_token", without("idempotency_token")],
  ];
  const availableBefore = await isAvailable(scope, slot);
  const problems: string[] = [];
  for (const [what, body, raw] of requests) {
    const answer = await scope.client.post("CreateBooking", body, { raw });
    noteBooking(scope, answer);
    if (answer.status < 400 || answer.status > 499) problems.push(`${what}: HTTP ${answer.status}, expected 4xx`);
  }
  const availableAfter = await isAvailable(scope, slot);
  if (availableAfter !== availableBefore) {
    problems.push(`BatchAvailabilityLookup answered available: ${availableBefore} before them and ${availableAfter} after`);
  }
  const listed = await listedBookingIds(scope, userId);
  if (listed.length > 0) problems.push(`ListBookings lists ${listed.length} booking(s) for the user of the malformed requests`);
  verify(problems.length === 0, problems.join("; "));
  return passed(`${requests.length} malformed CreateBooking requests answered 4xx; availability unchanged, nothing booked`);
}

/** The top-level fields in which two bookings differ, for the reason of a failure. */
function differingFields(a: Booking, b: Booking): string {
  const left = toJson(BookingSchema, a, { useProtoFieldName: true }) as Record<string, unknown>;
  const right = toJson(BookingSchema, b, { useProtoFieldName: true }) as Record<string, unknown>;
  const names = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  return names.filter((name) => JSON.stringify(left[name]) !== JSON.stringify(right[name])).join(", ");
}
