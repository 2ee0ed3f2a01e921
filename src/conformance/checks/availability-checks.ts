import type { SlotTimeAvailability } from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { verify, passed, type ConformanceTest } from "../check.js";
import { describeSlot, type FeedSlot } from "../feed-slots.js";
import { lookUp } from "../v3-calls.js";
import { needSlot } from "./slot-needs.js";

/** Slot times asked about in one BatchAvailabilityLookup (a page load asks for many; a few show the rule). */
const sampleSize = 10;

/**
 * `availability`: BatchAvailabilityLookup answers exactly one entry per slot
 * time asked, echoing it, and `available` as live inventory has it; on a
 * server loaded from this feed that is what the feed says (spec §3.5). A slot
 * time the feed does not list is not available.
 */
export const availabilityTest: ConformanceTest = {
  name: "availability",
  summary: "BatchAvailabilityLookup echoes each slot time, agrees with the feed, and says no to slots the feed does not list",
  async run(test) {
    const sample = test.slots.takeLookupSample(sampleSize);
    await test.check("batch-lookup-matches-feed", async (scope) => {
      needSlot(sample[0], "slot");
      const problems = differencesFromFeed(sample, await lookUp(scope, sample));
      verify(problems.length === 0, problems.join("; "));
      return passed(`${sample.length} slot times of ${sample[0].merchantId}: one echoed answer each, available as the feed says`);
    });
    await test.check("trailing-slash", async (scope) => {
      needSlot(sample[0], "slot");
      const problems = differencesFromFeed(sample, await lookUp(scope, sample, { trailingSlash: true }));
      verify(problems.length === 0, `at /v3/BatchAvailabilityLookup/: ${problems.join("; ")}`);
      return passed("POST /v3/BatchAvailabilityLookup/ answers as the plain path does");
    });
    await test.check("unlisted-slot-unavailable", async (scope) => {
      const listed = needSlot(sample.find((slot) => slot.spotsOpen > 0), "slot with an open spot");
      const unlisted: FeedSlot = { ...listed, startSec: test.slots.unlistedStartNear(listed) };
      const [answer] = await lookUp(scope, [unlisted]);
      verify(!answer.available, `${describeSlot(unlisted)} is not in the feed, yet BatchAvailabilityLookup answered available: true`);
      return passed(`a start ${unlisted.startSec - listed.startSec} s after a listed slot is answered available: false`);
    });
  },
};

/** Where the answers differ from the feed: a slot time not echoed, or `available` not as the feed's open spots say. */
function differencesFromFeed(slots: FeedSlot[], answers: SlotTimeAvailability[]): string[] {
  const problems: string[] = [];
  for (const slot of slots) {
    const answer = answers.find((candidate) => echoes(candidate, slot));
    if (!answer) problems.push(`no slot_time_availability echoes the slot time of ${describeSlot(slot)}`);
    else if (answer.available !== slot.spotsOpen > 0) {
      problems.push(`${describeSlot(slot)} answered available: ${answer.available}, the feed lists ${slot.spotsOpen} open spot(s)`);
    }
  }
  return problems;
}

/** Whether the answer's slot time is the one asked for (its confirmation mode only when the feed gives one). */
function echoes(answer: SlotTimeAvailability, slot: FeedSlot): boolean {
  const time = answer.slotTime;
  return (
    time !== undefined &&
    time.serviceId === slot.serviceId &&
    time.startSec === BigInt(slot.startSec) &&
    time.durationSec === BigInt(slot.durationSec) &&
    time.availabilityTag === slot.availabilityTag &&
    (time.resourceIds?.staffId ?? "") === slot.staffId &&
    (time.resourceIds?.roomId ?? "") === slot.roomId &&
    (time.resourceIds?.partySize ?? 0) === slot.partySize &&
    (slot.confirmationMode === 0 || time.confirmationMode === slot.confirmationMode)
  );
}
