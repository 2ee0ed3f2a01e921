import { applyDecisionWindow, declineOverdueRequests } from "../booking/auto-decline.js";
import { reconcilePayments } from "../booking/reconcile-payments.js";
import type { BookingContext } from "../booking/context.js";

export interface BackgroundJobOptions {
  /** How often overdue requests are looked for, in ms. */
  autoDeclineCheckMs: number;
  /** How long after a failed payment reconciliation it runs again, in ms (default 30 s). */
  reconcileRetryMs?: number;
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
   * Runs once to the end: after a failure, again after `reconcileRetryMs`
   * (never two runs at once). The first run comes before the server listens,
   * so nothing of this process is under way and every record counts; a retry
   * only counts bookings started before this process did (see reconcilePayments).
   */
  const reconcileUntilDone = async (startedBeforeSec: number): Promise<void> => {
    try {
      const outcome = await reconcilePayments(ctx, startedBeforeSec);
      if (outcome.refunded.length || outcome.unresolved.length) options.onReconciled(outcome);
    } catch (error) {
      ctx.reportJobFailure("payment_reconciliation", error);
      keep(setTimeout(() => void track(reconcileUntilDone(serverStartedSec)), options.reconcileRetryMs ?? 30_000));
    }
  };

  return {
    start: async () => {
      if (ctx.payments) await track(reconcileUntilDone(Number.MAX_SAFE_INTEGER));
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
