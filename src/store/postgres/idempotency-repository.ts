import type { IdempotencyRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";

/**
 * The first key of the two-key advisory locks on idempotency tokens: any
 * 32-bit number no other two-key lock of this schema uses ("BKTK"). The
 * migrations' one-key lock is in another key space (manual 9.27.10).
 */
const tokenLockSpace = 0x424b544b;

export class PostgresIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly db: Queryable) {}

  /** By the token's hash first: the index migration 2 made (why: see there). */
  async findBookingId(token: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ booking_id: string }>("SELECT booking_id FROM idempotency_records WHERE token_hash = hashtext($1) AND idempotency_token = $1", [token]);
    return row?.booking_id;
  }

  /**
   * A transaction-level advisory lock on the token's hash (PostgreSQL manual
   * 13.3.5 "Advisory Locks"; released at the unit's COMMIT or ROLLBACK, so
   * it also works behind a pooler in transaction mode), then the look-up as
   * a statement of its own: under read committed a statement sees what was
   * committed before it began (13.2.1), so it must start after the wait. Two
   * tokens of one hash only wait for each other.
   */
  async lockToken(token: string): Promise<string | undefined> {
    await this.db.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [tokenLockSpace, token]);
    return this.findBookingId(token);
  }

  /** A second record of the token is refused by its unique index (`one_booking_per_idempotency_token`). */
  async record(token: string, bookingId: string, nowSec: number): Promise<void> {
    await this.db.query("INSERT INTO idempotency_records (idempotency_token, booking_id, created_at_sec) VALUES ($1, $2, $3)", [
      token,
      bookingId,
      nowSec,
    ]);
  }
}
