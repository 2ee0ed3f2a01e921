// Draws the bookings: pending requests as cards with their decisions, then
// today's and upcoming bookings as rows with their status (and "Mark no-show"
// on confirmed ones that have started and carry a no-show fee).
import { BookingStatus, PriceType, type Decision, type MerchantBooking } from "./api";
import { autoDeclineText, formatDateTime, formatMoney, formatTime, partyText, statusName, statusText } from "./format";

export interface Lists {
  pending: HTMLUListElement;
  today: HTMLUListElement;
  upcoming: HTMLUListElement;
}

export interface RenderInput {
  bookings: MerchantBooking[];
  /** Local midnight that ends today (seconds since epoch). */
  endOfTodaySec: number;
  /** A line to show on one booking (e.g. "This booking changed meanwhile ..."). */
  notes: ReadonlyMap<string, string>;
  /** Bookings with a decision under way: their buttons are disabled. */
  busy: ReadonlySet<string>;
  nowMs: number;
}

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

/** "Ada Lovelace, 4 guests, Tue 1 Dec, 20:00, dinner": one booking in a line. */
export function summary(b: MerchantBooking): string {
  const slot = b.booking?.slot;
  return [guestName(b), partyText(slot?.resources?.partySize ?? 0), formatDateTime(startSecOf(b)), slot?.serviceId]
    .filter(Boolean)
    .join(", ");
}

/** Everything the lists show, as one string: the page redraws only when it changes. */
export function signature(input: RenderInput): string {
  return JSON.stringify([
    input.endOfTodaySec,
    input.bookings.map((b) => [
      idOf(b),
      b.booking?.status,
      startSecOf(b),
      b.booking?.slot?.serviceId,
      b.booking?.slot?.resources?.partySize,
      guestName(b),
      b.additionalRequest,
      String(b.decisionDeadlineSec),
      noShowFeeText(b),
      mayMarkNoShow(b, input.nowMs),
    ]),
    [...input.notes],
    [...input.busy],
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
  detail(details, "Service", slot?.serviceId ?? "");
  detail(details, "Special request", b.additionalRequest);
  const deadline = el("p", "deadline");
  deadline.dataset.deadline = String(b.decisionDeadlineSec);
  if (b.decisionDeadlineSec > 0n) deadline.textContent = autoDeclineText(Number(b.decisionDeadlineSec), input.nowMs);
  const busy = input.busy.has(idOf(b));
  const actions = el("div", "actions");
  actions.append(button("decline", b, busy), button("confirm", b, busy));
  item.append(title, details, deadline, ...note(input.notes.get(idOf(b))), actions);
  return item;
}

function row(b: MerchantBooking, input: RenderInput, withDate: boolean): HTMLLIElement {
  const slot = b.booking?.slot;
  const status = b.booking?.status ?? BookingStatus.BOOKING_STATUS_UNSPECIFIED;
  const item = el("li", "row");
  item.dataset.bookingId = idOf(b);
  item.dataset.status = statusName(status);
  item.tabIndex = -1;
  const when = el("span", "when", withDate ? formatDateTime(startSecOf(b)) : formatTime(startSecOf(b)));
  const who = el("span", "who", guestName(b));
  const what = el("span", "what", [partyText(slot?.resources?.partySize ?? 0), slot?.serviceId].filter(Boolean).join(" · "));
  const badge = el("span", `badge status-${statusName(status).toLowerCase()}`, statusText(status));
  item.append(when, who, what, badge);
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

export function renderLists(lists: Lists, input: RenderInput): void {
  const pending = input.bookings.filter(isPending);
  const others = input.bookings.filter((b) => !isPending(b));
  fill(lists.pending, pending.map((b) => pendingCard(b, input)), "No requests are waiting for you.");
  fill(
    lists.today,
    others.filter((b) => startSecOf(b) < input.endOfTodaySec).map((b) => row(b, input, false)),
    "No bookings today.",
  );
  fill(
    lists.upcoming,
    others.filter((b) => startSecOf(b) >= input.endOfTodaySec).map((b) => row(b, input, true)),
    "No upcoming bookings.",
  );
}

/** Moves the "declines automatically in ..." lines on, without redrawing anything else. */
export function tickDeadlines(root: ParentNode, nowMs: number): void {
  for (const node of root.querySelectorAll<HTMLElement>(".deadline[data-deadline]")) {
    const deadline = Number(node.dataset.deadline);
    if (deadline <= 0) continue;
    const text = autoDeclineText(deadline, nowMs);
    if (node.textContent !== text) node.textContent = text;
  }
}
