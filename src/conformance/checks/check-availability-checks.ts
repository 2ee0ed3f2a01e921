import { CheckAvailabilityResponseSchema } from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { verify, passed, type CheckScope, type ConformanceTest } from "../check.js";
import { describeSlot, type FeedSlot } from "../feed-slots.js";
import { callV3, slotDifferences, slotJson } from "../v3-calls.js";
import { needSlot } from "./slot-needs.js";

/** Slots asked about one by one. */
const sampleSize = 5;

/**
 * `check-availability`: the legacy CheckAvailability (Google's
 * `-check_availability_test`; superseded by BatchAvailabilityLookup, still
 * called by older integrations) echoes the slot and counts its open spots as
 * the feed does; a slot the feed does not list has none.
 */
export const checkAvailabilityTest: ConformanceTest = {
  name: "check-availability",
  summary: "legacy CheckAvailability echoes the slot and counts the feed's open spots; 0 for a slot the feed does not list",
  async run(test) {
    const sample = test.slots.takeLookupSample(sampleSize);
    await test.check("matches-feed", async (scope) => {
      needSlot(sample[0], "slot");
      const problems: string[] = [];
      for (const slot of sample) {
        const { slot: answered, countAvailable } = await checkAvailability(scope, slot);
        const differences = slotDifferences(answered, slot);
        if (differences.length > 0) problems.push(`${describeSlot(slot)}: the answer's slot has ${differences.join(", ")}`);
        if (countAvailable !== slot.spotsOpen) {
          problems.push(`${describeSlot(slot)}: count_available ${countAvailable}, the feed lists ${slot.spotsOpen} open spot(s)`);
        }
      }
      verify(problems.length === 0, problems.join("; "));
      return passed(`${sample.length} slots: echoed, with the feed's open spots`);
    });
    await test.check("unlisted-slot", async (scope) => {
      const listed = needSlot(sample.find((slot) => slot.spotsOpen > 0), "slot with an open spot");
      const unlisted: FeedSlot = { ...listed, startSec: test.slots.unlistedStartNear(listed) };
      const { countAvailable } = await checkAvailability(scope, unlisted);
      verify(countAvailable === 0, `${describeSlot(unlisted)} is not in the feed, yet CheckAvailability counted ${countAvailable} open spot(s)`);
      return passed("a slot the feed does not list has count_available 0");
    });
  },
};

function checkAvailability(scope: CheckScope, slot: FeedSlot) {
  return callV3(scope, "CheckAvailability", { slot: slotJson(slot) }, CheckAvailabilityResponseSchema);
}
