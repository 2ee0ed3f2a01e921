import { BookingFailure_Cause, type CreateBookingResponse } from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { CheckFailure, verify, passed, type ConformanceTest } from "../check.js";
import { describeSlot } from "../feed-slots.js";
import { bookingOf, createBooking, createBookingJson, describeFailure, isAvailable } from "../v3-calls.js";
import { needSlot } from "./slot-needs.js";

/** Requests beyond the slot's open spots in the burst: every one of them must be refused. */
const extraRequests = 4;
/** Copies of one request sent at once. */
const copies = 4;

/**
 * `burst`: Google sends CreateBookings for a popular slot at the same time, and
 * retries a request it got no answer for while the first attempt may still
 * run. A small parallel burst at one slot must book at most its open spots,
 * refusing the rest with SLOT_UNAVAILABLE (HTTP 200); parallel copies of one
 * request (one idempotency token) must make one booking.
 */
export const burstTest: ConformanceTest = {
  name: "burst",
  summary: "parallel CreateBookings at one slot never book more than its open spots; parallel copies of one request make one booking",
  async run(test) {
    const contested =
      test.slots.take({ mode: "synchronous", minOpen: 2, maxOpen: 8, fewest: true }) ??
      test.slots.take({ mode: "synchronous", minOpen: 1, maxOpen: 8, fewest: true });
    await test.check("no-overbooking", async (scope) => {
      const slot = needSlot(contested, "synchronous slot with 1 to 8 open spots");
      const requests = slot.spotsOpen + extraRequests;
      const responses = await allAnswers(
        Array.from({ length: requests }, () => createBooking(scope, createBookingJson(slot, scope.newId("user"), scope.newId("token")))),
      );
      const booked = responses.flatMap((response) => (response.booking ? [response.booking.bookingId] : []));
      verify(new Set(booked).size === booked.length, `parallel requests with different tokens answered the same booking: ${booked.join(", ")}`);
      verify(
        booked.length <= slot.spotsOpen,
        `overbooked: ${booked.length} of ${requests} parallel CreateBookings were booked on ${describeSlot(slot)}, which has ${slot.spotsOpen} open spot(s) in the feed`,
      );
      const refusals = responses.filter((response) => !response.booking);
      const wrong = refusals.find((response) => response.bookingFailure?.cause !== BookingFailure_Cause.SLOT_UNAVAILABLE);
      verify(!wrong, `a request the slot had no spot for answered ${describeFailure(wrong?.bookingFailure)}, expected SLOT_UNAVAILABLE`);
      verify(!(await isAvailable(scope, slot)), `after ${requests} parallel requests for ${slot.spotsOpen} spot(s), BatchAvailabilityLookup still answers available: true`);
      return passed(`${booked.length} of ${requests} parallel requests booked the ${slot.spotsOpen} open spot(s); ${refusals.length} answered SLOT_UNAVAILABLE`);
    });

    const retried = test.slots.take({ mode: "synchronous", minOpen: 1 });
    await test.check("same-token-in-parallel", async (scope) => {
      const slot = needSlot(retried, "synchronous slot with an open spot");
      const request = createBookingJson(slot, scope.newId("user"), scope.newId("token"));
      const responses = await allAnswers(Array.from({ length: copies }, () => createBooking(scope, request)));
      const ids = responses.map((response) => bookingOf(response, "one of the parallel copies").bookingId);
      const distinct = [...new Set(ids)];
      verify(distinct.length === 1, `${copies} parallel copies of one request (one idempotency_token) answered ${distinct.length} different bookings: ${distinct.join(", ")}`);
      return passed(`${copies} parallel copies of one request answered the same booking ${distinct[0]}`);
    });
  },
};

/** Every answer once all have come (no booking left unnoted for the cleanup), or the first failure. */
async function allAnswers(calls: Promise<CreateBookingResponse>[]): Promise<CreateBookingResponse[]> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
  if (failed) throw failed.reason instanceof Error ? failed.reason : new CheckFailure(String(failed.reason));
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<CreateBookingResponse>).value);
}
