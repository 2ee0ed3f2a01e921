import type { SqliteDatabase } from "../database.js";
import type {
  OutboxDepth,
  OutboxEntry,
  OutboxEntryInput,
  OutboxKind,
  OutboxRepository,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";

interface OutboxRow {
  id: number;
  queue_key: string;
  kind: string;
  update_mask: string;
  payload_json: string;
  query_json: string;
  state: string;
  attempts: number;
  next_attempt_at_ms: number;
  last_status: number | null;
  last_error: string | null;
  created_at_sec: number;
  delivered_at_sec: number | null;
  claimed_until_ms: number | null;
}

function outboxFromRow(row: OutboxRow): OutboxEntry {
  return {
    id: row.id,
    queueKey: row.queue_key,
    kind: row.kind as OutboxEntry["kind"],
    updateMask: row.update_mask,
    payloadJson: row.payload_json,
    queryJson: row.query_json,
    state: row.state as OutboxEntry["state"],
    attempts: row.attempts,
    nextAttemptAtMs: row.next_attempt_at_ms,
    lastStatus: row.last_status,
    lastError: row.last_error,
    createdAtSec: row.created_at_sec,
    deliveredAtSec: row.delivered_at_sec,
    claimedUntilMs: row.claimed_until_ms,
  };
}

/** Whether entry `o` heads its queue: pending, and no pending entry of its queue before it. */
const isQueueHead = `o.state = 'pending' AND NOT EXISTS (
  SELECT 1 FROM notification_outbox earlier WHERE earlier.queue_key = o.queue_key AND earlier.state = 'pending' AND earlier.id < o.id)`;

/** Whether entry `o` is free at `@nowMs`: no claim holds it, or the one that did has expired. */
const isUnclaimed = "(o.claimed_until_ms IS NULL OR o.claimed_until_ms <= @nowMs)";

export class SqliteOutboxRepository implements Synchronous<OutboxRepository> {
  private readonly insertStmt;
  private readonly dueStmt;
  private readonly getStmt;
  private readonly unsentIdStmt;
  private readonly addStartStmt;
  private readonly startsStmt;
  private readonly claimStmt;
  private readonly deliveredStmt;
  private readonly retryStmt;
  private readonly deadStmt;
  private readonly listDeadStmt;
  private readonly requeueStmt;
  private readonly dueAfterStmt;
  private readonly clampStmt;
  private readonly releaseClaimsStmt;
  private readonly depthStmt;
  private readonly earliestStmt;

  constructor(db: SqliteDatabase) {
    this.insertStmt = db.prepare(`
      INSERT INTO notification_outbox
        (queue_key, kind, update_mask, payload_json, query_json, state, attempts, next_attempt_at_ms, created_at_sec)
      VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, ?)`);
    this.dueStmt = db.prepare(`SELECT o.* FROM notification_outbox o
      WHERE ${isQueueHead} AND o.next_attempt_at_ms <= @nowMs AND ${isUnclaimed}
      ORDER BY o.next_attempt_at_ms, o.id LIMIT @limit`);
    this.getStmt = db.prepare("SELECT * FROM notification_outbox WHERE id = ?");
    // Only the id: every booking asks, and a whole row read into an entry was most of its cost.
    this.unsentIdStmt = db
      .prepare(`SELECT id FROM notification_outbox
        WHERE queue_key = ? AND kind = ? AND state = 'pending' AND attempts = 0 ORDER BY id DESC LIMIT 1`)
      .pluck();
    this.addStartStmt = db.prepare(
      "INSERT OR IGNORE INTO availability_change_starts (outbox_id, start_sec) VALUES (?, ?)",
    );
    this.startsStmt = db
      .prepare("SELECT start_sec FROM availability_change_starts WHERE outbox_id = ? ORDER BY start_sec")
      .pluck();
    this.claimStmt = db.prepare(`
      UPDATE notification_outbox AS o SET attempts = o.attempts + 1, claimed_until_ms = @claimedUntilMs
      WHERE o.id = @id AND ${isQueueHead} AND o.next_attempt_at_ms <= @nowMs AND ${isUnclaimed}
      RETURNING *`);
    this.deliveredStmt = db.prepare(`
      UPDATE notification_outbox SET state = 'delivered', last_status = ?,
        last_error = NULL, delivered_at_sec = ?, claimed_until_ms = NULL WHERE id = ? AND state = 'pending' AND claimed_until_ms IS ?`);
    this.retryStmt = db.prepare(`
      UPDATE notification_outbox SET next_attempt_at_ms = ?, last_status = ?,
        last_error = ?, claimed_until_ms = NULL WHERE id = ? AND state = 'pending' AND claimed_until_ms IS ?`);
    this.deadStmt = db.prepare(`
      UPDATE notification_outbox SET state = 'dead', last_status = ?,
        last_error = ?, claimed_until_ms = NULL WHERE id = ? AND state = 'pending' AND claimed_until_ms IS ?`);
    this.listDeadStmt = db.prepare(
      "SELECT * FROM notification_outbox WHERE state = 'dead' AND id > ? ORDER BY id LIMIT ?",
    );
    this.dueAfterStmt = db.prepare("SELECT * FROM notification_outbox WHERE state = 'pending' AND next_attempt_at_ms > ? ORDER BY id");
    this.releaseClaimsStmt = db.prepare("UPDATE notification_outbox SET claimed_until_ms = NULL WHERE claimed_until_ms IS NOT NULL");
    this.clampStmt = db.prepare("UPDATE notification_outbox SET next_attempt_at_ms = ? WHERE state = 'pending' AND next_attempt_at_ms > ?");
    this.requeueStmt = db.prepare(`
      UPDATE notification_outbox SET state = 'pending', next_attempt_at_ms = ? WHERE id = ? AND state = 'dead'`);
    this.depthStmt = db.prepare(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
         min(created_at_sec) FILTER (WHERE state = 'pending') AS oldest,
         count(*) FILTER (WHERE state = 'dead') AS dead
       FROM notification_outbox WHERE state IN ('pending', 'dead')`,
    );
    this.earliestStmt = db
      .prepare(`SELECT min(max(o.next_attempt_at_ms, coalesce(o.claimed_until_ms, 0))) FROM notification_outbox o WHERE ${isQueueHead}`)
      .pluck();
  }

  enqueue(entry: OutboxEntryInput, nowSec: number): number {
    const result = this.insertStmt.run(
      entry.queueKey,
      entry.kind,
      entry.updateMask,
      entry.payloadJson,
      entry.queryJson,
      nowSec,
    );
    return Number(result.lastInsertRowid);
  }

  nextDue(nowMs: number, limit: number): OutboxEntry[] {
    return (this.dueStmt.all({ nowMs, limit }) as OutboxRow[]).map(outboxFromRow);
  }

  get(id: number): OutboxEntry | undefined {
    const row = this.getStmt.get(id) as OutboxRow | undefined;
    return row && outboxFromRow(row);
  }

  findUnsentId(queueKey: string, kind: OutboxKind): number | undefined {
    return this.unsentIdStmt.get(queueKey, kind) as number | undefined;
  }

  addStartSec(id: number, startSec: number): void {
    this.addStartStmt.run(id, startSec);
  }

  startSecsOf(id: number): number[] {
    return this.startsStmt.all(id) as number[];
  }

  claim(id: number, nowMs: number, claimedUntilMs: number): OutboxEntry | undefined {
    const row = this.claimStmt.get({ id, nowMs, claimedUntilMs }) as OutboxRow | undefined;
    return row && outboxFromRow(row);
  }

  markDelivered(id: number, nowSec: number, status: number, claimedUntilMs: number | null): void {
    this.deliveredStmt.run(status, nowSec, id, claimedUntilMs);
  }

  scheduleRetry(id: number, nextAttemptAtMs: number, status: number | null, error: string, claimedUntilMs: number | null): void {
    this.retryStmt.run(nextAttemptAtMs, status, error, id, claimedUntilMs);
  }

  markDead(id: number, status: number | null, responseBody: string, claimedUntilMs: number | null): void {
    this.deadStmt.run(status, responseBody, id, claimedUntilMs);
  }

  listDead(limit: number, afterId = 0): OutboxEntry[] {
    return (this.listDeadStmt.all(afterId, limit) as OutboxRow[]).map(outboxFromRow);
  }

  releaseClaims(): number {
    return this.releaseClaimsStmt.run().changes;
  }

  clampRetriesAfter(latestMs: number): OutboxEntry[] {
    const far = (this.dueAfterStmt.all(latestMs) as OutboxRow[]).map(outboxFromRow);
    if (far.length > 0) this.clampStmt.run(latestMs, latestMs);
    return far;
  }

  requeue(id: number, nowMs: number): boolean {
    return this.requeueStmt.run(nowMs, id).changes === 1;
  }

  depth(nowSec: number): OutboxDepth {
    const row = this.depthStmt.get() as { pending: number; oldest: number | null; dead: number };
    return {
      pending: row.pending,
      oldestPendingAgeSec: row.oldest === null ? 0 : Math.max(0, nowSec - row.oldest),
      dead: row.dead,
    };
  }

  earliestPendingAtMs(): number | undefined {
    return (this.earliestStmt.get() as number | null) ?? undefined;
  }
}
