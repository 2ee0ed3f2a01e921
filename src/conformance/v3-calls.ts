import type { DescEnum, DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  BatchAvailabilityLookupResponseSchema,
  BookingFailure_Cause,
  BookingFailure_CauseSchema,
  BookingStatus,
  BookingStatusSchema,
  ConfirmationModeSchema,
  CreateBookingResponseSchema,
  GetBookingStatusResponseSchema,
  ListBookingsResponseSchema,
  UpdateBookingResponseSchema,
  type Booking,
  type BookingFailure,
  type CreateBookingResponse,
  type Slot,
  type SlotTimeAvailability,
  type UpdateBookingResponse,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { bookingIdIn } from "./booking-ledger.js";
import { CheckFailure, type CheckScope } from "./check.js";
import type { FeedSlot } from "./feed-slots.js";
import { decodeStrict } from "./response-shape.js";
import type { CallOptions, RestAnswer } from "./rest-client.js";

/**
 * Google's requests, written as Google writes them (snake_case names, int64
 * as strings, enums by name), and the calls the checks make with them: each
 * requires HTTP 200 and an answer in Google's shape.
 */

export type Json = Record<string, unknown>;

export function enumName(desc: DescEnum, value: number): string {
  return desc.values.find((candidate) => candidate.number === value)?.name ?? String(value);
}

function resourcesJson(slot: FeedSlot): Json | undefined {
  const resources: Json = {};
  if (slot.staffId) resources.staff_id = slot.staffId;
  if (slot.roomId) resources.room_id = slot.roomId;
  if (slot.partySize) resources.party_size = slot.partySize;
  return Object.keys(resources).length > 0 ? resources : undefined;
}

/** The feed slot as a v3 `Slot`. */
export function slotJson(slot: FeedSlot): Json {
  const resources = resourcesJson(slot);
  return {
    merchant_id: slot.merchantId,
    service_id: slot.serviceId,
    start_sec: String(slot.startSec),
    duration_sec: String(slot.durationSec),
    ...(slot.availabilityTag ? { availability_tag: slot.availabilityTag } : {}),
    ...(resources ? { resources } : {}),
    ...(slot.confirmationMode ? { confirmation_mode: enumName(ConfirmationModeSchema, slot.confirmationMode) } : {}),
  };
}

/** The feed slot as a BatchAvailabilityLookup `SlotTime`: a Slot without its merchant (in the request), resources named `resource_ids`. */
export function slotTimeJson(slot: FeedSlot): Json {
  const { merchant_id: _inTheRequest, resources, ...time } = slotJson(slot);
  return { ...time, ...(resources ? { resource_ids: resources } : {}) };
}

/** The user fields Google sends with every booking. */
export function userJson(userId: string): Json {
  return {
    user_id: userId,
    given_name: "Conformance",
    family_name: "Check",
    telephone: "+1 650 555 0100",
    email: `${userId}@conformance.example`,
  };
}

/** A CreateBooking request as in Google's sample. */
export function createBookingJson(slot: FeedSlot, userId: string, idempotencyToken: string): Json {
  return {
    slot: slotJson(slot),
    user_information: userJson(userId),
    payment_information: { prepayment_status: "PREPAYMENT_NOT_PROVIDED" },
    idempotency_token: idempotencyToken,
  };
}

/** A short excerpt of an answer's body for a failure's reason (the report has all of it). */
export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat === "") return "an empty body";
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

/** Fails unless the answer is HTTP 200 (naming a business failure sent with another status as such). */
export function requireOk(method: string, answer: RestAnswer): void {
  if (answer.status === 200) return;
  const failure = (answer.json as { booking_failure?: unknown; bookingFailure?: unknown } | undefined) ?? {};
  const business = failure.booking_failure ?? failure.bookingFailure;
  throw new CheckFailure(
    business !== undefined
      ? `${method} answered a booking_failure with HTTP ${answer.status}: business failures must be HTTP 200 (${excerpt(answer.text)})`
      : `${method} answered HTTP ${answer.status}, expected 200: ${excerpt(answer.text)}`,
  );
}

/** POST /v3/<method>: HTTP 200 and an answer in Google's shape of `desc`, else the check fails. */
export async function callV3<Desc extends DescMessage>(
  scope: CheckScope,
  method: string,
  body: unknown,
  desc: Desc,
  options: CallOptions = {},
): Promise<MessageShape<Desc>> {
  const answer = await scope.client.post(method, body, options);
  requireOk(method, answer);
  return decodeAnswer(method, answer, desc);
}

/** The answer as a `desc` message, read as Google reads it. */
export function decodeAnswer<Desc extends DescMessage>(method: string, answer: RestAnswer, desc: Desc): MessageShape<Desc> {
  if (answer.json === undefined) throw new CheckFailure(`${method} answered HTTP ${answer.status} without a JSON body: ${excerpt(answer.text)}`);
  try {
    return decodeStrict(desc, answer.json, `the ${method} answer`);
  } catch (error) {
    throw new CheckFailure((error as Error).message);
  }
}

