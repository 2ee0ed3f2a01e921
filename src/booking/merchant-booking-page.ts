// A page of MerchantService.ListBookings as a panel shows it: the bookings
// (listMerchantBookings), the names the feeds give them, and an etag so a
// page polled again unchanged costs a few bytes.
import { create, toBinary } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import {
  ListBookingsResponseSchema,
  type ListBookingsRequest,
  type ListBookingsResponse,
} from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import type { BookingContext } from "./context.js";
import { listMerchantBookings, type MerchantCaller } from "./merchant-decisions.js";

/**
 * The page listMerchantBookings answers, with the merchant's and its
 * services' names and time zone, and its etag; only `not_modified` and the
 * etag when it is still the page `if_none_match` names.
 */
export async function listMerchantBookingPage(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: ListBookingsRequest,
): Promise<ListBookingsResponse> {
  const page = await listMerchantBookings(ctx, caller, request);
  const serviceIds = [...new Set(page.bookings.map((b) => b.booking?.slot?.serviceId ?? "").filter(Boolean))].sort();
  // Every service of one merchant carries the same merchant record: the first that answers names it.
  let merchantFeed = "";
  for (const serviceId of serviceIds) {
    const feeds = await ctx.store.read.inventory.serviceFeeds(request.merchantId, serviceId);
    if (!feeds) continue;
    merchantFeed ||= feeds.merchantFeed;
    const name = serviceName(feeds.serviceFeed);
    if (name) page.serviceNames[serviceId] = name;
  }
  const merchant = parseFeed(merchantFeed);
  page.merchantName = typeof merchant.name === "string" ? merchant.name : "";
  page.timeZone = timeZoneOf(merchant);
  page.etag = createHash("sha256").update(toBinary(ListBookingsResponseSchema, page)).digest("base64url").slice(0, 22);
  if (request.ifNoneMatch !== "" && request.ifNoneMatch === page.etag) {
    return create(ListBookingsResponseSchema, { etag: page.etag, notModified: true });
  }
  return page;
}

function parseFeed(feedJson: string): Record<string, unknown> {
  if (!feedJson) return {};
  try {
    const value: unknown = JSON.parse(feedJson);
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The service's `name`, else its `localized_service_name.value` (Google's service feed has both). */
function serviceName(feedJson: string): string {
  const service = parseFeed(feedJson);
  if (typeof service.name === "string" && service.name) return service.name;
  const localized = service.localized_service_name as { value?: unknown } | undefined;
  return typeof localized?.value === "string" ? localized.value : "";
}

/**
 * The merchant's IANA time zone: the feed's `time_zone` when this runtime
 * knows it, else the only zone of its address's country (Italy: Europe/Rome;
 * a country with several, such as the US, tells nothing); "" when unknown.
 */
export function timeZoneOf(merchant: Record<string, unknown>): string {
  const stated = merchant.time_zone;
  if (typeof stated === "string" && isKnownZone(stated)) return stated;
  const country = (merchant.geo as { address?: { country?: unknown } } | undefined)?.address?.country;
  if (typeof country !== "string" || !/^[A-Za-z]{2}$/.test(country)) return "";
  try {
    // V8 names the zones of a region (Intl Locale Info); the typings do not know it yet.
    const zones = (new Intl.Locale(`und-${country.toUpperCase()}`) as unknown as { timeZones?: string[] }).timeZones;
    return zones?.length === 1 ? zones[0]! : "";
  } catch {
    return "";
  }
}

function isKnownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
