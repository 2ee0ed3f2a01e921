// The host panel: sign in, keep the list fresh (polling), decide on requests.
import { decide, describeFailure, listBookings, type Decision, type MerchantBooking } from "./api";
import { confirmStep } from "./confirm-step";
import { formatClock, statusName } from "./format";
import { idOf, isPending, renderLists, signature, summary, tickDeadlines, type Lists } from "./render";
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
  pending: byId<HTMLUListElement>("pending"),
  today: byId<HTMLUListElement>("today"),
  upcoming: byId<HTMLUListElement>("upcoming"),
};

let session: Session | undefined;
/** Bumped on every sign-in and sign-out: answers to older calls are dropped. */
let generation = 0;
let bookings: MerchantBooking[] | undefined;
let drawn = "";
let pollTimer: number | undefined;
const notes = new Map<string, string>();
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

function endOfTodaySec(): number {
  const midnight = new Date();
  midnight.setHours(24, 0, 0, 0);
  return Math.floor(midnight.getTime() / 1000);
}

function startOfTodaySec(): number {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  return Math.floor(midnight.getTime() / 1000);
}

/** Redraws the lists when anything in them changed, keeping keyboard focus where it was. */
function draw(): void {
  if (!bookings) return;
  const input = { bookings, endOfTodaySec: endOfTodaySec(), notes, busy, nowMs: Date.now() };
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
  drawn = "";
  notes.clear();
  busy.clear();
  for (const list of Object.values(lists)) list.replaceChildren();
  showSignIn(problem, merchantId);
}

/** Reads the list once; answers false when the page had to sign out. */
async function refresh(): Promise<boolean> {
  const current = session;
  if (!current) return false;
  const asked = generation;
  try {
    const fresh = await listBookings(current, startOfTodaySec());
    if (asked !== generation) return false;
    if (bookings) {
      const known = new Set(bookings.map(idOf));
      const arrived = fresh.filter((b) => isPending(b) && !known.has(idOf(b)));
      if (arrived.length > 0) say(arrived.map((b) => `New request: ${summary(b)}.`).join(" "));
    }
    bookings = fresh;
    draw();
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
  for (const list of Object.values(lists)) list.replaceChildren(loading());
  if (await refresh()) poll();
}

async function onDecision(decision: Decision, bookingId: string): Promise<void> {
  const current = session;
  const booking = bookings?.find((b) => idOf(b) === bookingId);
  if (!current || !booking || busy.has(bookingId)) return;
  const what = summary(booking);
  const yes = await confirmStep(
    decision === "confirm" ? "Confirm this request?" : "Decline this request?",
    decision === "confirm"
      ? `${what}. The guest is told right away that the booking is confirmed.`
      : `${what}. The guest is told right away that you declined, and the table is free again.`,
    decision === "confirm" ? "Yes, confirm" : "Yes, decline",
  );
  if (!yes || session !== current) return;
  const asked = generation;
  busy.add(bookingId);
  notes.delete(bookingId);
  complain("");
  draw();
  try {
    const changed = await decide(current, decision, bookingId);
    if (asked !== generation) return;
    // Show the new status at once; the refresh below brings the rest.
    const shown = bookings?.find((b) => idOf(b) === bookingId);
    if (shown && changed) shown.booking = changed;
    say(decision === "confirm" ? `Confirmed: ${what}.` : `Declined: ${what}.`);
  } catch (error) {
    if (asked !== generation) return;
    const failure = describeFailure(error);
    if (failure.kind === "signed-out") return signOut(failure.message);
    if (failure.kind === "changed") {
      busy.delete(bookingId);
      await refresh();
      const now = bookings?.find((b) => idOf(b) === bookingId)?.booking?.status;
      const named = now !== undefined ? statusName(now) : /is ([A-Z_]+)/.exec(failure.message)?.[1];
      const text = `This booking changed meanwhile: it is now ${named ?? "different"}.`;
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

lists.pending.addEventListener("click", (event) => {
  const target = (event.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
  if (target?.dataset.bookingId) void onDecision(target.dataset.action as Decision, target.dataset.bookingId);
});

window.setInterval(() => tickDeadlines(lists.pending, Date.now()), 1000);

// Never a blank page: whatever breaks is said in words.
window.addEventListener("error", (event) => complain(`Something went wrong in the page: ${event.message}`));
window.addEventListener("unhandledrejection", (event) => complain(`Something went wrong in the page: ${String(event.reason)}`));

document.getElementById("starting")?.remove();
const saved = loadSession();
if (saved) void signIn(saved);
else showSignIn();
