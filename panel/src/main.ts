// The host panel: sign in, keep the list fresh (polling), decide on requests,
// mark no-shows.
import { BookingStatus, decide, describeFailure, listBookings, markNoShow, type Action, type MerchantBooking, type PageCache } from "./api";
import { confirmStep } from "./confirm-step";
import { formatClock, statusName, useTimeZone } from "./format";
import { idOf, isPending, noShowFeeText, renderLists, signature, summary, tickDeadlines, useServiceNames, type Lists } from "./render";
import { serviceDayAround } from "./service-day";
import { tablesTonight } from "./tables-controls";
import { clearSession, loadSession, saveSession, type Session } from "./session";

const pollMs = 3000;

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const page = {
  who: byId<HTMLParagraphElement>("who"),
  signOut: byId<HTMLButtonElement>("sign-out"),
  notice: byId<HTMLParagraphElement>("notice"),
  problem: byId<HTMLParagraphElement>("problem"),
  signIn: byId<HTMLFormElement>("sign-in"),
  merchantId: byId<HTMLInputElement>("merchant-id"),
  token: byId<HTMLInputElement>("token"),
  bookings: byId<HTMLDivElement>("bookings"),
  updated: byId<HTMLParagraphElement>("updated"),
};
const lists: Lists = {
  counters: byId<HTMLParagraphElement>("counters"),
  tonightTitle: byId<HTMLHeadingElement>("tonight-title"),
  pending: byId<HTMLUListElement>("pending"),
  today: byId<HTMLUListElement>("today"),
  later: byId<HTMLDivElement>("later-days"),
};


let session: Session | undefined;
/** Bumped on every sign-in and sign-out: answers to older calls are dropped. */
let generation = 0;
let bookings: MerchantBooking[] | undefined;
/** The merchant's time zone as the server names it ("" until known, or when it cannot tell: the browser's). */
let timeZone = "";
let pages: PageCache = new Map();
const openDays = new Set<string>();
/** Tonight's slots are read again every this many refreshes (and after every change made here). */
const tablesEvery = 5;
let refreshes = 0;
let drawn = "";
let pollTimer: number | undefined;
const notes = new Map<string, string>();
const tables = tablesTonight({
  list: byId<HTMLUListElement>("tables"),
  closeRest: byId<HTMLButtonElement>("close-rest"),
  session: () => session,
  generation: () => generation,
  timeZone: () => timeZone,
  say: (text) => say(text),
  complain: (text) => complain(text),
  signOut: (problem) => signOut(problem),
});
const busy = new Set<string>();

function say(text: string): void {
  page.notice.hidden = !text;
  page.notice.textContent = text;
}

/** What the problem line is about: a failed refresh clears when a refresh works again; the rest stays until the next action. */
let problemFrom: "refresh" | "action" = "action";

function complain(text: string, from: "refresh" | "action" = "action"): void {
  problemFrom = from;
  if (page.problem.textContent === text && page.problem.hidden === !text) return;
  page.problem.hidden = !text;
  page.problem.textContent = text;
}

/** Redraws the lists when anything in them changed, keeping keyboard focus where it was. */
function draw(): void {
  if (!bookings) return;
  const nowMs = Date.now();
  const input = { bookings, tonight: serviceDayAround(Math.floor(nowMs / 1000), timeZone), timeZone, notes, busy, openDays, nowMs };
  const next = signature(input);
  if (next === drawn) return;
  const focused = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
  renderLists(lists, input);
  drawn = next;
  if (focused) document.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
}

function loading(): HTMLLIElement {
  const item = document.createElement("li");
  item.className = "empty";
  item.textContent = "Loading…";
  return item;
}

function showSignIn(problem = "", merchantId = ""): void {
  page.signIn.hidden = false;
  page.bookings.hidden = true;
  page.signOut.hidden = true;
  page.who.hidden = true;
  complain(problem);
  if (merchantId) page.merchantId.value = merchantId;
  page.token.value = "";
  (page.merchantId.value ? page.token : page.merchantId).focus();
}

function showBookings(current: Session): void {
  page.signIn.hidden = true;
  page.bookings.hidden = false;
  page.signOut.hidden = false;
  page.who.hidden = false;
  page.who.textContent = `Signed in as ${current.merchantId}`;
}

