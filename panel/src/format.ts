// Words and times as the host reads them: the browser's locale, the
// merchant's time zone (useTimeZone; the browser's until the server names it).
import { BookingStatus } from "./api";

let dayThisYear: Intl.DateTimeFormat;
let dayOtherYear: Intl.DateTimeFormat;
let timeOnly: Intl.DateTimeFormat;
let yearOnly: Intl.DateTimeFormat;
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** Times are shown in this IANA time zone from now on ("" or undefined: the browser's). */
export function useTimeZone(timeZone: string | undefined): void {
  const zone = timeZone || undefined;
  dayThisYear = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", timeZone: zone });
  dayOtherYear = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: zone });
  timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "short", timeZone: zone });
  yearOnly = new Intl.DateTimeFormat("en", { year: "numeric", timeZone: zone });
}
useTimeZone(undefined);

/** "Thu 24 Dec": the year only when it is not this one. */
export function formatDay(unixSec: number): string {
  const date = new Date(unixSec * 1000);
  return (yearOnly.format(date) === yearOnly.format(new Date()) ? dayThisYear : dayOtherYear).format(date);
}

/** "Thu 24 Dec, 20:00" (en-GB) or "Thu, Dec 24, 8:00 PM" (en-US); the year only when it is not this one. */
export function formatDateTime(unixSec: number): string {
  return `${formatDay(unixSec)}, ${formatTime(unixSec)}`;
}
export const formatTime = (unixSec: number) => timeOnly.format(new Date(unixSec * 1000));
export const formatClock = (date: Date) => clock.format(date);

/** "25.00 USD": an amount in micros with its currency code (the currency's own number of decimals, the browser's digits). */
export function formatMoney(priceMicros: bigint, currencyCode: string): string {
  const amount = Number(priceMicros) / 1_000_000;
  try {
    const parts = new Intl.NumberFormat(undefined, { style: "currency", currency: currencyCode, currencyDisplay: "code" }).formatToParts(amount);
    const number = parts
      .filter((part) => part.type !== "currency" && part.type !== "literal")
      .map((part) => part.value)
      .join("");
    return `${number} ${currencyCode}`;
  } catch {
    // Not a currency this browser knows: still say the amount.
    return `${new Intl.NumberFormat().format(amount)} ${currencyCode}`.trim();
  }
}

/** "declines automatically in 3 h 12 min" (or "… in less than a minute"). */
export function autoDeclineText(deadlineSec: number, nowMs: number): string {
  const left = Math.floor(deadlineSec - nowMs / 1000);
  if (left <= 0) return "declines automatically now";
  if (left < 60) return "declines automatically in less than a minute";
  const minutes = Math.floor(left / 60);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const parts = days > 0 ? [`${days} d`, `${hours} h`] : hours > 0 ? [`${hours} h`, `${minutes % 60} min`] : [`${minutes} min`];
  return `declines automatically in ${parts.join(" ")}`;
}

export function partyText(partySize: number): string {
  if (partySize <= 0) return "";
  return partySize === 1 ? "1 guest" : `${partySize} guests`;
}

const statusWords: Partial<Record<BookingStatus, string>> = {
  [BookingStatus.PENDING_MERCHANT_CONFIRMATION]: "Waiting for you",
  [BookingStatus.CONFIRMED]: "Confirmed",
  [BookingStatus.DECLINED_BY_MERCHANT]: "Declined",
  [BookingStatus.CANCELED]: "Canceled",
  [BookingStatus.FAILED]: "Failed",
  [BookingStatus.NO_SHOW]: "No-show",
  [BookingStatus.NO_SHOW_PENALIZED]: "No-show (fee charged)",
};

/** The status in words, e.g. "Confirmed". */
export const statusText = (status: BookingStatus) => statusWords[status] ?? BookingStatus[status] ?? "Unknown";
/** The status as the API names it, e.g. "CONFIRMED". */
export const statusName = (status: BookingStatus) => BookingStatus[status] ?? String(status);
