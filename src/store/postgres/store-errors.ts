import { ConstraintViolation, StoreBusyError, StoreUnavailableError } from "../repositories.js";

/**
 * PostgreSQL's error codes (SQLSTATE, PostgreSQL manual, Appendix A
 * "PostgreSQL Error Codes") and node-postgres's connection failures in the
 * store's own terms (src/store/repositories.ts), so that nothing outside
 * this file knows them:
 *
 * - a unit that lost a race the database detected (serialization failure,
 *   deadlock) or waited too long for a lock is `StoreBusyError`: the unit
 *   runner re-runs the first two a few times (`isRetryable`) before it lets
 *   one through;
 * - a database that cannot take writes at all (unreachable, shutting down,
 *   a standby that is read-only, a full disk, too many connections) is
 *   `StoreUnavailableError`;
 * - a constraint that encodes one of the contract's facts is
 *   `ConstraintViolation`, named by the constraint or index PostgreSQL
 *   reports (src/store/postgres/migrations.ts).
 *
 * Anything else (a bug in a query) stays as it is.
 */
export function storeError(error: unknown): unknown {
  if (error instanceof ConstraintViolation || error instanceof StoreBusyError || error instanceof StoreUnavailableError) return error;
  const sqlState = sqlStateOf(error);
  if (sqlState === undefined) {
    const connection = connectionFailureOf(error);
    return connection === undefined ? error : new StoreUnavailableError(connection, { cause: error });
  }
  if (sqlState === "23505" || sqlState === "23514") {
    const violated = constraintNames.get((error as { constraint?: string }).constraint ?? "");
    return violated === undefined ? error : new ConstraintViolation(violated, { cause: error });
  }
  if (busyCodes.has(sqlState)) return new StoreBusyError(sqlState, { cause: error });
  if (unavailableClasses.some((prefix) => sqlState.startsWith(prefix)) || unavailableCodes.has(sqlState)) {
    return new StoreUnavailableError(sqlState, { cause: error });
  }
  return error;
}

/**
 * Whether the unit's transaction failed only because it ran beside another
 * one (serialization_failure 40001, deadlock_detected 40P01): run again, it
 * may well succeed (PostgreSQL manual, 13.2.3 "Serializable Isolation Level":
 * "applications using this level must be prepared to retry transactions due
 * to serialization failures").
 */
export function isRetryable(error: unknown): boolean {
  const code = error instanceof StoreBusyError ? error.code : sqlStateOf(error);
  return code === "40001" || code === "40P01";
}

/** The SQLSTATE of an error PostgreSQL sent (node-postgres's DatabaseError carries it as `code`). */
function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** What names a failure to reach or keep the server: the socket's error code, or node-postgres's own messages. */
function connectionFailureOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && socketCodes.has(code)) return code;
  const message = error instanceof Error ? error.message : "";
  if (/timeout exceeded when trying to connect|Connection terminated|connection timeout/i.test(message)) return "connection lost";
  if (/Client was closed and is not queryable|Cannot use a pool after calling end/i.test(message)) return "store closed";
  return undefined;
}

const socketCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE"]);

/** serialization_failure, deadlock_detected, lock_not_available (lock_timeout), query_canceled (statement_timeout). */
const busyCodes = new Set(["40001", "40P01", "55P03", "57014"]);

/**
 * Classes 08 (connection exception), 53 (insufficient resources: disk full,
 * out of memory, too many connections) and 58 (system error: I/O).
 */
const unavailableClasses = ["08", "53", "58"];

/**
 * admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting
 * down, a standby not yet consistent), read_only_sql_transaction (a standby,
 * or a primary set read-only), database_dropped.
 */
const unavailableCodes = new Set(["57P01", "57P02", "57P03", "25006", "57P04"]);

/** What PostgreSQL names as the violated constraint or unique index → the contract's constraint. */
const constraintNames = new Map<string, ConstraintViolation["constraint"]>([
  ["idempotency_records_token_unique", "one_booking_per_idempotency_token"],
  ["bookings_one_holding_per_user_id", "one_holding_booking_per_user_and_slot"],
  ["bookings_one_holding_per_email", "one_holding_booking_per_user_and_slot"],
  ["spots_within_total", "spots_within_total"],
]);