function signOut(problem = ""): void {
  const merchantId = session?.merchantId;
  session = undefined;
  clearSession();
  generation++;
  window.clearTimeout(pollTimer);
  bookings = undefined;
  timeZone = "";
  pages = new Map();
  openDays.clear();
  tables.clear();
  refreshes = 0;
  drawn = "";
  notes.clear();
  busy.clear();
  for (const list of [lists.pending, lists.today, lists.later, lists.counters]) list.replaceChildren();
  showSignIn(problem, merchantId);
}

/** Reads the list once; answers false when the page had to sign out. */
async function refresh(): Promise<boolean> {
  const current = session;
  if (!current) return false;
  const asked = generation;
  try {
    const tonight = serviceDayAround(Math.floor(Date.now() / 1000), timeZone);
    // Two windows, each with its etag: a change tonight does not resend the later days, nor the other way round.
    // Every later day is read: a request far ahead still waits for a decision (its day is collapsed, not left out).
    const [now, later] = await Promise.all([
      listBookings(current, tonight.startSec, tonight.endSec, pages),
      listBookings(current, tonight.endSec, 0, pages),
    ]);
    if (asked !== generation) return false;
    const fresh = [...now.bookings, ...later.bookings];
    useServiceNames({ ...later.serviceNames, ...now.serviceNames });
    const merchantName = now.merchantName || later.merchantName;
    page.who.textContent = merchantName ? `${merchantName} (${current.merchantId})` : `Signed in as ${current.merchantId}`;
    const zone = now.timeZone || later.timeZone;
    if (zone !== timeZone) {
      timeZone = zone;
      useTimeZone(zone);
      // The service day may lie elsewhere in that zone: read it again there.
      if (zone) return refresh();
    }
    if (bookings) {
      const known = new Set(bookings.map(idOf));
      const arrived = fresh.filter((b) => isPending(b) && !known.has(idOf(b)));
      if (arrived.length > 0) say(arrived.map((b) => `New request: ${summary(b)}.`).join(" "));
    }
    bookings = fresh;
    draw();
    if (refreshes++ % tablesEvery === 0) await tables.refresh(current, tonight.endSec);
    if (problemFrom === "refresh" && !page.problem.hidden) {
      complain("");
      say("Connected again.");
    }
    page.updated.textContent = `Updated at ${formatClock(new Date())}; refreshes every ${pollMs / 1000} s.`;
    return true;
  } catch (error) {
    if (asked !== generation) return false;
    const failure = describeFailure(error);
    if (failure.kind === "signed-out") {
      signOut(failure.message);
      return false;
    }
    complain(failure.message, "refresh");
    return true;
  }
}

/** Polls every few seconds for as long as the same sign-in lasts. */
function poll(): void {
  const asked = generation;
  window.clearTimeout(pollTimer);
  pollTimer = window.setTimeout(async () => {
    if (asked !== generation) return;
    if (await refresh()) poll();
  }, pollMs);
}

async function signIn(next: Session): Promise<void> {
  session = next;
  generation++;
  saveSession(next);
  say("");
  complain("");
  showBookings(next);
  for (const list of [lists.pending, lists.today]) list.replaceChildren(loading());
  if (await refresh()) poll();
}

/** The confirmation step's words for each action on one booking. */
function askFor(action: Action, booking: MerchantBooking): { title: string; text: string; yes: string } {
  const what = summary(booking);
  switch (action) {
    case "confirm":
      return { title: "Confirm this request?", text: `${what}. The guest is told right away that the booking is confirmed.`, yes: "Yes, confirm" };
    case "decline":
      return {
        title: "Decline this request?",
        text: `${what}. The guest is told right away that you declined, and the table is free again.`,
        yes: "Yes, decline",
      };
    case "no-show":
      return {
        title: `Charge the no-show fee of ${noShowFeeText(booking)}?`,
        text: `${what}. The guest did not come: the booking is marked as a no-show and the fee is charged on the card they gave when booking.`,
        yes: "Yes, mark no-show",
      };
  }
}

