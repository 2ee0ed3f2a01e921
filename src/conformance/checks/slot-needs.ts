import { CheckFailure } from "../check.js";
import { defaultLeadSec } from "../slot-picker.js";

/**
 * `slot`, or a failure saying the feed has none for this check: the checker
 * cannot vouch for what it could not try, so a feed without such a slot fails
 * the check (only the optional asynchronous one is skipped instead).
 */
export function needSlot<T>(slot: T | undefined, description: string): T {
  if (slot === undefined) {
    throw new CheckFailure(
      `cannot check: the feed lists no ${description} left for this check ` +
        `(the checker books slots starting ${defaultLeadSec / 3600} h from now or later, without payment terms of their own)`,
    );
  }
  return slot;
}
