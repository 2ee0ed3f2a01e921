import { toBinary } from "@bufbuild/protobuf";
import {
  LeaseSchema,
} from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { SqliteDatabase } from "../database.js";
import type {
  LeaseRecord,
  LeaseRepository,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";
import { leaseColumns as columns, leaseFromRow, type LeaseRow } from "../rows.js";

export class SqliteLeaseRepository implements Synchronous<LeaseRepository> {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly byUserReferenceStmt;
  private readonly endHoldStmt;
  private readonly expiredStmt;
  private readonly earliestExpiryStmt;

  constructor(db: SqliteDatabase) {
    this.insertStmt = db.prepare(`
      INSERT INTO leases (lease_id, user_reference, slot_id, state, expires_at_sec, lease_proto, created_at_sec)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.getStmt = db.prepare(`SELECT ${columns} FROM leases WHERE lease_id = ?`);
    this.byUserReferenceStmt = db.prepare(`SELECT ${columns} FROM leases WHERE user_reference = ?`);
    this.endHoldStmt = db.prepare("UPDATE leases SET state = ? WHERE lease_id = ? AND state = 'held'");
    this.expiredStmt = db.prepare(
      `SELECT ${columns} FROM leases WHERE state = 'held' AND expires_at_sec <= ? ORDER BY expires_at_sec`,
    );
    this.earliestExpiryStmt = db.prepare("SELECT min(expires_at_sec) FROM leases WHERE state = 'held'").pluck();
  }

  insert(record: LeaseRecord, nowSec: number): void {
    const { lease } = record;
    this.insertStmt.run(
      lease.leaseId,
      lease.userReference,
      record.slotId,
      record.state,
      Number(lease.leaseExpirationTimeSec),
      Buffer.from(toBinary(LeaseSchema, lease)),
      nowSec,
    );
  }

  get(leaseId: string): LeaseRecord | undefined {
    const row = this.getStmt.get(leaseId) as LeaseRow | undefined;
    return row && leaseFromRow(row);
  }

  findByUserReference(userReference: string): LeaseRecord | undefined {
    const row = this.byUserReferenceStmt.get(userReference) as LeaseRow | undefined;
    return row && leaseFromRow(row);
  }

  endHold(leaseId: string, state: "consumed" | "expired"): boolean {
    return this.endHoldStmt.run(state, leaseId).changes === 1;
  }

  listExpired(nowSec: number): LeaseRecord[] {
    return (this.expiredStmt.all(nowSec) as LeaseRow[]).map(leaseFromRow);
  }

  earliestHeldExpirySec(): number | undefined {
    return (this.earliestExpiryStmt.get() as number | null) ?? undefined;
  }
}
