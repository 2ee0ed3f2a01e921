import { readFileSync } from "node:fs";
import type { Server } from "node:net";

/**
 * The cap on open connections: past it, a new connection is closed as soon
 * as it is accepted, so a flood of connections runs out of this cap instead
 * of the process's file descriptors (which the database, its WAL, the logs
 * and the notifier's connections to Google need too).
 */

/**
 * Descriptors kept free of connections: SQLite's database, WAL and shared
 * memory files for the serving connection and the checkpoint worker, a
 * backup's destination, the logs, the notifier's connections to Google
 * (up to its batch size, 50), Node's own (event loop, thread pool, pipes),
 * and room to spare.
 */
export const reservedDescriptors = 256;

/** The cap where the descriptor limit cannot be read (not Linux): fits the limit Node raises itself to on macOS (10,240). */
export const fallbackMaxConnections = 4096;

/**
 * The default cap: the soft RLIMIT_NOFILE (from `/proc/self/limits`; Node
 * raises its soft limit to the hard one at start) less `reservedDescriptors`,
 * and never under half the limit; `fallbackMaxConnections` where it cannot
 * be read or is unlimited.
 */
export function defaultMaxConnections(procLimits = readProcLimits()): number {
  const soft = /^Max open files\s+(\d+)/m.exec(procLimits ?? "")?.[1];
  if (soft === undefined) return fallbackMaxConnections;
  const limit = Number(soft);
  return Math.max(Math.floor(limit / 2), limit - reservedDescriptors);
}

function readProcLimits(): string | undefined {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
}

/** How often refused connections are reported at most: a flood gives one line per interval, not one per connection. */
export const refusalReportIntervalMs = 10_000;

/**
 * Caps `server` at `maxConnections` open connections (Node closes the
 * others on accept) and calls `report` with the number refused: at the first
 * refusal, then at most once per `reportIntervalMs` (default
 * `refusalReportIntervalMs`).
 */
export function capConnections(
  server: Server,
  maxConnections: number,
  report: (refused: number) => void,
  reportIntervalMs = refusalReportIntervalMs,
): void {
  server.maxConnections = maxConnections;
  let unreported = 0;
  let reportDue: NodeJS.Timeout | undefined;
  const flush = () => {
    reportDue = undefined;
    if (unreported === 0) return;
    report(unreported);
    unreported = 0;
    // Refusals until then are gathered into the next report.
    reportDue = setTimeout(flush, reportIntervalMs);
    reportDue.unref();
  };
  server.on("drop", () => {
    unreported++;
    if (!reportDue) flush();
  });
}