/** CreateBooking; any booking in the answer is noted for the final cancellation, whatever its shape. */
export async function createBooking(scope: CheckScope, body: Json, options: CallOptions = {}): Promise<CreateBookingResponse> {
  const answer = await scope.client.post("CreateBooking", body, options);
  noteBooking(scope, answer);
  requireOk("CreateBooking", answer);
  return decodeAnswer("CreateBooking", answer, CreateBookingResponseSchema);
}

/** Notes a booking the raw answer carries (cleanup cancels it even if the check fails). */
export function noteBooking(scope: CheckScope, answer: RestAnswer): void {
  const bookingId = bookingIdIn(answer.json);
  if (bookingId) scope.bookings.add(bookingId);
}

/** The booking of a CreateBooking / UpdateBooking answer; fails when it is a booking_failure or empty. */
export function bookingOf(response: CreateBookingResponse | UpdateBookingResponse, what: string): Booking {
  if (response.bookingFailure) throw new CheckFailure(`${what} was refused with ${describeFailure(response.bookingFailure)}`);
  if (!response.booking?.bookingId) throw new CheckFailure(`${what} answered no booking (and no booking_failure)`);
  return response.booking;
}

/** A booking_failure for a reason: its cause and description ("no booking_failure" when there is none). */
export function describeFailure(failure: BookingFailure | undefined): string {
  if (!failure) return "no booking_failure";
  const cause = enumName(BookingFailure_CauseSchema, failure.cause);
  const described = failure.description ? `${cause} ("${failure.description}")` : cause;
  // The checker books without paying: a payment refusal means the feeds did not say the slot takes one.
  return cause.startsWith("PAYMENT_") ? `${described}; if this service takes a payment, give its service feed (--service-feed) so that it is not booked` : described;
}

export function statusName(status: BookingStatus): string {
  return enumName(BookingStatusSchema, status);
}

/** How the answered slot differs from the feed's (empty when it is that slot). */
export function slotDifferences(answered: Slot | undefined, expected: FeedSlot): string[] {
  if (!answered) return ["no slot"];
  const differences: string[] = [];
  const compare = (field: string, got: unknown, want: unknown) => {
    if (got !== want) differences.push(`${field} ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`);
  };
  compare("merchant_id", answered.merchantId, expected.merchantId);
  compare("service_id", answered.serviceId, expected.serviceId);
  compare("start_sec", answered.startSec.toString(), String(expected.startSec));
  compare("duration_sec", answered.durationSec.toString(), String(expected.durationSec));
  compare("resources.staff_id", answered.resources?.staffId ?? "", expected.staffId);
  compare("resources.room_id", answered.resources?.roomId ?? "", expected.roomId);
  compare("resources.party_size", answered.resources?.partySize ?? 0, expected.partySize);
  return differences;
}

/** BatchAvailabilityLookup for slots of one merchant; fails unless exactly one answer comes per slot time. */
export async function lookUp(scope: CheckScope, slots: FeedSlot[], options: CallOptions = {}): Promise<SlotTimeAvailability[]> {
  const merchantId = slots[0].merchantId;
  const response = await callV3(
    scope,
    "BatchAvailabilityLookup",
    { merchant_id: merchantId, slot_time: slots.map(slotTimeJson) },
    BatchAvailabilityLookupResponseSchema,
    options,
  );
  const answers = response.slotTimeAvailability;
  if (answers.length !== slots.length) {
    throw new CheckFailure(`BatchAvailabilityLookup answered ${answers.length} slot_time_availability entries for ${slots.length} slot times`);
  }
  return answers;
}

/** Whether BatchAvailabilityLookup says the slot can be booked now. */
export async function isAvailable(scope: CheckScope, slot: FeedSlot): Promise<boolean> {
  const [answer] = await lookUp(scope, [slot]);
  return answer.available;
}

/** UpdateBooking to CANCELED; notes the cancellation when the answer confirms it (or says it was already made). */
export async function cancelBooking(scope: CheckScope, bookingId: string): Promise<UpdateBookingResponse> {
  const response = await callV3(
    scope,
    "UpdateBooking",
    { booking: { booking_id: bookingId, status: "CANCELED" } },
    UpdateBookingResponseSchema,
  );
  if (response.booking?.status === BookingStatus.CANCELED || response.bookingFailure?.cause === BookingFailure_Cause.BOOKING_ALREADY_CANCELLED) {
    scope.bookings.markCancelled(bookingId);
  }
  return response;
}

/** ListBookings of a user the server knows (HTTP 200 required). */
export function listBookings(scope: CheckScope, userId: string) {
  return callV3(scope, "ListBookings", { user_id: userId }, ListBookingsResponseSchema);
}

/**
 * The ids ListBookings answers for a user; a 404 (a user the server does not
 * know, as Google's skeleton answers) is no bookings.
 */
export async function listedBookingIds(scope: CheckScope, userId: string): Promise<string[]> {
  const answer = await scope.client.post("ListBookings", { user_id: userId });
  if (answer.status === 404) return [];
  requireOk("ListBookings", answer);
  return decodeAnswer("ListBookings", answer, ListBookingsResponseSchema).bookings.map((booking) => booking.bookingId);
}

/** GetBookingStatus of a booking (HTTP 200 required). */
export function bookingStatus(scope: CheckScope, bookingId: string) {
  return callV3(scope, "GetBookingStatus", { booking_id: bookingId }, GetBookingStatusResponseSchema);
}
