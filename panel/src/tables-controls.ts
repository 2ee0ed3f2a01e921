// The controls of tonight's tables: reads tonight's slots, seats a walk-in
// or frees a spot (AdjustSpots), closes the rest of tonight (CloseAvailability,
// after its confirmation step), and says what Google is told. The page it
// lives in gives it the sign-in, the time zone and its message lines.
import { adjustSpot, closeSlots, describeFailure, listSlots, type SlotState } from "./api";
import { confirmStep } from "./confirm-step";
import { serviceNameFor as serviceName } from "./render";
import { serviceDayAround } from "./service-day";
import type { Session } from "./session";
import { googleHears, renderTables, slotKey, slotText, stillOpen } from "./tables-tonight";

/** What the tables need of the page around them. */
export interface TablesHost {
  list: HTMLUListElement;
  closeRest: HTMLButtonElement;
  session(): Session | undefined;
  /** Bumped on every sign-in and sign-out: answers to older calls are dropped. */
  generation(): number;
  /** The merchant's IANA time zone ("" for the browser's). */
  timeZone(): string;
  say(text: string): void;
  complain(text: string): void;
  signOut(problem: string): void;
}

/** Wires the tables' buttons; answers how to read them again and how to forget them on sign-out. */
export function tablesTonight(host: TablesHost): { refresh(current: Session, endSec: number): Promise<void>; clear(): void } {
  /** Tonight's slots as last read, and those with a walk-in or its undo under way. */
  let slots: SlotState[] = [];
  const slotsBusy = new Set<string>();

  function draw(): void {
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
    renderTables(host.list, slots, serviceName, slotsBusy);
    host.closeRest.disabled = stillOpen(slots, Math.floor(Date.now() / 1000)).length === 0;
    if (focused) document.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  }

  /** Reads tonight's slots that have not ended (ListAvailability). */
  async function refresh(current: Session, endSec: number): Promise<void> {
    const asked = host.generation();
    const fresh = await listSlots(current, Math.floor(Date.now() / 1000) - 4 * 3600, endSec);
    if (asked !== host.generation()) return;
    slots = fresh;
    draw();
  }

  /** A walk-in (take a spot) or its undo (free a spot): undone by the other, so no confirmation step; says what Google is told. */
  async function onSlotAction(way: "take" | "give-back", key: string): Promise<void> {
    const current = host.session();
    const slot = slots.find((s) => slotKey(s) === key);
    if (!current || !slot || slotsBusy.has(key)) return;
    const asked = host.generation();
    slotsBusy.add(key);
    draw();
    try {
      const after = await adjustSpot(current, slot, way);
      if (asked !== host.generation()) return;
      const what = slotText(slot, serviceName);
      host.say(`${way === "take" ? "Walk-in seated" : "Spot freed"}: ${what}. ${googleHears(after?.spotsOpen ?? 0n)}`);
    } catch (error) {
      if (asked !== host.generation()) return;
      const failure = describeFailure(error);
      if (failure.kind === "signed-out") return host.signOut(failure.message);
      host.complain(failure.message);
    } finally {
      slotsBusy.delete(key);
    }
    await refresh(current, serviceDayAround(Math.floor(Date.now() / 1000), host.timeZone()).endSec);
  }

  /** Closes every slot of tonight still to start, after a confirmation step that says what Google is told. */
  async function onCloseRest(): Promise<void> {
    const current = host.session();
    if (!current) return;
    const nowSec = Math.floor(Date.now() / 1000);
    const { endSec } = serviceDayAround(nowSec, host.timeZone());
    const open = stillOpen(slots, nowSec);
    const spots = open.reduce((sum, s) => sum + s.spotsOpen, 0n);
    const yes = await confirmStep(
      "Close the rest of tonight?",
      `${open.length} ${open.length === 1 ? "table" : "tables"} still to start tonight have ${spots} open ${spots === 1n ? "spot" : "spots"}. ` +
        "Google is told they are full: no new bookings tonight. Bookings already made stay. The panel cannot reopen them.",
      "Yes, close tonight",
    );
    if (!yes || host.session() !== current) return;
    const asked = host.generation();
    try {
      const closed = await closeSlots(current, nowSec, endSec);
      if (asked !== host.generation()) return;
      host.say(`Closed the rest of tonight: ${closed} ${closed === 1 ? "table" : "tables"} no longer bookable. Google is told they are full.`);
    } catch (error) {
      if (asked !== host.generation()) return;
      const failure = describeFailure(error);
      if (failure.kind === "signed-out") return host.signOut(failure.message);
      host.complain(failure.message);
    }
    await refresh(current, endSec);
  }

  host.list.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLButtonElement>("button[data-slot-action]");
    if (target?.dataset.slotKey) void onSlotAction(target.dataset.slotAction as "take" | "give-back", target.dataset.slotKey);
  });
  host.closeRest.addEventListener("click", () => void onCloseRest());

  return {
    refresh,
    clear() {
      slots = [];
      slotsBusy.clear();
      host.list.replaceChildren();
    },
  };
}
