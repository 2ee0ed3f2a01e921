import { create, fromJson, toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  BatchAvailabilityLookupRequestSchema,
  BatchAvailabilityLookupResponseSchema,
  BookingFailure_Cause,
  BookingStatus,
  CheckAvailabilityRequestSchema,
  CheckAvailabilityResponseSchema,
  ConfirmationMode,
  CreateBookingRequestSchema,
  CreateBookingResponseSchema,
  GetBookingStatusRequestSchema,
  GetBookingStatusResponseSchema,
  ListBookingsRequestSchema,
  ListBookingsResponseSchema,
  PrepaymentStatus,
  UpdateBookingRequestSchema,
  UpdateBookingResponseSchema,
  type Booking,
  type ResourceIds,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import type { FeedSlot } from "../../src/conformance/feed-slots";

/**
 * A small v3 booking server in memory, playing a partner's server for the
 * conformance checker's own tests: it does what the spec asks, except for
 * the one fault it is started with.
 */
export type Fault =
  | "none"
  /** Idempotency keyed by the slot instead of the token: a new token on a booked slot answers the old booking. */
  | "old-booking-for-new-token"
  /** Business failures (booking_failure) sent with HTTP 409 instead of 200. */
  | "business-failure-409"
  /** lowerCamelCase field names in every answer. */
  | "camel-case"
  /** Reads the open spots, waits, then takes one without looking again. */
  | "overbooks-under-burst"
  /** Enum numbers instead of names in every answer. */
  | "enums-as-numbers"
  /** A request it cannot decode is answered 200 with SLOT_UNAVAILABLE. */
  | "accepts-malformed";

export interface BrokenServer {
  baseUrl: string;
  close(): Promise<void>;
}

interface StoredBooking {
  booking: Booking;
  slotKey: string;
}

class BadRequest extends Error {}
class NotFound extends Error {}

export async function startBrokenServer(options: { slots: FeedSlot[]; username: string; password: string; fault: Fault }): Promise<BrokenServer> {
  const { fault } = options;
  const spots = new Map(options.slots.map((slot) => [slotKey(slot.merchantId, slot.serviceId, slot.startSec, slot.durationSec, slot), { slot, open: slot.spotsOpen }]));
  const bookings = new Map<string, StoredBooking>();
  const byToken = new Map<string, string>();
  const expectedAuth = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString("base64")}`;

  const answer = <Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>, failed = false) => ({
    status: failed && fault === "business-failure-409" ? 409 : 200,
    body: toJson(desc, message, { useProtoFieldName: fault !== "camel-case", enumAsInteger: fault === "enums-as-numbers" }),
  });
  const failure = (cause: BookingFailure_Cause) => answer(CreateBookingResponseSchema, create(CreateBookingResponseSchema, { bookingFailure: { cause } }), true);

  const methods: Record<string, (body: unknown) => Promise<{ status: number; body: unknown }>> = {
    async BatchAvailabilityLookup(body) {
      const request = decode(BatchAvailabilityLookupRequestSchema, body);
      const slotTimeAvailability = request.slotTime.map((slotTime) => {
        const found = spots.get(slotKey(request.merchantId, slotTime.serviceId, slotTime.startSec, slotTime.durationSec, slotTime.resourceIds));
        return { slotTime, available: (found?.open ?? 0) > 0 };
      });
      return answer(BatchAvailabilityLookupResponseSchema, create(BatchAvailabilityLookupResponseSchema, { slotTimeAvailability }));
    },
    async CheckAvailability(body) {
      const { slot } = decode(CheckAvailabilityRequestSchema, body);
      if (!slot) throw new BadRequest("slot is required");
      const found = spots.get(slotKey(slot.merchantId, slot.serviceId, slot.startSec, slot.durationSec, slot.resources));
      return answer(CheckAvailabilityResponseSchema, create(CheckAvailabilityResponseSchema, { slot, countAvailable: found?.open ?? 0 }));
    },
    async CreateBooking(body) {
      let request;
      try {
        request = decode(CreateBookingRequestSchema, body);
        if (!request.slot || !request.idempotencyToken || !request.userInformation?.userId) throw new BadRequest("slot, idempotency_token and user_information.user_id are required");
      } catch (error) {
        if (fault === "accepts-malformed") return failure(BookingFailure_Cause.SLOT_UNAVAILABLE);
        throw error;
      }
      const { slot, userInformation } = request;
      const key = slotKey(slot.merchantId, slot.serviceId, slot.startSec, slot.durationSec, slot.resources);
      const idempotencyKey = fault === "old-booking-for-new-token" ? key : request.idempotencyToken;
      const earlier = byToken.get(idempotencyKey);
      if (earlier) return answer(CreateBookingResponseSchema, create(CreateBookingResponseSchema, { booking: bookings.get(earlier)!.booking }));
      const found = spots.get(key);
      if (!found) return failure(BookingFailure_Cause.SLOT_UNAVAILABLE);
      const sameUser = [...bookings.values()].some(
        (stored) => stored.slotKey === key && stored.booking.userInformation?.userId === userInformation.userId && stored.booking.status !== BookingStatus.CANCELED,
      );
      if (sameUser) return failure(BookingFailure_Cause.OVERLAPPING_RESERVATION);
      if (found.open === 0) return failure(BookingFailure_Cause.SLOT_UNAVAILABLE);
      if (fault === "overbooks-under-burst") await new Promise((resolve) => setTimeout(resolve, 20));
      found.open -= 1;
      const asynchronous = found.slot.confirmationMode === ConfirmationMode.ASYNCHRONOUS;
      const booking = {
        bookingId: `booking-${bookings.size + 1}`,
        slot,
        userInformation,
        status: asynchronous ? BookingStatus.PENDING_MERCHANT_CONFIRMATION : BookingStatus.CONFIRMED,
        paymentInformation: { prepaymentStatus: PrepaymentStatus.PREPAYMENT_NOT_PROVIDED },
      };
      const made = create(CreateBookingResponseSchema, { booking });
      bookings.set(booking.bookingId, { booking: made.booking!, slotKey: key });
      byToken.set(idempotencyKey, booking.bookingId);
      return answer(CreateBookingResponseSchema, made);
    },
    async UpdateBooking(body) {
      const requested = decode(UpdateBookingRequestSchema, body).booking;
      const stored = bookings.get(requested?.bookingId ?? "");
      if (!requested || !stored) throw new NotFound("no such booking");
      const updateFailure = (cause: BookingFailure_Cause) => answer(UpdateBookingResponseSchema, create(UpdateBookingResponseSchema, { bookingFailure: { cause } }), true);
      const { booking } = stored;
      if (requested.status === BookingStatus.CANCELED) {
        if (booking.status === BookingStatus.CANCELED) return updateFailure(BookingFailure_Cause.BOOKING_ALREADY_CANCELLED);
        spots.get(stored.slotKey)!.open += 1;
        booking.status = BookingStatus.CANCELED;
        return answer(UpdateBookingResponseSchema, create(UpdateBookingResponseSchema, { booking }));
      }
      const current = booking.slot!;
      const startSec = requested.slot?.startSec || current.startSec;
      const durationSec = requested.slot?.durationSec || current.durationSec;
      const key = slotKey(current.merchantId, current.serviceId, startSec, durationSec, current.resources);
      const destination = spots.get(key);
      if (!destination || destination.open === 0) return updateFailure(BookingFailure_Cause.SLOT_UNAVAILABLE);
      destination.open -= 1;
      spots.get(stored.slotKey)!.open += 1;
      booking.slot = { ...current, startSec, durationSec };
      stored.slotKey = key;
      return answer(UpdateBookingResponseSchema, create(UpdateBookingResponseSchema, { booking }));
    },
    async GetBookingStatus(body) {
      const stored = bookings.get(decode(GetBookingStatusRequestSchema, body).bookingId);
      if (!stored) throw new NotFound("no such booking");
      const { bookingId, status } = stored.booking;
      return answer(
        GetBookingStatusResponseSchema,
        create(GetBookingStatusResponseSchema, { bookingId, bookingStatus: status, prepaymentStatus: PrepaymentStatus.PREPAYMENT_NOT_PROVIDED }),
      );
    },
    async ListBookings(body) {
      const { userId } = decode(ListBookingsRequestSchema, body);
      const listed = [...bookings.values()]
        .map((stored) => stored.booking)
        .filter((booking) => booking.userInformation?.userId === userId && booking.status !== BookingStatus.CANCELED);
      return answer(ListBookingsResponseSchema, create(ListBookingsResponseSchema, { bookings: listed }));
    },
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error) => {
      const status = error instanceof BadRequest ? 400 : error instanceof NotFound ? 404 : 500;
      send(res, status, { code: status === 400 ? "invalid_argument" : status === 404 ? "not_found" : "internal", message: (error as Error).message });
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== expectedAuth) return send(res, 401, { code: "unauthenticated", message: "Basic credentials required" });
    const method = /^\/v3\/([A-Za-z]+)\/?$/.exec(req.url ?? "")?.[1] ?? "";
    if (method === "HealthCheck" && req.method === "GET") return send(res, 200, { status: "SERVING" });
    const handler = methods[method];
    if (!handler || req.method !== "POST") throw new NotFound(`no such method: ${req.url}`);
    let text = "";
    for await (const chunk of req) text += chunk;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      if (fault !== "accepts-malformed") throw new BadRequest("malformed JSON");
      body = {};
    }
    const { status, body: answered } = await handler(body);
    send(res, status, answered);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function decode<Desc extends DescMessage>(desc: Desc, body: unknown): MessageShape<Desc> {
  try {
    return fromJson(desc, body as JsonValue, { ignoreUnknownFields: false });
  } catch (error) {
    throw new BadRequest((error as Error).message);
  }
}

function slotKey(merchantId: string, serviceId: string, startSec: bigint | number, durationSec: bigint | number, resources: Partial<ResourceIds> | undefined): string {
  return [merchantId, serviceId, startSec, durationSec, resources?.staffId ?? "", resources?.roomId ?? "", resources?.partySize ?? 0].join("|");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}
