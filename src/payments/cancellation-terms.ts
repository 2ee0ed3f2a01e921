import type { PaymentPolicy } from "./payment-policy.js";

/**
 * What a user's cancellation of a booking leads to under the slot's payment
 * policy (payment-policy.ts): whether it is allowed online, and what happens
 * to the deposit, the no-show fee and a prepayment. Pure, no I/O.
 *
 * Sources: the payments seed (/work/shared/seeds/004_a481d30afb9907b4.txt,
 * cited below as "seed L<n>") and the spec's §5.
 */

export interface CancellationOutcome {
  /** Whether the user may cancel online now. */
  allowed: boolean;
  /** Whether the deposit (if any) is refunded on this cancellation. */
  refundDeposit: boolean;
  /** Whether the no-show fee is charged for cancelling inside the window. */
  chargeLateCancelFee: boolean;
  /** How much of a prepayment goes back, 0 to 100 (0 when the cancellation is not allowed). */
  prepaymentRefundPercent: number;
  /** The last second at which cancelling online is free (inclusive). */
  deadlineSec: number;
}

/**
 * What a user's cancellation at `nowSec` of a slot starting at `slotStartSec`
 * leads to (spec §5, seed L64, L75, L113, L135–L145, L170):
 *
 * - The online cancellation deadline is `last_online_cancellable_sec` when the
 *   slot gives it, else the slot start minus `min_advance_online_canceling`,
 *   else ("no window given") the slot start (seed L64). Cancelling at or before
 *   the deadline is free; after it is "inside the window".
 * - Inside the window: with a no-show fee the cancellation goes through and the
 *   fee is charged ("the fee may be charged on no-show or on cancellation
 *   inside the window", seed L113); without one it is refused.
 * - A deposit is refunded only when the cancellation goes through at least
 *   `min_advance_cancellation_sec` before the start (seed L139–L144); the
 *   deposit's window is separate from the online cancellation window.
 * - A prepayment goes back in full on a cancellation that goes through,
 *   unless the service's `cancellation_policy.refund_conditions` say
 *   otherwise: then the highest `refund_percent` among the conditions whose
 *   `min_duration_before_start_time` the cancellation still meets, and
 *   nothing when it meets none.
 */
export function cancellationOutcome(
  policy: PaymentPolicy,
  { nowSec, slotStartSec }: { nowSec: number; slotStartSec: number },
): CancellationOutcome {
  const { lastOnlineCancellableSec, minAdvanceOnlineCancelingSec } = policy.cancellation;
  const deadlineSec = lastOnlineCancellableSec ?? slotStartSec - (minAdvanceOnlineCancelingSec ?? 0);
  const inTime = nowSec <= deadlineSec;
  const chargeLateCancelFee = !inTime && policy.noShowFee !== undefined;
  const allowed = inTime || chargeLateCancelFee;
  const refundDeposit =
    allowed && policy.deposit !== undefined && BigInt(slotStartSec) - BigInt(nowSec) >= policy.deposit.minAdvanceCancellationSec;
  const noticeSec = slotStartSec - nowSec;
  const conditions = policy.cancellation.refundConditions;
  const prepaymentRefundPercent = !allowed
    ? 0
    : conditions === undefined
      ? 100
      : Math.max(0, ...conditions.filter((c) => noticeSec >= c.minBeforeStartSec).map((c) => c.refundPercent));
  return { allowed, refundDeposit, chargeLateCancelFee, prepaymentRefundPercent, deadlineSec };
}
