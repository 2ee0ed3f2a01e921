import { ConfirmationMode } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { FeedSlot } from "./feed-slots.js";

/**
 * Hands out the feed's slots to the checks, each slot to one check only, so
 * that what a check sees of a slot's availability is what it did to it.
 *
 * Only slots the checker may book are handed out: listed in the feed, taking
 * no payment of their own, and starting at least `leadSec` from now (far
 * enough for a cancellation window: every booking is cancelled at the end).
 */
export interface SlotNeed {
  /** Confirmed at once (SYNCHRONOUS or unspecified), or booked pending the merchant (ASYNCHRONOUS). */
  mode: "synchronous" | "asynchronous";
  /** Open spots the check needs, at least. */
  minOpen: number;
  /** At most (the fewer, the sooner a few bookings fill the slot). */
  maxOpen?: number;
  /** Among the slots that qualify, the one with the fewest open spots (default: the earliest). */
  fewest?: boolean;
}

/** Default lead: two days, past the cancellation windows feeds usually set. */
export const defaultLeadSec = 48 * 3600;

export class SlotPicker {
  private readonly free: FeedSlot[];
  private readonly listed: Set<string>;

  constructor(slots: readonly FeedSlot[], nowSec: number, leadSec = defaultLeadSec) {
    this.listed = new Set(slots.map(startKey));
    this.free = slots
      .filter((slot) => slot.startSec >= nowSec + leadSec && !slot.takesPayment)
      .sort((a, b) => a.startSec - b.startSec);
  }

  /** A slot for `need`, no longer handed out to anyone else; undefined when the feed has none left. */
  take(need: SlotNeed): FeedSlot | undefined {
    const candidates = this.free.filter((slot) => fits(slot, need));
    const chosen = need.fewest ? candidates.reduce<FeedSlot | undefined>((best, slot) => (!best || slot.spotsOpen < best.spotsOpen ? slot : best), undefined) : candidates[0];
    if (chosen) this.remove(chosen);
    return chosen;
  }

  /**
   * Two synchronous slots a booking can move between: same merchant, service,
   * duration and resources, different starts, each with a spot open
   * (preferring one open spot each, so that availability shows the move).
   */
  takeMovePair(): [FeedSlot, FeedSlot] | undefined {
    const open = this.free.filter((slot) => fits(slot, { mode: "synchronous", minOpen: 1 }));
    const byPlace = groupBy(open, (slot) =>
      [slot.merchantId, slot.serviceId, slot.durationSec, slot.staffId, slot.roomId, slot.partySize].join("\u0000"),
    );
    const pairs = [...byPlace.values()].filter((slots) => slots.length >= 2).map((slots) => [slots[0], slots[1]] as [FeedSlot, FeedSlot]);
    const chosen = pairs.find(([a, b]) => a.spotsOpen === 1 && b.spotsOpen === 1) ?? pairs[0];
    if (chosen) chosen.forEach((slot) => this.remove(slot));
    return chosen;
  }

  /**
   * Up to `count` slots of one merchant (the one with the most slots left) to
   * look at without booking, open or not; no check books them afterwards.
   */
  takeLookupSample(count: number): FeedSlot[] {
    const [largest = []] = [...groupBy(this.free, (slot) => slot.merchantId).values()].sort((a, b) => b.length - a.length);
    // A full slot, if the feed lists one, shows whether "not available" is answered too.
    const full = largest.filter((slot) => slot.spotsOpen === 0).slice(0, 1);
    const sample = [...full, ...largest.filter((slot) => slot.spotsOpen > 0).slice(0, count - full.length)];
    sample.forEach((slot) => this.remove(slot));
    return sample;
  }

  /** Whether the feed lists any slot of this merchant and service starting at `startSec`. */
  isListed(merchantId: string, serviceId: string, startSec: number): boolean {
    return this.listed.has(startKey({ merchantId, serviceId, startSec }));
  }

  /** A start time near `slot`'s that the feed lists for none of its merchant's service's slots. */
  unlistedStartNear(slot: FeedSlot): number {
    let startSec = slot.startSec + 1;
    while (this.isListed(slot.merchantId, slot.serviceId, startSec)) startSec += 1;
    return startSec;
  }

  private remove(slot: FeedSlot): void {
    this.free.splice(this.free.indexOf(slot), 1);
  }
}

function fits(slot: FeedSlot, need: SlotNeed): boolean {
  const asynchronous = slot.confirmationMode === ConfirmationMode.ASYNCHRONOUS;
  return (
    asynchronous === (need.mode === "asynchronous") &&
    slot.spotsOpen >= need.minOpen &&
    (need.maxOpen === undefined || slot.spotsOpen <= need.maxOpen)
  );
}

function groupBy(slots: readonly FeedSlot[], key: (slot: FeedSlot) => string): Map<string, FeedSlot[]> {
  const groups = new Map<string, FeedSlot[]>();
  for (const slot of slots) {
    const group = groups.get(key(slot));
    if (group) group.push(slot);
    else groups.set(key(slot), [slot]);
  }
  return groups;
}

function startKey(slot: Pick<FeedSlot, "merchantId" | "serviceId" | "startSec">): string {
  return `${slot.merchantId}\u0000${slot.serviceId}\u0000${slot.startSec}`;
}
