import type { PaymentRecord } from "../store/repositories.js";
import type { BookingContext } from "./context.js";

/**
 * The booking's payment records around a processor call: `started` before
 * it (so a process that dies during the call leaves a trace to reconcile),
 * `done` with the processor's id after it. Each is a unit of its own: it
 * must be durable before (and after) the remote call, which can never be
 * part of a database transaction.
 */
export function notePaymentStarted(ctx: BookingContext, record: Omit<PaymentRecord, "state" | "transactionId">): Promise<void> {
  const now = ctx.clock.nowSec();
  return ctx.store.transaction((tx) => tx.payments.start(record, now));
}

export function notePaymentDone(ctx: BookingContext, idempotencyKey: string, transactionId: string): Promise<void> {
  const now = ctx.clock.nowSec();
  return ctx.store.transaction((tx) => tx.payments.complete(idempotencyKey, transactionId, now));
}
