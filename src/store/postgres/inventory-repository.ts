import type {
  InventoryRepository,
  MerchantFeedRecord,
  OfferFeedRecord,
  ServiceFeedRecord,
  SlotAvailability,
  SlotFeedRecord,
  SlotQuery,
  SlotFeedState,
  SlotRecord,
  SlotStock,
  StoredFeedRecord,
  SlotWindowQuery,
  UpsertOutcome,
} from "../repositories.js";
import { feedTables, serviceParameters, slotParameters } from "../feed-columns.js";
import { feedUpsert, type FeedUpsert } from "./feed-upsert.js";
import type { Queryable } from "./queryable.js";
import { slotFromRow, type SlotRow } from "../rows.js";

/**
 * What a slot is read as. `spots_open` is the schema's one formula (a
 * generated column, migration 1); whether the slot may take payment looks at
 * its service's flag too.
 */
const slotColumns = `slot_id, merchant_id, service_id, start_sec, duration_sec, staff_id, room_id,
  party_size, availability_tag, spots_total, spots_open, confirmation_mode, duration_requirement,
  booking_payment_terms OR COALESCE((SELECT v.booking_payment_terms FROM services v
    WHERE v.merchant_id = slots.merchant_id AND v.service_id = slots.service_id), false) AS may_take_payment`;

/** A count of spots to move: a caller's bug when not a positive integer (a negative one would move them the other way). */
function positiveCount(count: number): number {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`a count of spots must be a positive integer, got ${count}`);
  return count;
}

/** The single-record upserts, built from the feed's column lists (src/store/feed-columns.ts, the one rule for both backends). */
const upserts = {
  merchants: feedUpsert(feedTables.merchants, "merchants"),
  services: feedUpsert(feedTables.services, "services"),
  offers: feedUpsert(feedTables.offers, "offers"),
  slots: feedUpsert(feedTables.slots, "slots"),
};

export class PostgresInventoryRepository implements InventoryRepository {
  constructor(private readonly db: Queryable) {}

  private async upsert(upsert: FeedUpsert, record: object): Promise<UpsertOutcome> {
    const [row] = await this.db.query<{ existed: boolean; changed: boolean }>(upsert.sql, upsert.values(record));
    if (!row.existed) return "inserted";
    return row.changed ? "updated" : "unchanged";
  }

  upsertMerchant(merchant: MerchantFeedRecord): Promise<UpsertOutcome> {
    return this.upsert(upserts.merchants, merchant);
  }

  upsertService(service: ServiceFeedRecord): Promise<UpsertOutcome> {
    return this.upsert(upserts.services, serviceParameters(service));
  }

  upsertSlot(slot: SlotFeedRecord): Promise<UpsertOutcome> {
    return this.upsert(upserts.slots, slotParameters(slot));
  }

  upsertOffer(offer: OfferFeedRecord): Promise<UpsertOutcome> {
    return this.upsert(upserts.offers, offer);
  }

  async hasMerchant(merchantId: string): Promise<boolean> {
    return (await this.db.query("SELECT 1 FROM merchants WHERE merchant_id = $1", [merchantId])).length > 0;
  }

  async hasService(merchantId: string, serviceId: string): Promise<boolean> {
    return (await this.db.query("SELECT 1 FROM services WHERE merchant_id = $1 AND service_id = $2", [merchantId, serviceId])).length > 0;
  }

  async hasOffer(merchantId: string, serviceId: string, offerId: string): Promise<boolean> {
    const rows = await this.db.query(
      "SELECT 1 FROM offers WHERE merchant_id = $1 AND offer_id = $2 AND (service_id = '' OR service_id = $3)",
      [merchantId, offerId, serviceId],
    );
    return rows.length > 0;
  }

  async inventoryCounts(): Promise<{ merchants: number; services: number; slots: number }> {
    const [row] = await this.db.query<{ merchants: number; services: number; slots: number }>(
      `SELECT (SELECT count(*) FROM merchants) AS merchants, (SELECT count(*) FROM services) AS services, (SELECT count(*) FROM slots) AS slots`,
    );
    return row;
  }

  merchantFeedsAfter(afterMerchantId: string, limit: number): Promise<StoredFeedRecord[]> {
    return this.db.query<StoredFeedRecord>(
      `SELECT merchant_id AS "merchantId", '' AS "serviceId", feed_json AS "feedJson" FROM merchants
       WHERE merchant_id > $1 ORDER BY merchant_id LIMIT $2`,
      [afterMerchantId, limit],
    );
  }

