import { statSync } from "node:fs";
import type { SqliteDatabase } from "../database.js";
import { sharedReadiness, type Readiness } from "../readiness.js";

/**
 * Whether the store can take writes now, proved rather than assumed:
 *
 * - the file at `path` is still the one the server opened (a database
 *   deleted or replaced under a running server would take writes into a file
 *   nobody will ever open again);
 * - its schema is the one this code expects;
 * - a real write commits and is made durable (`commitProbe`, the same path
 *   CreateBooking's commits take, so it never blocks the event loop): a full
 *   disk, a read-only file system or an I/O error fail here exactly as a
 *   booking would.
 *
 * Concurrent probes share one answer; a "ready" answer is reused for a second.
 */
export function readinessProbe(options: {
  db: SqliteDatabase;
  path: string;
  schemaVersion: number;
  /** Writes the probe row in a transaction and resolves once it is durable. */
  commitProbe: (write: () => void) => Promise<void>;
  nowMs?: () => number;
}): () => Promise<Readiness> {
  const { db, path, schemaVersion, commitProbe } = options;
  const nowMs = options.nowMs ?? Date.now;
  const opened = db.memory ? undefined : identityOf(path);
  const writeProbe = db.prepare("INSERT INTO readiness_probe (id, probed_at_ms) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET probed_at_ms = excluded.probed_at_ms");

  const probe = async (): Promise<Readiness> => {
    if (opened) {
      const now = identityOf(path);
      if (now === undefined) return { ready: false, reason: "the database file is gone (deleted under the running server)" };
      if (now !== opened) return { ready: false, reason: "the database file was replaced under the running server" };
    }
    try {
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version !== schemaVersion) return { ready: false, reason: `schema version ${version}, expected ${schemaVersion}` };
      await commitProbe(() => writeProbe.run(nowMs()));
      return { ready: true };
    } catch (error) {
      // The code (e.g. SQLITE_FULL) tells an operator enough; /readyz is public, so no message or path.
      const code = (error as { code?: unknown }).code;
      return { ready: false, reason: `the database does not take writes (${typeof code === "string" ? code : "error"})` };
    }
  };

  return sharedReadiness(probe, nowMs);
}

/** Device and inode of the file at `path`, or undefined when there is none. */
function identityOf(path: string): string | undefined {
  try {
    const { dev, ino } = statSync(path);
    return `${dev}:${ino}`;
  } catch {
    return undefined;
  }
}
