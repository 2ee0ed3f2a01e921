// Draws the bookings: tonight first (the merchant's current service day: its
// pending requests as cards with their decisions, then its bookings by
// time, with "Mark no-show" on confirmed ones that have started and carry a
// no-show fee), then every later day as a collapsed group with its counts.
import { BookingStatus, PriceType, type Decision, type MerchantBooking } from "./api";
import { autoDeclineText, formatDateTime, formatDay, formatMoney, formatTime, partyText, statusName, statusText } from "./format";
import { serviceDayOf } from "./service-day";
import { urgencyOf } from "./urgency";

export interface Lists {
  counters: HTMLElement;
  tonightTitle: HTMLElement;
  pending: HTMLUListElement;
  today: HTMLUListElement;
  later: HTMLElement;
}

export interface RenderInput {
  /** Tonight's and the later days' bookings, earliest first. */
  bookings: MerchantBooking[];
  /** The current service day: [startSec, endSec) and its key ("YYYY-MM-DD"). */
  tonight: { key: string; startSec: number; endSec: number };
  /** The merchant's IANA time zone ("" for the browser's). */
  timeZone: string;
  /** A line to show on one booking (e.g. "This booking changed meanwhile ..."). */
  notes: ReadonlyMap<string, string>;
  /** Bookings with a decision under way: their buttons are disabled. */
  busy: ReadonlySet<string>;
  /** The later days the host opened (by key): they stay open across redraws. */
  openDays: ReadonlySet<string>;
  nowMs: number;
}

/** The services' names from the feeds, by id (the id itself when the feed names none). */
const serviceNames = new Map<string, string>();
export function useServiceNames(names: Record<string, string>): void {
  for (const [id, name] of Object.entries(names)) serviceNames.set(id, name);
}
export const serviceNameFor = (serviceId: string) => serviceNames.get(serviceId) ?? serviceId;
export const serviceNameOf = (b: MerchantBooking) => serviceNameFor(b.booking?.slot?.serviceId ?? "");

export const startSecOf = (b: MerchantBooking) => Number(b.booking?.slot?.startSec ?? 0n);
export const idOf = (b: MerchantBooking) => b.booking?.bookingId ?? "";
export const isPending = (b: MerchantBooking) => b.booking?.status === BookingStatus.PENDING_MERCHANT_CONFIRMATION;

/**
 * The no-show fee this booking would be charged, from the fee terms echoed on
 * it at booking (`payment_information.no_show_fee`), per person times the
 * party; undefined when no fee applies.
 */
export function noShowFeeOf(b: MerchantBooking): { priceMicros: bigint; currencyCode: string } | undefined {
  const terms = b.booking?.paymentInformation?.noShowFee;
  if (!terms?.fee || terms.fee.priceMicros <= 0n) return undefined;
  const people = terms.feeType === PriceType.PER_PERSON ? BigInt(b.booking?.slot?.resources?.partySize || 1) : 1n;
  return { priceMicros: terms.fee.priceMicros * people, currencyCode: terms.fee.currencyCode };
}

/** "25.00 USD", or "" when no fee applies. */
export function noShowFeeText(b: MerchantBooking): string {
  const fee = noShowFeeOf(b);
  return fee ? formatMoney(fee.priceMicros, fee.currencyCode) : "";
}

/**
 * "Mark no-show" is offered on a confirmed booking whose slot has started (by
 * this browser's clock; the server checks again with its own) and that
 * carries a no-show fee.
 */
export function mayMarkNoShow(b: MerchantBooking, nowMs: number): boolean {
  return b.booking?.status === BookingStatus.CONFIRMED && startSecOf(b) * 1000 <= nowMs && noShowFeeOf(b) !== undefined;
}

export function guestName(b: MerchantBooking): string {
  const user = b.booking?.userInformation;
  return [user?.givenName, user?.familyName].filter(Boolean).join(" ") || "Guest without a name";
}

/** "Ada Lovelace, 4 guests, Tue 1 Dec, 20:00, Dinner": one booking in a line. */
export function summary(b: MerchantBooking): string {
  const slot = b.booking?.slot;
  return [guestName(b), partyText(slot?.resources?.partySize ?? 0), formatDateTime(startSecOf(b)), serviceNameOf(b)]
    .filter(Boolean)
    .join(", ");
}