  serviceFeedsAfter(after: { merchantId: string; serviceId: string } | undefined, limit: number): Promise<StoredFeedRecord[]> {
    const { merchantId, serviceId } = after ?? { merchantId: "", serviceId: "" };
    return this.db.query<StoredFeedRecord>(
      `SELECT merchant_id AS "merchantId", service_id AS "serviceId", feed_json AS "feedJson" FROM services
       WHERE (merchant_id, service_id) > ($1, $2) ORDER BY merchant_id, service_id LIMIT $3`,
      [merchantId, serviceId, limit],
    );
  }

  slotFeedsAfter(afterSlotId: number, limit: number): Promise<SlotFeedState[]> {
    return this.db.query<SlotFeedState>(
      `SELECT slot_id AS "slotId", merchant_id AS "merchantId", service_id AS "serviceId", start_sec AS "startSec",
         duration_sec AS "durationSec", staff_id AS "staffId", room_id AS "roomId", party_size AS "partySize",
         spots_total AS "spotsTotal", spots_open AS "spotsOpen", feed_json AS "feedJson"
       FROM slots WHERE slot_id > $1 ORDER BY slot_id LIMIT $2`,
      [afterSlotId, limit],
    );
  }

  async findSlots(query: SlotQuery, limit: number): Promise<SlotRecord[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`slot query limit must be a positive integer, got ${limit}`);
    const rows = await this.db.query<SlotRow>(
      `SELECT ${slotColumns} FROM slots
       WHERE merchant_id = $1 AND service_id = $2 AND start_sec = $3
         AND ($4::bigint = 0 OR duration_sec = $4::bigint)
         AND ($5::text = '' OR staff_id = $5::text)
         AND ($6::text = '' OR room_id = $6::text)
         AND ($7::integer = 0 OR party_size = $7::integer)
       ORDER BY spots_open > 0 DESC, slot_id
       LIMIT $8`,
      [query.merchantId, query.serviceId, query.startSec, query.durationSec, query.staffId, query.roomId, query.partySize, limit],
    );
    return rows.map(slotFromRow);
  }

  async slotsStartingBetween(merchantId: string, serviceId: string, fromSec: number, toSec: number): Promise<SlotAvailability[]> {
    const rows = await this.db.query<Pick<SlotRow, "start_sec" | "duration_sec" | "staff_id" | "room_id" | "party_size" | "confirmation_mode" | "spots_open">>(
      `SELECT start_sec, duration_sec, staff_id, room_id, party_size, confirmation_mode, spots_open
       FROM slots WHERE merchant_id = $1 AND service_id = $2 AND start_sec BETWEEN $3 AND $4 ORDER BY start_sec, slot_id`,
      [merchantId, serviceId, fromSec, toSec],
    );
    return rows.map((row) => ({
      merchantId,
      serviceId,
      startSec: row.start_sec,
      durationSec: row.duration_sec,
      staffId: row.staff_id,
      roomId: row.room_id,
      partySize: row.party_size,
      confirmationMode: row.confirmation_mode,
      spotsOpen: row.spots_open,
    }));
  }

  async getSlot(slotId: number): Promise<SlotRecord | undefined> {
    const [row] = await this.db.query<SlotRow>(`SELECT ${slotColumns} FROM slots WHERE slot_id = $1`, [slotId]);
    return row && slotFromRow(row);
  }

  async feedsOf(slotId: number): Promise<{ merchantFeed: string; serviceFeed: string; slotFeed: string }> {
    const [row] = await this.db.query<{ merchantFeed: string; serviceFeed: string; slotFeed: string }>(
      `SELECT m.feed_json AS "merchantFeed", v.feed_json AS "serviceFeed", s.feed_json AS "slotFeed"
       FROM slots s JOIN services v ON v.merchant_id = s.merchant_id AND v.service_id = s.service_id
       JOIN merchants m ON m.merchant_id = s.merchant_id WHERE s.slot_id = $1`,
      [slotId],
    );
    return row;
  }

  async serviceFeeds(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string } | undefined> {
    const [row] = await this.db.query<{ merchantFeed: string; serviceFeed: string }>(
      `SELECT m.feed_json AS "merchantFeed", v.feed_json AS "serviceFeed"
       FROM services v JOIN merchants m ON m.merchant_id = v.merchant_id WHERE v.merchant_id = $1 AND v.service_id = $2`,
      [merchantId, serviceId],
    );
    return row;
  }

  /**
   * One conditional UPDATE: the row is locked, `spots_open` tested and the
   * spot taken in one statement, so two units racing for the last spot
   * cannot both take it (the second waits for the first's row lock, then
   * finds it taken, or is refused with a serialization failure and re-run).
   */
  async takeSpot(slotId: number): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE slots SET spots_held = spots_held + 1 WHERE slot_id = $1 AND spots_open > 0 RETURNING spots_open",
      [slotId],
    );
    return rows.length === 1;
  }

  async releaseSpot(slotId: number): Promise<void> {
    await this.db.query("UPDATE slots SET spots_held = spots_held - 1 WHERE slot_id = $1 AND spots_held > 0", [slotId]);
  }

  /**
   * Row locks taken in slot id order by one statement (the ORDER BY decides
   * the order FOR UPDATE locks in): "the best defense against deadlocks is
   * ... to be certain that all applications using a database acquire locks
   * on multiple objects in a consistent order" (PostgreSQL manual 13.3.4).
   */
  async lockSlots(slotIds: readonly number[]): Promise<void> {
    await this.db.query("SELECT slot_id FROM slots WHERE slot_id = ANY($1::bigint[]) ORDER BY slot_id FOR UPDATE", [slotIds]);
  }

  async slotsInWindow(query: SlotWindowQuery): Promise<SlotStock[]> {
    const rows = await this.db.query<SlotRow & { spots_sold_elsewhere: number; spots_held: number; held_by_bookings: number }>(
      `SELECT ${slotColumns}, spots_sold_elsewhere, spots_held,
         (SELECT count(*) FROM bookings b WHERE b.slot_id = slots.slot_id AND b.holds_spot) AS held_by_bookings
       FROM slots
       WHERE merchant_id = $1 AND ($2::text = '' OR service_id = $2::text)
         AND start_sec >= $3 AND start_sec < $4
         AND ($5::bigint = 0 OR duration_sec = $5::bigint)
         AND ($6::text = '' OR staff_id = $6::text)
         AND ($7::text = '' OR room_id = $7::text)
         AND ($8::integer = 0 OR party_size = $8::integer)
         AND ($9::bigint IS NULL OR (start_sec, slot_id) > ($9::bigint, $10::bigint))
       ORDER BY start_sec, slot_id
       LIMIT $11`,
      [
        query.merchantId, query.serviceId, query.fromSec, query.toSec, query.durationSec, query.staffId, query.roomId, query.partySize,
        query.after?.startSec ?? null, query.after?.slotId ?? 0, query.limit,
      ],
    );
    return rows.map((row) => ({
      ...slotFromRow(row),
      spotsSoldElsewhere: row.spots_sold_elsewhere,
      spotsHeldByBookings: row.held_by_bookings,
      spotsHeldByLeases: Math.max(row.spots_held - row.held_by_bookings, 0),
    }));
  }

  /** One conditional write: the test is the rule (the open spots, before the take), not a read before it. */
  async takeSpotsElsewhere(slotId: number, count: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE slots SET spots_sold_elsewhere = spots_sold_elsewhere + $2
       WHERE slot_id = $1 AND spots_total - spots_sold_elsewhere - spots_held >= $2 RETURNING 1`,
      [slotId, positiveCount(count)],
    );
    return rows.length === 1;
  }

  async giveBackSpotsElsewhere(slotId: number, count: number): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE slots SET spots_sold_elsewhere = spots_sold_elsewhere - $2 WHERE slot_id = $1 AND spots_sold_elsewhere >= $2 RETURNING 1",
      [slotId, positiveCount(count)],
    );
    return rows.length === 1;
  }

  async closeSlot(slotId: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE slots SET spots_sold_elsewhere = spots_total, feed_json = jsonb_set(feed_json::jsonb, '{spots_open}', '0')::text
       WHERE slot_id = $1 AND spots_sold_elsewhere < spots_total RETURNING 1`,
      [slotId],
    );
    return rows.length === 1;
  }

  async removeSlot(slotId: number): Promise<"deleted" | "kept"> {
    const deleted = await this.db.query(
      `DELETE FROM slots WHERE slot_id = $1
         AND NOT EXISTS (SELECT 1 FROM bookings WHERE slot_id = $1) AND NOT EXISTS (SELECT 1 FROM leases WHERE slot_id = $1)
       RETURNING 1`,
      [slotId],
    );
    if (deleted.length === 1) return "deleted";
    await this.db.query(
      `UPDATE slots SET spots_total = 0, spots_sold_elsewhere = 0,
         feed_json = jsonb_set(jsonb_set(feed_json::jsonb, '{spots_total}', '0'), '{spots_open}', '0')::text
       WHERE slot_id = $1`,
      [slotId],
    );
    return "kept";
  }
}
