import { FieldError } from "../feeds/field-error.js";

/**
 * Google's compressed availability format, expanded into the slots it
 * describes, as "Structuring availability in feeds" explains it
 * (https://developers.google.com/actions-center/verticals/appointments/e2e/reference/feeds/structuring-availability):
 *
 * - a `recurrence` repeats the record's slot (`start_sec`, `duration_sec`)
 *   every `repeat_every_sec` seconds, the last start being at or before
 *   `repeat_until_sec` (inclusive);
 * - each slot has one spot (the format has no spot counts);
 * - a `schedule_exception` is a closed-open `time_range` [begin_sec, end_sec)
 *   with no availability: every slot of the recurrence that overlaps it is
 *   unavailable. Google's example: 20-minute slots every 30 minutes from 9:00
 *   to 11:00 with an exception 9:45-11:00 make 9:30, 10:00 and 10:30
 *   unavailable; 11:00 stays (the range ends where it starts).
 *
 * An unavailable slot is kept as a slot with its spot taken (1 total, 0
 * open), not left out: an import only adds and updates slots, so a slot a
 * former feed opened is closed by the exception instead of staying bookable.
 */

export interface Recurrence {
  repeatEverySec: number;
  /** The latest start, inclusive. */
  repeatUntilSec: number;
}

/** A closed-open range of time with no availability. */
export interface TimeRange {
  beginSec: number;
  endSec: number;
}

/** One slot a recurrence describes: its start, and whether an exception takes its spot. */
export interface RecurringSlot {
  startSec: number;
  open: boolean;
}

/**
 * The most slots one record may expand into. Google means a recurrence to
 * describe one working day (every minute for a week is 10,080 slots); a
 * record beyond this is refused before any slot is made, so a typo in
 * `repeat_every_sec` cannot exhaust memory.
 */
export const maxSlotsPerRecurrence = 10_000;

/**
 * The slots of a record starting at `startSec` that lasts `durationSec` and
 * repeats by `recurrence`, with `exceptions` applied; throws a `FieldError`
 * when the recurrence would end before it starts or make more than
 * `maxSlotsPerRecurrence` slots.
 */
export function expandRecurrence(startSec: number, durationSec: number, recurrence: Recurrence, exceptions: readonly TimeRange[]): RecurringSlot[] {
  const { repeatEverySec, repeatUntilSec } = recurrence;
  if (repeatUntilSec < startSec) {
    throw new FieldError("recurrence.repeat_until_sec", `must not be before start_sec (${startSec}), got ${repeatUntilSec}`);
  }
  const count = Math.floor((repeatUntilSec - startSec) / repeatEverySec) + 1;
  if (count > maxSlotsPerRecurrence) {
    throw new FieldError(
      "recurrence",
      `would make ${count} slots from one record (every ${repeatEverySec} s until ${repeatUntilSec}), more than the ${maxSlotsPerRecurrence} ` +
        "one record may describe: give each day its own record",
    );
  }
  const slots: RecurringSlot[] = [];
  for (let i = 0; i < count; i++) {
    const slotStart = startSec + i * repeatEverySec;
    const slotEnd = slotStart + durationSec;
    slots.push({ startSec: slotStart, open: !exceptions.some((range) => slotStart < range.endSec && slotEnd > range.beginSec) });
  }
  return slots;
}