/** Sends the action; answers what to say when it worked. */
async function send(current: Session, action: Action, booking: MerchantBooking): Promise<string> {
  const bookingId = idOf(booking);
  const what = summary(booking);
  const fee = noShowFeeText(booking);
  const shown = () => bookings?.find((b) => idOf(b) === bookingId);
  if (action !== "no-show") {
    const changed = await decide(current, action, bookingId);
    // Show the new status at once; the refresh afterwards brings the rest.
    const now = shown();
    if (now && changed) now.booking = changed;
    return action === "confirm" ? `Confirmed: ${what}.` : `Declined: ${what}.`;
  }
  const { booking: changed, feeFailure } = await markNoShow(current, bookingId);
  const now = shown();
  if (now && changed) now.booking = changed;
  if (changed?.status === BookingStatus.NO_SHOW_PENALIZED) return `Marked as a no-show: ${what}. The fee of ${fee} was charged.`;
  const why = feeFailure ? `The no-show fee of ${fee} could not be charged: ${feeFailure}.` : `No fee was charged.`;
  notes.set(bookingId, why);
  return `Marked as a no-show: ${what}. ${why}`;
}

async function onAction(action: Action, bookingId: string): Promise<void> {
  const current = session;
  const booking = bookings?.find((b) => idOf(b) === bookingId);
  if (!current || !booking || busy.has(bookingId)) return;
  const what = summary(booking);
  const ask = askFor(action, booking);
  const yes = await confirmStep(ask.title, ask.text, ask.yes);
  if (!yes || session !== current) return;
  const asked = generation;
  const statusBefore = booking.booking?.status;
  busy.add(bookingId);
  notes.delete(bookingId);
  complain("");
  draw();
  try {
    const done = await send(current, action, booking);
    if (asked !== generation) return;
    say(done);
  } catch (error) {
    if (asked !== generation) return;
    const failure = describeFailure(error);
    if (failure.kind === "signed-out") return signOut(failure.message);
    if (failure.kind === "changed") {
      busy.delete(bookingId);
      await refresh();
      const now = bookings?.find((b) => idOf(b) === bookingId)?.booking?.status;
      let text: string;
      if (action === "no-show" && now !== undefined && now === statusBefore) {
        // Nothing changed: the server says why not (e.g. its clock says the slot has not started).
        text = `This booking cannot be marked as a no-show yet: ${failure.message}.`;
      } else {
        const named = now !== undefined ? statusName(now) : /is ([A-Z_]+)/.exec(failure.message)?.[1];
        text = `This booking changed meanwhile: it is now ${named ?? "different"}.`;
      }
      notes.set(bookingId, text);
      complain(`${what}: ${text}`);
    } else {
      complain(failure.message);
    }
  } finally {
    busy.delete(bookingId);
  }
  if (asked !== generation) return;
  draw();
  await refresh();
  // Keep the keyboard user's place: the booking (now a row further down, or still a card).
  document.querySelector<HTMLElement>(`li[data-booking-id="${CSS.escape(bookingId)}"]`)?.focus();
}

page.signIn.addEventListener("submit", (event) => {
  event.preventDefault();
  const merchantId = page.merchantId.value.trim();
  const token = page.token.value.trim();
  if (merchantId && token) void signIn({ merchantId, token });
});

page.signOut.addEventListener("click", () => {
  signOut();
  say("Signed out.");
});

// Confirm and Decline on the request cards, Mark no-show on today's rows.
page.bookings.addEventListener("click", (event) => {
  const target = (event.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
  if (target?.dataset.bookingId) void onAction(target.dataset.action as Action, target.dataset.bookingId);
});

// A later day the host opens stays open across refreshes.
page.bookings.addEventListener("toggle", (event) => {
  const day = event.target instanceof HTMLDetailsElement ? event.target.dataset.day : undefined;
  if (!day) return;
  if ((event.target as HTMLDetailsElement).open) openDays.add(day);
  else openDays.delete(day);
}, true);

window.setInterval(() => tickDeadlines(page.bookings, Date.now()), 1000);

// Never a blank page: whatever breaks is said in words.
window.addEventListener("error", (event) => complain(`Something went wrong in the page: ${event.message}`));
window.addEventListener("unhandledrejection", (event) => complain(`Something went wrong in the page: ${String(event.reason)}`));

document.getElementById("starting")?.remove();
const saved = loadSession();
if (saved) void signIn(saved);
else showSignIn();
