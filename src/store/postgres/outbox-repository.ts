import type { OutboxDepth, OutboxEntry, OutboxEntryInput, OutboxKind, OutboxRepository } from "../repositories.js";
import type { Queryable } from "./queryable.js";

interface OutboxRow {
  id: number;
  queue_key: string;
  kind: OutboxEntry["kind"];
  update_mask: string;
  payload_json: string;
  query_json: string;
  state: OutboxEntry["state"];
  attempts: number;
  next_attempt_at_ms: number;
  last_status: number | null;
  last_error: string | null;
  created_at_sec: number;
  delivered_at_sec: number | null;
  claimed_until_ms: number | null;
}

const columns = `o.id, o.queue_key, o.kind, o.update_mask, o.payload_json, o.query_json, o.state, o.attempts,
  o.next_attempt_at_ms, o.last_status, o.last_error, o.created_at_sec, o.delivered_at_sec, o.claimed_until_ms`;

function outboxFromRow(row: OutboxRow): OutboxEntry {
  return {
    id: row.id,
    queueKey: row.queue_key,
    kind: row.kind,
    updateMask: row.update_mask,
    payloadJson: row.payload_json,
    queryJson: row.query_json,
    state: row.state,
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

/** Whether entry `o` is free at `nowMs` (a parameter): no claim holds it, or the one that did has expired. */
const isUnclaimedAt = (nowMs: string) => `(o.claimed_until_ms IS NULL OR o.claimed_until_ms <= ${nowMs})`;

export class PostgresOutboxRepository implements OutboxRepository {
  constructor(private readonly db: Queryable) {}

  async enqueue(entry: OutboxEntryInput, nowSec: number): Promise<number> {
    const [row] = await this.db.query<{ id: number }>(
      `INSERT INTO notification_outbox (queue_key, kind, update_mask, payload_json, query_json, created_at_sec)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [entry.queueKey, entry.kind, entry.updateMask, entry.payloadJson, entry.queryJson, nowSec],
    );
    return row.id;
  }

  async nextDue(nowMs: number, limit: number): Promise<OutboxEntry[]> {
    const rows = await this.db.query<OutboxRow>(
      `SELECT ${columns} FROM notification_outbox o
       WHERE ${isQueueHead} AND o.next_attempt_at_ms <= $1 AND ${isUnclaimedAt("$1")}
       ORDER BY o.next_attempt_at_ms, o.id LIMIT $2`,
      [nowMs, limit],
    );
    return rows.map(outboxFromRow);
  }

  async get(id: number): Promise<OutboxEntry | undefined> {
    const [row] = await this.db.query<OutboxRow>(`SELECT ${columns} FROM notification_outbox o WHERE o.id = $1`, [id]);
    return row && outboxFromRow(row);
  }

  /**
   * The row is locked in the statement that tests `attempts = 0`, FOR SHARE:
   * merging units only add start times, so they share it (bookings on one
   * service do not queue behind each other's commits), while a claim
   * (`FOR UPDATE SKIP LOCKED`, which conflicts) passes over it until the
   * merging units end,
   * and a merge that finds the row locked by a claim waits for the claim's
   * commit, then re-evaluates the WHERE on the claimed row (manual 13.2.1,
   * "Read Committed Isolation Level") and takes the next row or none, so the
   * change goes into a new entry. Under SERIALIZABLE a claim committed after
   * the unit's snapshot makes the lock fail with a serialization failure,
   * and the unit runs again.
   */
  async findUnsentId(queueKey: string, kind: OutboxKind): Promise<number | undefined> {
    const [row] = await this.db.query<{ id: number }>(
      `SELECT id FROM notification_outbox
       WHERE queue_key = $1 AND kind = $2 AND state = 'pending' AND attempts = 0 ORDER BY id DESC LIMIT 1 FOR SHARE`,
      [queueKey, kind],
    );
    return row?.id;
  }

  async addStartSec(id: number, startSec: number): Promise<void> {
    await this.db.query("INSERT INTO availability_change_starts (outbox_id, start_sec) VALUES ($1, $2) ON CONFLICT DO NOTHING", [id, startSec]);
  }

  async startSecsOf(id: number): Promise<number[]> {
    const rows = await this.db.query<{ start_sec: number }>(
      "SELECT start_sec FROM availability_change_starts WHERE outbox_id = $1 ORDER BY start_sec",
      [id],
    );
    return rows.map((row) => row.start_sec);
  }

  /**
   * The entry is picked with `FOR UPDATE SKIP LOCKED` (manual, SELECT, "The
   * Locking Clause"): a row another unit holds (another instance claiming it,
   * a change merging into it) is skipped at once, answered as not claimed,
   * instead of queueing this instance behind that unit. Under read committed,
   * a row another claim updated and committed after this statement began is
   * locked in its new version, and the WHERE re-evaluated on it (manual
   * 13.2.1): its live claim fails the test. Under SERIALIZABLE the same lock
   * attempt fails with a serialization failure (manual 13.2.3) and the unit
   * runs again, seeing the claim. So one entry is claimed once either way.
   */
  async claim(id: number, nowMs: number, claimedUntilMs: number): Promise<OutboxEntry | undefined> {
    const [row] = await this.db.query<OutboxRow>(
      `WITH claimable AS (
         SELECT o.id FROM notification_outbox o
         WHERE o.id = $1 AND ${isQueueHead} AND o.next_attempt_at_ms <= $2 AND ${isUnclaimedAt("$2")}
         FOR UPDATE OF o SKIP LOCKED)
       UPDATE notification_outbox o SET attempts = o.attempts + 1, claimed_until_ms = $3
       FROM claimable WHERE o.id = claimable.id
       RETURNING ${columns}`,
      [id, nowMs, claimedUntilMs],
    );
    return row && outboxFromRow(row);
  }

  async releaseClaims(): Promise<number> {
    const rows = await this.db.query("UPDATE notification_outbox SET claimed_until_ms = NULL WHERE claimed_until_ms IS NOT NULL RETURNING id");
    return rows.length;
  }

  async markDelivered(id: number, nowSec: number, status: number, claimedUntilMs: number | null): Promise<void> {
    await this.db.query(
      `UPDATE notification_outbox SET state = 'delivered', last_status = $1, last_error = NULL, delivered_at_sec = $2, claimed_until_ms = NULL
       WHERE id = $3 AND state = 'pending' AND claimed_until_ms IS NOT DISTINCT FROM $4`,
      [status, nowSec, id, claimedUntilMs],
    );
  }

  async scheduleRetry(id: number, nextAttemptAtMs: number, status: number | null, error: string, claimedUntilMs: number | null): Promise<void> {
    await this.db.query(
      `UPDATE notification_outbox SET next_attempt_at_ms = $1, last_status = $2, last_error = $3, claimed_until_ms = NULL
       WHERE id = $4 AND state = 'pending' AND claimed_until_ms IS NOT DISTINCT FROM $5`,
      [nextAttemptAtMs, status, error, id, claimedUntilMs],
    );
  }

  async markDead(id: number, status: number | null, responseBody: string, claimedUntilMs: number | null): Promise<void> {
    await this.db.query(
      `UPDATE notification_outbox SET state = 'dead', last_status = $1, last_error = $2, claimed_until_ms = NULL
       WHERE id = $3 AND state = 'pending' AND claimed_until_ms IS NOT DISTINCT FROM $4`,
      [status, responseBody, id, claimedUntilMs],
    );
  }

  async requeue(id: number, nowMs: number): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE notification_outbox SET state = 'pending', next_attempt_at_ms = $1 WHERE id = $2 AND state = 'dead' RETURNING id",
      [nowMs, id],
    );
    return rows.length === 1;
  }

  async clampRetriesAfter(latestMs: number): Promise<OutboxEntry[]> {
    const far = await this.db.query<OutboxRow>(
      `SELECT ${columns} FROM notification_outbox o WHERE o.state = 'pending' AND o.next_attempt_at_ms > $1 ORDER BY o.id`,
      [latestMs],
    );
    if (far.length > 0) {
      await this.db.query("UPDATE notification_outbox SET next_attempt_at_ms = $1 WHERE state = 'pending' AND next_attempt_at_ms > $1", [latestMs]);
    }
    return far.map(outboxFromRow);
  }

  async listDead(limit: number, afterId = 0): Promise<OutboxEntry[]> {
    const rows = await this.db.query<OutboxRow>(
      `SELECT ${columns} FROM notification_outbox o WHERE o.state = 'dead' AND o.id > $1 ORDER BY o.id LIMIT $2`,
      [afterId, limit],
    );
    return rows.map(outboxFromRow);
  }

  async depth(nowSec: number): Promise<OutboxDepth> {
    const [row] = await this.db.query<{ pending: number; oldest: number | null; dead: number }>(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
         min(created_at_sec) FILTER (WHERE state = 'pending') AS oldest,
         count(*) FILTER (WHERE state = 'dead') AS dead
       FROM notification_outbox WHERE state IN ('pending', 'dead')`,
    );
    return {
      pending: row.pending,
      oldestPendingAgeSec: row.oldest === null ? 0 : Math.max(0, nowSec - row.oldest),
      dead: row.dead,
    };
  }

  async earliestPendingAtMs(): Promise<number | undefined> {
    const [row] = await this.db.query<{ earliest: number | null }>(
      `SELECT min(GREATEST(o.next_attempt_at_ms, o.claimed_until_ms)) AS earliest FROM notification_outbox o WHERE ${isQueueHead}`,
    );
    return row.earliest ?? undefined;
  }
}
