// How urgent a pending request's auto-decline is: the one rule the panel
// colours countdowns by. The deadline itself is the server's
// (decisionDeadlineSec: the decision window, or the slot's start if that
// comes first); the panel only says how near it is.

export type Urgency = "calm" | "soon" | "urgent";

/** Amber from this long before the deadline. */
export const soonWithinSec = 60 * 60;
/** Red from this long before the deadline. */
export const urgentWithinSec = 15 * 60;

/** "calm" more than an hour before the deadline, "soon" within the hour, "urgent" within 15 minutes (and after it). */
export function urgencyOf(deadlineSec: number, nowMs: number): Urgency {
  const left = deadlineSec - nowMs / 1000;
  if (left <= urgentWithinSec) return "urgent";
  if (left <= soonWithinSec) return "soon";
  return "calm";
}
