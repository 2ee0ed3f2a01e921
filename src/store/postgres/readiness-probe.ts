import type pg from "pg";
import { StoreBusyError, StoreUnavailableError } from "../repositories.js";
import { sharedReadiness, type Readiness } from "../readiness.js";
import { storeError } from "./store-errors.js";

/**
 * Whether the store takes writes now, proved by one committed statement that
 * rewrites the probe row and reads back the schema version and the
 * database's identity (`store_identity`, made by migration 1):
 *
 * - a write committed (synchronous_commit, the server's default: durable,
 *   and on a synchronous standby too where one is configured): a standby
 *   (read-only), a full disk or an unreachable server fail here as a booking
 *   would;
 * - the schema is the version this code expects;
 * - the database is the one the store opened (a promoted standby is the same
 *   database; a different one behind the same address is not).
 *
 * Concurrent probes share one answer; a "ready" answer is reused for a second.
 */
export function readinessProbe(options: { pool: pg.Pool; schemaVersion: number; storeId: string; nowMs?: () => number }): () => Promise<Readiness> {
  const { pool, schemaVersion, storeId } = options;
  const nowMs = options.nowMs ?? Date.now;

  const probe = async (): Promise<Readiness> => {
    try {
      const { rows } = await pool.query<{ version: number | null; store_id: string | null }>(
        `WITH probe AS (
           INSERT INTO readiness_probe (id, probed_at_ms) VALUES (1, $1)
           ON CONFLICT (id) DO UPDATE SET probed_at_ms = excluded.probed_at_ms RETURNING 1)
         SELECT (SELECT max(version) FROM schema_migrations) AS version, (SELECT store_id FROM store_identity) AS store_id
         FROM probe`,
        [nowMs()],
      );
      const [{ version, store_id: seenStoreId }] = rows;
      if (seenStoreId !== storeId) return { ready: false, reason: "the database at the store's address is not the one it opened" };
      if (version !== schemaVersion) return { ready: false, reason: `schema version ${version}, expected ${schemaVersion}` };
      return { ready: true };
    } catch (error) {
      // The code (e.g. ECONNREFUSED, 25006) tells an operator enough; /readyz is public, so no message or address.
      const mapped = storeError(error);
      const code = mapped instanceof StoreUnavailableError || mapped instanceof StoreBusyError ? mapped.code : "error";
      return { ready: false, reason: `the database does not take writes (${code})` };
    }
  };

  return sharedReadiness(probe, nowMs);
}
