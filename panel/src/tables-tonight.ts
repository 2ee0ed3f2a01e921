// How tonight's tables are drawn and said: per slot what is booked online,
// taken in house and open, with its "Walk-in" and "Free a spot" buttons
// (tables-controls.ts sends them), and what Google is told after a change.
import type { SlotState } from "./api";
import { formatTime, partyText } from "./format";

/** A slot's key in the page: service, start, duration and party (what AdjustSpots names it by). */
export function slotKey(slot: SlotState): string {
  const r = slot.resources;
  return [slot.serviceId, slot.startSec, slot.durationSec, r?.staffId ?? "", r?.roomId ?? "", r?.partySize ?? 0].join("|");
}

/** "20:00 table for 2 (Dinner)": one slot in words. */
export function slotText(slot: SlotState, serviceName: (serviceId: string) => string): string {
  const party = slot.resources?.partySize ? ` for ${slot.resources.partySize}` : "";
  return `${formatTime(Number(slot.startSec))} table${party} (${serviceName(slot.serviceId)})`;
}

/** What Google is told once a slot has `open` spots: its availability update, in words. */
export function googleHears(open: bigint): string {
  return open > 0n ? `Google is told ${open} ${open === 1n ? "spot is" : "spots are"} open.` : "Google is told it is full: no more bookings.";
}

function button(label: string, action: string, key: string, ariaLabel: string, disabled: boolean): HTMLButtonElement {
  const node = document.createElement("button");
  node.type = "button";
  node.textContent = label;
  node.dataset.slotAction = action;
  node.dataset.slotKey = key;
  node.dataset.focusKey = `${action}:${key}`;
  node.setAttribute("aria-label", ariaLabel);
  node.disabled = disabled;
  return node;
}

/** One row per slot of tonight: when, party, booked / open, and its two controls. */
export function renderTables(
  list: HTMLUListElement,
  slots: SlotState[],
  serviceName: (serviceId: string) => string,
  busy: ReadonlySet<string>,
): void {
  const rows = slots.map((slot) => {
    const key = slotKey(slot);
    const what = slotText(slot, serviceName);
    const item = document.createElement("li");
    item.className = "row table";
    item.dataset.slotKey = key;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = formatTime(Number(slot.startSec));
    const party = document.createElement("span");
    party.className = "who";
    party.textContent = `${partyText(slot.resources?.partySize ?? 0) || "Table"} · ${serviceName(slot.serviceId)}`;
    const spots = document.createElement("span");
    spots.className = "what spots";
    // Walk-ins, phone bookings and a closed evening are all "taken in house": spots Google may not book.
    spots.textContent = `${slot.spotsHeldByBookings} booked online, ${slot.spotsTakenElsewhere} taken in house, ${slot.spotsOpen} open of ${slot.spotsTotal}`;
    const actions = document.createElement("div");
    actions.className = "row-actions";
    actions.append(
      button("Free a spot", "give-back", key, `Free a spot of the ${what}`, busy.has(key) || slot.spotsTakenElsewhere <= 0n),
      button("Walk-in", "take", key, `Walk-in: take a spot of the ${what}`, busy.has(key) || slot.spotsOpen <= 0n),
    );
    item.append(when, party, spots, actions);
    return item;
  });
  if (rows.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No tables tonight.";
    rows.push(empty);
  }
  list.replaceChildren(...rows);
}

/** The slots of tonight still to start that Google may book: what "Close the rest of tonight" would close. */
export const stillOpen = (slots: SlotState[], nowSec: number) => slots.filter((s) => Number(s.startSec) >= nowSec && s.spotsOpen > 0n);