/** Everything the lists show, as one string: the page redraws only when it changes. */
export function signature(input: RenderInput): string {
  return JSON.stringify([
    input.tonight,
    input.timeZone,
    [...serviceNames],
    input.bookings.map((b) => [
      idOf(b),
      b.booking?.status,
      startSecOf(b),
      b.booking?.slot?.serviceId,
      b.booking?.userInformation?.telephone,
      b.booking?.slot?.resources?.partySize,
      guestName(b),
      b.additionalRequest,
      String(b.decisionDeadlineSec),
      noShowFeeText(b),
      mayMarkNoShow(b, input.nowMs),
    ]),
    [...input.notes],
    [...input.busy],
    [...input.openDays],
  ]);
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function detail(list: HTMLDListElement, term: string, value: string): void {
  if (!value) return;
  list.append(el("dt", undefined, term), el("dd", undefined, value));
}

function button(decision: Decision, b: MerchantBooking, busy: boolean): HTMLButtonElement {
  const label = decision === "confirm" ? "Confirm" : "Decline";
  const node = el("button", decision === "confirm" ? "primary" : "danger", label);
  node.type = "button";
  node.dataset.action = decision;
  node.dataset.bookingId = idOf(b);
  node.dataset.focusKey = `${decision}:${idOf(b)}`;
  node.setAttribute("aria-label", `${label} the request of ${summary(b)}`);
  node.disabled = busy;
  return node;
}

/** The guest's phone as a link that calls it (tel:); none when the booking has no phone. */
function phoneLinks(b: MerchantBooking): HTMLAnchorElement[] {
  const phone = b.booking?.userInformation?.telephone ?? "";
  if (!phone) return [];
  const link = el("a", "phone", phone);
  link.href = `tel:${phone.replace(/[^+0-9]/g, "")}`;
  link.setAttribute("aria-label", `Call ${guestName(b)} at ${phone}`);
  return [link];
}

function phoneDetail(list: HTMLDListElement, b: MerchantBooking): void {
  const links = phoneLinks(b);
  if (links.length === 0) return;
  const value = el("dd");
  value.append(...links);
  list.append(el("dt", undefined, "Phone"), value);
}

/** The countdown's words and colour (data-urgency: calm, soon, urgent), from the one rule in urgency.ts. */
function showDeadline(node: HTMLElement, nowMs: number): void {
  const deadline = Number(node.dataset.deadline);
  if (!(deadline > 0)) return;
  const text = autoDeclineText(deadline, nowMs);
  if (node.textContent !== text) node.textContent = text;
  const urgency = urgencyOf(deadline, nowMs);
  if (node.dataset.urgency !== urgency) node.dataset.urgency = urgency;
}

function note(text: string | undefined): HTMLElement[] {
  return text ? [el("p", "note", text)] : [];
}

function pendingCard(b: MerchantBooking, input: RenderInput): HTMLLIElement {
  const slot = b.booking?.slot;
  const item = el("li", "card");
  item.dataset.bookingId = idOf(b);
  item.dataset.status = statusName(b.booking?.status ?? 0);
  item.tabIndex = -1;

  const title = el("h3");
  const party = partyText(slot?.resources?.partySize ?? 0);
  title.append(el("span", "party", party || "Request"), el("span", "when", formatDateTime(startSecOf(b))));
  const details = el("dl");
  detail(details, "Name", guestName(b));
  phoneDetail(details, b);
  detail(details, "Service", serviceNameOf(b));
  detail(details, "Special request", b.additionalRequest);
  const deadline = el("p", "deadline");
  deadline.dataset.deadline = String(b.decisionDeadlineSec);
  showDeadline(deadline, input.nowMs);
  const busy = input.busy.has(idOf(b));
  const actions = el("div", "actions");
  actions.append(button("decline", b, busy), button("confirm", b, busy));
  item.append(title, details, deadline, ...note(input.notes.get(idOf(b))), actions);
  return item;
}

function row(b: MerchantBooking, input: RenderInput): HTMLLIElement {
  const slot = b.booking?.slot;
  const status = b.booking?.status ?? BookingStatus.BOOKING_STATUS_UNSPECIFIED;
  const item = el("li", "row");
  item.dataset.bookingId = idOf(b);
  item.dataset.status = statusName(status);
  item.tabIndex = -1;
  const when = el("span", "when", formatTime(startSecOf(b)));
  const who = el("span", "who", guestName(b));
  const what = el("span", "what", [partyText(slot?.resources?.partySize ?? 0), serviceNameOf(b)].filter(Boolean).join(" · "));
  const badge = el("span", `badge status-${statusName(status).toLowerCase()}`, statusText(status));
  item.append(when, who, what, badge);
  item.append(...phoneLinks(b));
  if (b.additionalRequest) item.append(el("span", "request", `“${b.additionalRequest}”`));
  item.append(...note(input.notes.get(idOf(b))));
  if (mayMarkNoShow(b, input.nowMs)) item.append(noShowActions(b, input.busy.has(idOf(b))));
  return item;
}

function noShowActions(b: MerchantBooking, busy: boolean): HTMLElement {
  const fee = noShowFeeText(b);
  const actions = el("div", "row-actions");
  const node = el("button", "danger", "Mark no-show");
  node.type = "button";
  node.dataset.action = "no-show";
  node.dataset.bookingId = idOf(b);
  node.dataset.focusKey = `no-show:${idOf(b)}`;
  node.setAttribute("aria-label", `Mark ${summary(b)} as a no-show and charge the fee of ${fee}`);
  node.disabled = busy;
  actions.append(el("span", "fee", `No-show fee: ${fee}`), node);
  return actions;
}

function fill(list: HTMLUListElement, items: HTMLLIElement[], empty: string): void {
  list.replaceChildren(...(items.length > 0 ? items : [el("li", "empty", empty)]));
}

/** "3 waiting tonight, 11 later": the pending requests of tonight and of every later day. */
export function countersText(waitingTonight: number, waitingLater: number): string {
  return `${waitingTonight} waiting tonight, ${waitingLater} later`;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** One later day: a collapsed <details> whose summary counts its requests and bookings. */
function laterDay(key: string, day: MerchantBooking[], input: RenderInput): HTMLDetailsElement {
  const pending = day.filter(isPending);
  const others = day.filter((b) => !isPending(b));
  const group = el("details", "day");
  group.dataset.day = key;
  group.open = input.openDays.has(key);
  const summaryLine = el("summary");
  const counts = [pending.length > 0 ? `${pending.length} waiting` : "", plural(others.length, "booking", "bookings")].filter(Boolean);
  summaryLine.append(el("span", "day-name", formatDay(startSecOf(day[0]!))), el("span", "day-counts", counts.join(", ")));
  summaryLine.dataset.focusKey = `day:${key}`;
  group.append(summaryLine);
  if (pending.length > 0) {
    const cards = el("ul", "cards");
    cards.setAttribute("aria-label", `Requests waiting for you on ${formatDay(startSecOf(day[0]!))}`);
    cards.append(...pending.map((b) => pendingCard(b, input)));
    group.append(cards);
  }
  if (others.length > 0) {
    const rows = el("ul", "rows");
    rows.setAttribute("aria-label", `Bookings on ${formatDay(startSecOf(day[0]!))}`);
    rows.append(...others.map((b) => row(b, input)));
    group.append(rows);
  }
  return group;
}

export function renderLists(lists: Lists, input: RenderInput): void {
  const { tonight } = input;
  const isTonight = (b: MerchantBooking) => startSecOf(b) >= tonight.startSec && startSecOf(b) < tonight.endSec;
  const tonightBookings = input.bookings.filter(isTonight);
  const pending = tonightBookings.filter(isPending);
  fill(lists.pending, pending.map((b) => pendingCard(b, input)), "No requests are waiting for you tonight.");
  fill(lists.today, tonightBookings.filter((b) => !isPending(b)).map((b) => row(b, input)), "No bookings tonight yet.");
  lists.tonightTitle.textContent = `Tonight, ${formatDay(tonight.startSec + 12 * 3600)}`;

  const days = new Map<string, MerchantBooking[]>();
  for (const b of input.bookings) {
    if (startSecOf(b) < tonight.endSec) continue;
    const key = serviceDayOf(startSecOf(b), input.timeZone);
    days.set(key, [...(days.get(key) ?? []), b]);
  }
  const groups = [...days].map(([key, day]) => laterDay(key, day, input));
  lists.later.replaceChildren(...(groups.length > 0 ? groups : [el("p", "empty", "Nothing booked on later days.")]));
  const waitingLater = input.bookings.filter((b) => !isTonight(b) && isPending(b)).length;
  lists.counters.textContent = countersText(pending.length, waitingLater);
}

/** Moves the "declines automatically in ..." lines and their colours on, without redrawing anything else. */
export function tickDeadlines(root: ParentNode, nowMs: number): void {
  for (const node of root.querySelectorAll<HTMLElement>(".deadline[data-deadline]")) showDeadline(node, nowMs);
}
