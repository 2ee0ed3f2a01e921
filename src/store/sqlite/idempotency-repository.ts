import type { SqliteDatabase } from "../database.js";
import type {
  IdempotencyRepository,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";

export class SqliteIdempotencyRepository implements Synchronous<IdempotencyRepository> {
  private readonly findStmt;
  private readonly recordStmt;

  constructor(db: SqliteDatabase) {
    this.findStmt = db.prepare("SELECT booking_id FROM idempotency_records WHERE idempotency_token = ?").pluck();
    this.recordStmt = db.prepare(
      "INSERT INTO idempotency_records (idempotency_token, booking_id, created_at_sec) VALUES (?, ?, ?)",
    );
  }

  findBookingId(token: string): string | undefined {
    return this.findStmt.get(token) as string | undefined;
  }

  /** Units run one at a time on SQLite (the write lock taken at BEGIN IMMEDIATE): holding the token is the look-up. */
  lockToken(token: string): string | undefined {
    return this.findBookingId(token);
  }

  record(token: string, bookingId: string, nowSec: number): void {
    this.recordStmt.run(token, bookingId, nowSec);
  }
}
