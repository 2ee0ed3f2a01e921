import { create } from "@bufbuild/protobuf";
import {
  BookingFailure_Cause,
  PaymentInformationSchema,
  PaymentInformation_PaymentProcessedBy,
  PriceSchema,
  PrepaymentStatus,
  type Booking,
  type BookingFailure,
  type Price,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { paymentInformationFor } from "../payments/payment-amounts.js";
import type { BookingRecord, Repositories, SlotRecord } from "../store/repositories.js";
import { refundBookingPayments } from "./refund-payments.js";
import { chargeKeptCard, failureFor, keptCardOf, paymentFailure, paymentPlanFor, type PaymentPlan } from "./take-payments.js";
import type { BookingContext } from "./context.js";
import { chargeKind, chargesHeld, recordOwedRefunds } from "./owed-refunds.js";

/**
 * What a move (a new start, duration or party size) means for the booking's
 * money: the destination slot's terms apply, for the new party. What is due
 * there is compared, charge by charge (prepayment, deposit), with what the
 * booking still holds:
 *
 * - more is due: the difference charged on the card kept at booking when
 *   there is one (a further charge, e.g. `deposit#2`); otherwise refused with
 *   PAYMENT_ERROR (Google's UpdateBooking carries no payment token: the user
 *   cancels and books again), and nothing changes;
 * - less is due: the difference is refunded, recorded as owed in the move's
 *   own transaction and made right after it (so a crash never keeps it);
 * - the destination keeps a card (a no-show fee) the booking never gave:
 *   refused the same way, or its fee could never be charged.
 */
export type MoveMoney =
  | { kind: "none" }
  | { kind: "refused"; failure: BookingFailure }
  | {
      kind: "terms";
      plan: PaymentPlan | undefined;
      /** Charges to make on the kept card before the move commits. */
      topUps: TopUp[];
      /** Micros each charge (by operation) may keep after the move; the rest is refunded. */
      keep: Map<string, bigint>;
    };

/** A further prepayment or deposit a move takes on the kept card. */
interface TopUp {
  operation: "prepayment" | "deposit" | `${"prepayment" | "deposit"}#${number}`;
  amount: Price;
}

const settled = ["prepayment", "deposit"] as const;

/** Decides the money of moving `record` to `destination` for `partySize` (reads only). */
export async function moveMoney(ctx: BookingContext, record: BookingRecord, destination: SlotRecord, partySize: number): Promise<MoveMoney> {
  const { booking } = record;
  // Google's own payments are Google's business, as at booking.
  if (booking.paymentInformation?.paymentProcessedBy === PaymentInformation_PaymentProcessedBy.PROCESSED_BY_GOOGLE) return { kind: "none" };
  const { read } = ctx.store;
  const records = await read.payments.forBooking(booking.bookingId);
  const held = chargesHeld(records).filter((charge) => (settled as readonly string[]).includes(chargeKind(charge.charge.operation)));
  const cardKept = (await keptCardOf(read.payments, booking.bookingId)) !== undefined;
  if (!destination.mayTakePayment && held.length === 0) return { kind: "none" };

  // An OPTIONAL prepayment stays what the user chose at booking.
  const prepaid = held.some((charge) => chargeKind(charge.charge.operation) === "prepayment");
  const requested = create(PaymentInformationSchema, {
    prepaymentStatus: prepaid ? PrepaymentStatus.PREPAYMENT_PROVIDED : PrepaymentStatus.PREPAYMENT_NOT_PROVIDED,
  });
  const plan = await paymentPlanFor(read.inventory, destination, partySize, requested);
  const refuse = (description: string): MoveMoney => ({ kind: "refused", failure: paymentFailure(BookingFailure_Cause.PAYMENT_ERROR, description) });
  const topUps: TopUp[] = [];
  const keep = new Map<string, bigint>();
  for (const kind of settled) {
    const due = plan?.charges.find((charge) => charge.operation === kind)?.amount;
    const charges = held.filter((h) => chargeKind(h.charge.operation) === kind);
    const dueMicros = due?.priceMicros ?? 0n;
    const heldMicros = charges.reduce((sum, charge) => sum + charge.heldMicros, 0n);
    if (due && charges.some((charge) => charge.charge.currency !== due.currencyCode)) {
      return refuse(`the new slot's ${kind} is in ${due.currencyCode}, the booking paid in another currency: cancel and book again`);
    }
    // What stays due is kept from the earliest charges on; the rest of them goes back.
    let left = dueMicros;
    for (const charge of charges) {
      const kept = charge.heldMicros < left ? charge.heldMicros : left;
      keep.set(charge.charge.operation, kept);
      left -= kept;
    }
    if (dueMicros <= heldMicros) continue;
    if (!cardKept) {
      return refuse(
        `the change needs a ${kind} of ${format(dueMicros, due!.currencyCode)} and the booking holds ${format(heldMicros, due!.currencyCode)}: ` +
          "there is no payment method to take the difference from; cancel and book again",
      );
    }
    // Each further charge its own operation (`deposit#2`, ...), with its own idempotency key.
    const made = records.filter((record) => chargeKind(record.operation) === kind).length;
    topUps.push({
      operation: made === 0 ? kind : `${kind}#${made + 1}`,
      amount: create(PriceSchema, { priceMicros: dueMicros - heldMicros, currencyCode: due!.currencyCode }),
    });
  }
  if (plan?.storeCard && !cardKept) return refuse("the new slot keeps a card for its fees and this booking gave none: cancel and book again");
  return { kind: "terms", plan, topUps, keep };
}

/** Makes the top-ups before the move commits; a refusal is the move's payment failure. */
export async function takeTopUps(ctx: BookingContext, bookingId: string, money: MoveMoney): Promise<BookingFailure | undefined> {
  if (money.kind !== "terms") return undefined;
  for (const { operation, amount } of money.topUps) {
    const charged = await chargeKeptCard(ctx, bookingId, operation, amount);
    if (charged.declined) {
      await refundTopUps(ctx, bookingId, money);
      return failureFor(charged.declined);
    }
  }
  return undefined;
}

/** Gives the top-ups back: the move they paid for did not commit. */
export async function refundTopUps(ctx: BookingContext, bookingId: string, money: MoveMoney): Promise<void> {
  if (money.kind !== "terms" || money.topUps.length === 0) return;
  const operations = new Set<string>(money.topUps.map((topUp) => topUp.operation));
  await refundBookingPayments(ctx, bookingId, (operation) => operations.has(operation));
}

/**
 * Inside the move's transaction: records the refunds of what is no longer
 * due (owed, made by `settleOwedRefunds`) and the booking's new payment terms
 * (price for the new party, the destination's deposit and fee terms).
 */
export async function applyMoveMoney(tx: Repositories, moved: Booking, partySize: number, money: MoveMoney, nowSec: number): Promise<void> {
  if (money.kind !== "terms") return;
  await recordOwedRefunds(tx, moved.bookingId, nowSec, (held) => money.keep.get(held.charge.operation) ?? held.heldMicros);
  if (!money.plan) return;
  // The prepayment's or deposit's transaction (perhaps a top-up just made), else what the booking echoed (its kept card).
  const charge = chargesHeld(await tx.payments.forBooking(moved.bookingId)).find((held) =>
    (settled as readonly string[]).includes(chargeKind(held.charge.operation)),
  );
  const transactionId = charge?.charge.transactionId || moved.paymentInformation?.paymentTransactionId || undefined;
  moved.paymentInformation = paymentInformationFor(money.plan.policy, {
    partySize,
    transactionId,
    processedBy: PaymentInformation_PaymentProcessedBy.PROCESSED_BY_PARTNER,
    prepaid: money.plan.prepaid,
  });
}

function format(micros: bigint, currency: string): string {
  return `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, "0").replace(/0{1,4}$/, "")} ${currency}`;
}
