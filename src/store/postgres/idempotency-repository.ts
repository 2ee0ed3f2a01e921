import type { IdempotencyRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";

export class PostgresIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly db: Queryable) {}

  /** By the token's hash first: the index migration 2 made (why: see there). */
  async findBookingId(token: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ booking_id: string }>("SELECT booking_id FROM idempotency_records WHERE token_hash = hashtext($1) AND idempotency_token = $1", [token]);
    return row?.booking_id;
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
