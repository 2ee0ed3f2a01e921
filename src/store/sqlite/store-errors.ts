import { ConstraintViolation, StoreBusyError, StoreUnavailableError } from "../repositories.js";

/**
 * SQLite's result codes in the store's own terms (src/store/repositories.ts),
 * so that nothing outside src/store/sqlite/ knows them:
 *
 * - a lock another connection holds (SQLITE_BUSY, SQLITE_LOCKED and their
 *   extended codes) is `StoreBusyError`: it clears in moments;
 * - a database that cannot take writes (full disk, read-only file system,
 *   I/O error, a file it cannot open) is `StoreUnavailableError`: it needs an
 *   operator;
 * - a constraint of the schema that encodes one of the contract's facts is
 *   `ConstraintViolation`, named by the index or trigger that refused it
 *   (migration 9).
 *
 * Anything else (a bug, a broken file) stays as it is.
 */
export function storeError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return error;
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return new StoreBusyError(code, { cause: error });
  if (unavailableCodes.some((prefix) => code.startsWith(prefix))) return new StoreUnavailableError(code, { cause: error });
  if (code.startsWith("SQLITE_CONSTRAINT")) {
    const message = (error as Error).message;
    const violated = constraintNames.find(([pattern]) => message.includes(pattern));
    if (violated) return new ConstraintViolation(violated[1], { cause: error });
  }
  return error;
}

const unavailableCodes = ["SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL"];

/** What SQLite's message names (a unique column set, or a trigger's RAISE text) → the contract's constraint. */
const constraintNames: ReadonlyArray<readonly [string, ConstraintViolation["constraint"]]> = [
  ["idempotency_records.idempotency_token", "one_booking_per_idempotency_token"],
  ["bookings.slot_id, bookings.user_id", "one_holding_booking_per_user_and_slot"],
  ["bookings.slot_id, bookings.email_key", "one_holding_booking_per_user_and_slot"],
  ["spots_within_total", "spots_within_total"],
];
