// The MerchantService and InventoryService clients: the same generated types
// as the server, over Connect (JSON over HTTP) on this page's own origin.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { BookingStatus, PriceType, type Booking } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb";
import { MerchantService, type ListBookingsResponse, type MerchantBooking } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { InventoryService, type SlotState } from "../../gen/es/partner/inventory/v1/inventory_service_pb";
import type { Session } from "./session";

export type { MerchantBooking, SlotState };
export { BookingStatus, PriceType };

const client: Client<typeof MerchantService> = createClient(
  MerchantService,
  createConnectTransport({ baseUrl: location.origin }),
);

/** Every call gives up after this long, so a hung network shows as an error. */
const timeoutMs = 10_000;

function options(session: Session) {
  return { headers: { Authorization: `Bearer ${session.token}` }, timeoutMs };
}

/** A window of the merchant's bookings, with what the feeds call the merchant and its services. */
export interface BookingWindow {
  bookings: MerchantBooking[];
  merchantName: string;
  /** The merchant's IANA time zone; "" when the server does not know it. */
  timeZone: string;
  serviceNames: Record<string, string>;
}

/**
 * The pages answered before, by request: sent back as `if_none_match`, so
 * an unchanged page comes back as a few bytes and is taken from here.
 */
export type PageCache = Map<string, ListBookingsResponse>;

/** The merchant's bookings whose slot starts in [fromSec, beforeSec) (beforeSec 0: no end), earliest first (every page). */
export async function listBookings(session: Session, fromSec: number, beforeSec: number, cache: PageCache): Promise<BookingWindow> {
  const window: BookingWindow = { bookings: [], merchantName: "", timeZone: "", serviceNames: {} };
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const key = JSON.stringify([session.merchantId, fromSec, beforeSec, pageToken]);
    const known = cache.get(key);
    const request = { merchantId: session.merchantId, startSecFrom: BigInt(fromSec), startSecBefore: BigInt(beforeSec), pageSize: 500, pageToken };
    let response = await client.listBookings({ ...request, ifNoneMatch: known?.etag ?? "" }, options(session));
    if (response.notModified && known) response = known;
    else cache.set(key, response);
    window.bookings.push(...response.bookings);
    window.merchantName ||= response.merchantName;
    window.timeZone ||= response.timeZone;
    Object.assign(window.serviceNames, response.serviceNames);
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  return window;
}

export type Decision = "confirm" | "decline";
/** Everything a button in the lists can ask for. */
export type Action = Decision | "no-show";

/** Confirms or declines a pending request; answers the booking after the change. */
export async function decide(session: Session, decision: Decision, bookingId: string): Promise<Booking | undefined> {
  const response =
    decision === "confirm"
      ? await client.confirmBooking({ bookingId }, options(session))
      : await client.declineBooking({ bookingId }, options(session));
  return response.booking;
}

export interface NoShowResult {
  booking: Booking | undefined;
  /** Why the no-show fee could not be charged (the booking is then NO_SHOW); empty otherwise. */
  feeFailure: string;
}

/** Marks a confirmed booking whose slot has started as a no-show (charging its no-show fee where one applies). */
export async function markNoShow(session: Session, bookingId: string): Promise<NoShowResult> {
  const response = await client.markNoShow({ bookingId }, options(session));
  return { booking: response.booking, feeFailure: response.feeFailure };
}

/** What went wrong, in the terms the page acts on. */
export type Failure =
  | { kind: "signed-out"; message: string }
  | { kind: "changed"; message: string }
  | { kind: "network"; message: string }
  | { kind: "other"; message: string };

export function describeFailure(error: unknown): Failure {
  const e = ConnectError.from(error);
  switch (e.code) {
    case Code.Unauthenticated:
      return { kind: "signed-out", message: "Your token was not accepted — sign in again." };
    case Code.PermissionDenied:
      return { kind: "signed-out", message: "This token is not for that merchant id — check both and sign in again." };
    case Code.FailedPrecondition:
      return { kind: "changed", message: e.rawMessage };
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return { kind: "network", message: "The booking server cannot be reached. Retrying…" };
    case Code.Unknown:
      // fetch() itself failed: offline, server down, connection refused.
      if (e.cause instanceof TypeError) {
        return { kind: "network", message: "The booking server cannot be reached. Retrying…" };
      }
      break;
  }
  return { kind: "other", message: `Something went wrong: ${e.rawMessage || Code[e.code]}` };
}

const inventory: Client<typeof InventoryService> = createClient(
  InventoryService,
  createConnectTransport({ baseUrl: location.origin }),
);

/** The merchant's slots starting in [fromSec, beforeSec), with their spots, earliest first (every page). */
export async function listSlots(session: Session, fromSec: number, beforeSec: number): Promise<SlotState[]> {
  const slots: SlotState[] = [];
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const response = await inventory
      .listAvailability({ merchantId: session.merchantId, startSec: BigInt(fromSec), endSec: BigInt(beforeSec), pageToken }, options(session))
      .catch((error: unknown) => {
        // A merchant whose feed has not been imported yet is unknown to the inventory: it has no tables.
        if (ConnectError.from(error).code === Code.NotFound) return { slots: [], nextPageToken: "" };
        throw error;
      });
    slots.push(...response.slots);
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  return slots;
}

/** A walk-in takes one spot of the slot ("take"), or one taken that way is given back ("give-back"); answers the slot after it. */
export async function adjustSpot(session: Session, slot: SlotState, way: "take" | "give-back"): Promise<SlotState | undefined> {
  const response = await inventory.adjustSpots(
    {
      merchantId: session.merchantId,
      serviceId: slot.serviceId,
      startSec: slot.startSec,
      durationSec: slot.durationSec,
      resources: slot.resources,
      change: way === "take" ? { case: "takeSpots", value: 1 } : { case: "giveBackSpots", value: 1 },
    },
    options(session),
  );
  return response.slot;
}

/** No new bookings for slots starting in [fromSec, beforeSec), at every service; answers how many slots closed. */
export async function closeSlots(session: Session, fromSec: number, beforeSec: number): Promise<number> {
  const response = await inventory.closeAvailability(
    { merchantId: session.merchantId, startSec: BigInt(fromSec), endSec: BigInt(beforeSec) },
    options(session),
  );
  return response.closed;
}
