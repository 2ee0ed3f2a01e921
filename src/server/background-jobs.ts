import { applyDecisionWindow, declineOverdueRequests } from "../booking/auto-decline.js";
import { abandonedPaymentsBeforeSec, bookingUnderWayLongestSec, reconcilePayments } from "../booking/reconcile-payments.js";
import type { BookingContext } from "../booking/context.js";

export interface BackgroundJobOptions {
  /** How often overdue requests are looked for, in ms. */
  autoDeclineCheckMs: number;
  /** How long after a failed payment reconciliation it runs again, in ms (default 30 s). */
  reconcileRetryMs?: number;
  /**
   * On a store other instances share: how long after a run that had to
   * leave recent payments alone (another instance may still be making their
   * bookings) reconciliation runs again, in ms (default
   * `bookingUnderWayLongestSec`).
   */
  reconcileAgainMs?: number;
  /** What reconciliation did, when it did something. */
  onReconciled: (outcome: { refunded: string[]; unresolved: string[] }) => void;
}

export interface BackgroundJobs {
  /**
   * Settles money a crash left half-moved, then declines the requests whose
   * deadline passed while the server was down, then starts the periodic
   * auto-decline. Never throws: a job that cannot run now (a locked
   * database, a full disk) is reported and runs again later, so the server
   * still starts and serves what it can (lookups need no writes).
   */
  start(): Promise<void>;
  /** Stops the timers; resolves once the runs under way have ended (so the store can be closed after it). */
  stop(): Promise<void>;
}

/**
 * The server's timers over the booking domain; the notifier runs its own
 * loop. A run that fails goes to `ctx.reportJobFailure` and runs again at its
 * next tick.
 */
export function backgroundJobs(ctx: BookingContext, options: BackgroundJobOptions): BackgroundJobs {
  const timers: NodeJS.Timeout[] = [];
  const serverStartedSec = ctx.clock.nowSec();
  let stopped = false;
  const keep = (timer: NodeJS.Timeout) => {
    timer.unref();
    // A run that was under way at `stop` schedules nothing more.
    if (stopped) return clearTimeout(timer);
    timers.push(timer);
  };
  /** Runs under way (they never reject), for `stop`. */
  const runs = new Set<Promise<void>>();
  const track = (run: Promise<void>): Promise<void> => {
    runs.add(run);
    void run.finally(() => runs.delete(run));
    return run;
  };

  let declining = false;
  let windowApplied = false;
  /**
   * One auto-decline run; a tick that comes while the previous run is still
   * under way does nothing. The first run that can write gives waiting
   * requests this process's decision window first.
   */
  const declineOverdue = async (): Promise<void> => {
    if (declining) return;
    declining = true;
    try {
      if (!windowApplied) {
        await applyDecisionWindow(ctx);
        windowApplied = true;
      }
      await declineOverdueRequests(ctx);
    } catch (error) {
      ctx.reportJobFailure("auto_decline", error);
    } finally {
      declining = false;
    }
  };

  /**
   * Runs until one run has judged every booking this process found
   * unfinished at its start: after a failure, again after
   * `reconcileRetryMs`; on a shared store, whose run had to leave recent
   * payments to the instances that may be making them, again after
   * `reconcileAgainMs`. Each run schedules at most the next, so never two
   * run at once here; other instances' runs may (see reconcilePayments).
   * The first run comes before the server listens (see
   * abandonedPaymentsBeforeSec for which payments each run counts).
   */
  const reconcileUntilDone = async (beforeServing: boolean): Promise<void> => {
    const again = (delayMs: number) => keep(setTimeout(() => void track(reconcileUntilDone(false)), delayMs));
    try {
      const startedBeforeSec = abandonedPaymentsBeforeSec(ctx, { beforeServing, processStartedSec: serverStartedSec });
      const outcome = await reconcilePayments(ctx, startedBeforeSec);
      if (outcome.refunded.length || outcome.unresolved.length) options.onReconciled(outcome);
      if (startedBeforeSec < serverStartedSec) again(options.reconcileAgainMs ?? bookingUnderWayLongestSec * 1000);
    } catch (error) {
      ctx.reportJobFailure("payment_reconciliation", error);
      again(options.reconcileRetryMs ?? 30_000);
    }
  };

  return {
    start: async () => {
      if (ctx.payments) await track(reconcileUntilDone(true));
      await track(declineOverdue());
      keep(setInterval(() => void track(declineOverdue()), options.autoDeclineCheckMs));
    },
    stop: async () => {
      stopped = true;
      timers.forEach((timer) => clearTimeout(timer));
      await Promise.allSettled([...runs]);
    },
  };
}
