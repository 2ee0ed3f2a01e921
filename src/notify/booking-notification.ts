import {
  type Booking,
  type BookingFailure,
  BookingFailure_Cause,
  BookingStatus,
  CreditCardType,
  PrepaymentStatus,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { OutboxEntryInput } from "../store/repositories.js";
import { duration, timestamp } from "./v1alpha-json.js";

/**
 * Builds the outbox entry for Google's Booking Notification API
 * (`notification.partners.bookings.patch`, spec §4.1):
 *
 *   PATCH {base}/v1alpha/notification/partners/{partner_id}/bookings/{booking_id}?updateMask=...
 *
 * The body is the v1alpha Booking resource in camelCase JSON. Its `name`
 * needs the partner id, which is only known at delivery time: the stored body
 * leaves `name` out and `notificationRequest` adds it.
 *
 * Failure detail travels as `bookingFailure.*` QUERY parameters, never in the
 * body (spec §7 item 8). Times are RFC 3339 / "900s" durations and `partySize`
 * is an int64, i.e. a JSON string (spec §7 item 10).
 */

/** v1alpha Booking fields this server can send (camelCase JSON). */
export interface NotificationBookingBody {
  name?: string;
  merchantId: string;
  serviceId: string;
  startTime?: string;
  duration?: string;
  status?: string;
  partySize?: string;
  paymentInformation?: { prepaymentStatus?: string; paymentTransactionId?: string };
}

/** Mask paths the v1alpha API lets a partner change. */
export type BookingPatchPath = "status" | "startTime" | "duration" | "partySize" | "paymentInformation.prepaymentStatus";

export interface BookingPatchOptions {
  /** FieldMask paths of the change; defaults to ["status"]. */
  updateMask?: readonly BookingPatchPath[];
  /** Sent as `bookingFailure.*` query parameters (with status FAILED). */
  failure?: BookingFailure;
}

export function bookingPatch(booking: Booking, options: BookingPatchOptions = {}): OutboxEntryInput {
  const mask = options.updateMask ?? ["status"];
  if (mask.length === 0) throw new Error("bookingPatch: empty update mask");
  if (!booking.bookingId) throw new Error("bookingPatch: booking has no booking_id");
  const slot = booking.slot;
  if (!slot) throw new Error(`bookingPatch: booking ${booking.bookingId} has no slot`);

  const body: NotificationBookingBody = {
    merchantId: slot.merchantId,
    serviceId: slot.serviceId,
    startTime: timestamp(slot.startSec),
    duration: duration(slot.durationSec),
    status: BookingStatus[booking.status],
  };
  const partySize = slot.resources?.partySize ?? 0;
  if (partySize > 0) body.partySize = String(partySize);
  if (mask.includes("partySize") && body.partySize === undefined) {
    throw new Error(`bookingPatch: mask names partySize but booking ${booking.bookingId} has none`);
  }
  const payment = booking.paymentInformation;
  if (payment && mask.some((path) => path.startsWith("paymentInformation"))) {
    body.paymentInformation = { prepaymentStatus: PrepaymentStatus[payment.prepaymentStatus] };
    if (payment.paymentTransactionId) body.paymentInformation.paymentTransactionId = payment.paymentTransactionId;
  }

  const query: Record<string, string> = {};
  const failure = options.failure;
  if (failure) {
    query["bookingFailure.cause"] = BookingFailure_Cause[failure.cause];
    if (failure.rejectedCardType !== CreditCardType.CREDIT_CARD_TYPE_UNSPECIFIED) {
      query["bookingFailure.rejectedCardType"] = CreditCardType[failure.rejectedCardType];
    }
    if (failure.description) query["bookingFailure.description"] = failure.description;
    const threeDs = failure.paymentFailure?.threeds1Parameters;
    if (threeDs) {
      const prefix = "bookingFailure.paymentFailure.threeds1Parameters";
      if (threeDs.acsUrl) query[`${prefix}.acsUrl`] = threeDs.acsUrl;
      if (threeDs.paReq) query[`${prefix}.paReq`] = threeDs.paReq;
      if (threeDs.transactionId) query[`${prefix}.transactionId`] = threeDs.transactionId;
      if (threeDs.mdMerchantData) query[`${prefix}.mdMerchantData`] = threeDs.mdMerchantData;
    }
  }

  return {
    queueKey: booking.bookingId,
    kind: "booking_patch",
    updateMask: mask.join(","),
    payloadJson: JSON.stringify(body),
    queryJson: JSON.stringify(query),
  };
}

export interface NotificationRequest {
  /** Path and query, relative to the API base URL. */
  pathAndQuery: string;
  body: string;
}

/** The HTTP request for a stored entry, for one partner. */
export function notificationRequest(
  partnerId: string,
  entry: Pick<OutboxEntryInput, "queueKey" | "updateMask" | "payloadJson" | "queryJson">,
): NotificationRequest {
  const body = JSON.parse(entry.payloadJson) as NotificationBookingBody;
  const bookingId = entry.queueKey;
  const name = `partners/${partnerId}/bookings/${bookingId}`;
  const params = new URLSearchParams({ updateMask: entry.updateMask });
  for (const [key, value] of Object.entries(JSON.parse(entry.queryJson) as Record<string, string>)) {
    params.append(key, value);
  }
  const path =
    `/v1alpha/notification/partners/${encodeURIComponent(partnerId)}` +
    `/bookings/${encodeURIComponent(bookingId)}`;
  return { pathAndQuery: `${path}?${params.toString()}`, body: JSON.stringify({ name, ...body }) };
}
