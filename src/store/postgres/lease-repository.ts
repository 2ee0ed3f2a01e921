import { toBinary } from "@bufbuild/protobuf";
import { LeaseSchema } from "../../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { LeaseRecord, LeaseRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";
import { leaseColumns as columns, leaseFromRow, type LeaseRow } from "../rows.js";

export class PostgresLeaseRepository implements LeaseRepository {
  constructor(private readonly db: Queryable) {}

  async insert(record: LeaseRecord, nowSec: number): Promise<void> {
    const { lease } = record;
    await this.db.query(
      `INSERT INTO leases (lease_id, user_reference, slot_id, state, expires_at_sec, lease_proto, created_at_sec)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        lease.leaseId,
        lease.userReference,
        record.slotId,
        record.state,
        Number(lease.leaseExpirationTimeSec),
        Buffer.from(toBinary(LeaseSchema, lease)),
        nowSec,
      ],
    );
  }

  async get(leaseId: string): Promise<LeaseRecord | undefined> {
    const [row] = await this.db.query<LeaseRow>(`SELECT ${columns} FROM leases WHERE lease_id = $1`, [leaseId]);
    return row && leaseFromRow(row);
  }

  async findByUserReference(userReference: string): Promise<LeaseRecord | undefined> {
    const [row] = await this.db.query<LeaseRow>(`SELECT ${columns} FROM leases WHERE user_reference = $1`, [userReference]);
    return row && leaseFromRow(row);
  }

  /** Under read committed, an UPDATE that waited for another unit's write to the row checks `state = 'held'` again on the row as committed (manual 13.2.1). */
  async endHold(leaseId: string, state: "consumed" | "expired"): Promise<boolean> {
    const rows = await this.db.query("UPDATE leases SET state = $1 WHERE lease_id = $2 AND state = 'held' RETURNING lease_id", [state, leaseId]);
    return rows.length === 1;
  }

  async listExpired(nowSec: number): Promise<LeaseRecord[]> {
    const rows = await this.db.query<LeaseRow>(
      `SELECT ${columns} FROM leases WHERE state = 'held' AND expires_at_sec <= $1 ORDER BY expires_at_sec`,
      [nowSec],
    );
    return rows.map(leaseFromRow);
  }

  async earliestHeldExpirySec(): Promise<number | undefined> {
    const [row] = await this.db.query<{ earliest: number | null }>("SELECT min(expires_at_sec) AS earliest FROM leases WHERE state = 'held'");
    return row.earliest ?? undefined;
  }
}
