import type { Statement } from "better-sqlite3";
import type { SqliteDatabase } from "../database.js";
import type {
  InventoryRepository,
  MerchantFeedRecord,
  OfferFeedRecord,
  ServiceFeedRecord,
  SlotFeedRecord,
  SlotAvailability,
  SlotFeedState,
  SlotQuery,
  StoredFeedRecord,
  SlotRecord,
  SlotStock,
  SlotWindowQuery,
  UpsertOutcome,
} from "../repositories.js";
import type { Synchronous } from "./async-repositories.js";
import { slotFromRow, type SlotRow } from "../rows.js";
import { feedTables, recordValues, serviceParameters, slotParameters, upsertSql } from "../feed-columns.js";

/**
 * The one formula for a slot's open spots: its total less what the feed says
 * was sold elsewhere and what this server holds (bookings and live leases);
 * never below zero (a feed may lower the total under what is held).
 */
const openSpots = "max(spots_total - spots_sold_elsewhere - spots_held, 0)";

const slotColumns = `slot_id, merchant_id, service_id, start_sec, duration_sec, staff_id, room_id,
  party_size, availability_tag, spots_total, confirmation_mode, duration_requirement,
  ${openSpots} AS spots_open,
  CASE WHEN booking_payment_terms THEN 1 ELSE (SELECT v.booking_payment_terms FROM services v
    WHERE v.merchant_id = slots.merchant_id AND v.service_id = slots.service_id) END AS may_take_payment`;

type SlotAvailabilityRow = [number, number, string, string, number, number, number];

interface SlotStockRow extends SlotRow {
  spots_sold_elsewhere: number;
  spots_held: number;
  held_by_bookings: number;
}

/** A count of spots to move: a caller's bug when not a positive integer (a negative one would move them the other way). */
function positiveCount(count: number): number {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`a count of spots must be a positive integer, got ${count}`);
  return count;
}

/** The pages a feed export reads, by key: merchants, services, slots (their open spots by `openSpots`). */
function exportStatements(db: SqliteDatabase) {
  return {
    counts: db.prepare(`SELECT (SELECT count(*) FROM merchants) AS merchants, (SELECT count(*) FROM services) AS services,
      (SELECT count(*) FROM slots) AS slots`),
    merchants: db.prepare(`SELECT merchant_id AS merchantId, '' AS serviceId, feed_json AS feedJson FROM merchants
      WHERE merchant_id > ? ORDER BY merchant_id LIMIT ?`),
    services: db.prepare(`SELECT merchant_id AS merchantId, service_id AS serviceId, feed_json AS feedJson FROM services
      WHERE (merchant_id, service_id) > (@merchantId, @serviceId) ORDER BY merchant_id, service_id LIMIT @limit`),
    slots: db.prepare(`SELECT slot_id AS slotId, merchant_id AS merchantId, service_id AS serviceId, start_sec AS startSec,
      duration_sec AS durationSec, staff_id AS staffId, room_id AS roomId, party_size AS partySize, spots_total AS spotsTotal,
      ${openSpots} AS spotsOpen, feed_json AS feedJson FROM slots WHERE slot_id > ? ORDER BY slot_id LIMIT ?`),
  };
}

/** Maps `changes` of an upsert guarded by "only if something differs". */
function upsertOutcome(existedBefore: boolean, changes: number): UpsertOutcome {
  if (!existedBefore) return "inserted";
  return changes > 0 ? "updated" : "unchanged";
}

export class SqliteInventoryRepository implements Synchronous<InventoryRepository> {
  private readonly merchantExists;
  private readonly serviceExists;
  private readonly merchantUpsert;
  private readonly serviceUpsert;
  private readonly slotIdByKey;
  private readonly slotUpsert;
  private readonly offerExists;
  private readonly offerUpsert;
  private readonly offerForService;
  /** One statement per LIMIT: a bound LIMIT makes SQLite sort without its top-N shortcut, 3x slower. */
  private readonly slotsFind = new Map<number, Statement>();
  private readonly slotGet;
  private readonly slotsBetween;
  private readonly spotTake;
  private readonly feedsStmt;
  private readonly serviceFeedsStmt;
  private readonly spotRelease;
  private readonly window;
  private readonly elsewhereTake;
  private readonly elsewhereGiveBack;
  private readonly slotClose;
  private readonly slotDelete;
  private readonly slotEmpty;

  private exportStatementsPrepared: ReturnType<typeof exportStatements> | undefined;

  constructor(private readonly db: SqliteDatabase) {
    this.merchantExists = db.prepare("SELECT 1 FROM merchants WHERE merchant_id = ?").pluck();
    this.serviceExists = db.prepare("SELECT 1 FROM services WHERE merchant_id = ? AND service_id = ?").pluck();
    this.merchantUpsert = db.prepare(upsertSql(feedTables.merchants, "main.merchants", recordValues(feedTables.merchants)));
    this.serviceUpsert = db.prepare(upsertSql(feedTables.services, "main.services", recordValues(feedTables.services)));
    this.slotIdByKey = db
      .prepare(`SELECT slot_id FROM slots WHERE merchant_id = @merchantId AND service_id = @serviceId
        AND start_sec = @startSec AND duration_sec = @durationSec AND staff_id = @staffId
        AND room_id = @roomId AND party_size = @partySize`)
      .pluck();
    this.slotUpsert = db.prepare(upsertSql(feedTables.slots, "main.slots", recordValues(feedTables.slots)));
    this.offerExists = db.prepare("SELECT 1 FROM offers WHERE merchant_id = ? AND offer_id = ?").pluck();
    this.offerUpsert = db.prepare(upsertSql(feedTables.offers, "main.offers", recordValues(feedTables.offers)));
    this.offerForService = db
      .prepare("SELECT 1 FROM offers WHERE merchant_id = ? AND offer_id = ? AND (service_id = '' OR service_id = ?)")
      .pluck();
    this.slotGet = db.prepare(`SELECT ${slotColumns} FROM slots WHERE slot_id = ?`);
    // Raw rows of the few columns an availability answer needs: building row
    // objects with every column was most of a 100-slot lookup's time.
    this.slotsBetween = db
      .prepare(`SELECT start_sec, duration_sec, staff_id, room_id, party_size, confirmation_mode, ${openSpots}
        FROM slots WHERE merchant_id = ? AND service_id = ? AND start_sec BETWEEN ? AND ? ORDER BY start_sec, slot_id`)
      .raw();
    this.feedsStmt = db.prepare(`
      SELECT m.feed_json AS merchantFeed, v.feed_json AS serviceFeed, s.feed_json AS slotFeed
      FROM slots s JOIN services v ON v.merchant_id = s.merchant_id AND v.service_id = s.service_id
      JOIN merchants m ON m.merchant_id = s.merchant_id WHERE s.slot_id = ?`);
    this.serviceFeedsStmt = db.prepare(`
      SELECT m.feed_json AS merchantFeed, v.feed_json AS serviceFeed
      FROM services v JOIN merchants m ON m.merchant_id = v.merchant_id WHERE v.merchant_id = ? AND v.service_id = ?`);
    this.spotTake = db.prepare(`UPDATE slots SET spots_held = spots_held + 1 WHERE slot_id = ? AND ${openSpots} > 0`);
    this.spotRelease = db.prepare("UPDATE slots SET spots_held = spots_held - 1 WHERE slot_id = ? AND spots_held > 0");
    this.window = db.prepare(`
      SELECT ${slotColumns}, spots_sold_elsewhere, spots_held,
        (SELECT count(*) FROM bookings b WHERE b.slot_id = slots.slot_id AND b.holds_spot = 1) AS held_by_bookings
      FROM slots
      WHERE merchant_id = @merchantId AND (@serviceId = '' OR service_id = @serviceId)
        AND start_sec >= @fromSec AND start_sec < @toSec
        AND (@durationSec = 0 OR duration_sec = @durationSec)
        AND (@staffId = '' OR staff_id = @staffId)
        AND (@roomId = '' OR room_id = @roomId)
        AND (@partySize = 0 OR party_size = @partySize)
        AND (@afterStartSec IS NULL OR start_sec > @afterStartSec OR (start_sec = @afterStartSec AND slot_id > @afterSlotId))
      ORDER BY start_sec, slot_id
      LIMIT @limit`);
    // The conditions are the rules themselves (one conditional write each, not a read and then a write).
    this.elsewhereTake = db.prepare(`UPDATE slots SET spots_sold_elsewhere = spots_sold_elsewhere + @count
      WHERE slot_id = @slotId AND spots_total - spots_sold_elsewhere - spots_held >= @count`);
    this.elsewhereGiveBack = db.prepare(`UPDATE slots SET spots_sold_elsewhere = spots_sold_elsewhere - @count
      WHERE slot_id = @slotId AND spots_sold_elsewhere >= @count`);
    this.slotClose = db.prepare(`UPDATE slots SET spots_sold_elsewhere = spots_total, feed_json = json_set(feed_json, '$.spots_open', 0)
      WHERE slot_id = ? AND spots_sold_elsewhere < spots_total`);
    this.slotDelete = db.prepare(`DELETE FROM slots WHERE slot_id = @slotId
      AND NOT EXISTS (SELECT 1 FROM bookings WHERE slot_id = @slotId) AND NOT EXISTS (SELECT 1 FROM leases WHERE slot_id = @slotId)`);
    this.slotEmpty = db.prepare(`UPDATE slots SET spots_total = 0, spots_sold_elsewhere = 0,
      feed_json = json_set(feed_json, '$.spots_total', 0, '$.spots_open', 0) WHERE slot_id = ?`);
  }

  upsertMerchant(merchant: MerchantFeedRecord): UpsertOutcome {
    const existed = this.merchantExists.get(merchant.merchantId) !== undefined;
    return upsertOutcome(existed, this.merchantUpsert.run(merchant).changes);
  }

  upsertService(service: ServiceFeedRecord): UpsertOutcome {
    const existed = this.serviceExists.get(service.merchantId, service.serviceId) !== undefined;
    return upsertOutcome(existed, this.serviceUpsert.run(serviceParameters(service)).changes);
  }

  upsertSlot(slot: SlotFeedRecord): UpsertOutcome {
    const parameters = slotParameters(slot);
    const existed = this.slotIdByKey.get(parameters) !== undefined;
    return upsertOutcome(existed, this.slotUpsert.run(parameters).changes);
  }

  upsertOffer(offer: OfferFeedRecord): UpsertOutcome {
    const existed = this.offerExists.get(offer.merchantId, offer.offerId) !== undefined;
    return upsertOutcome(existed, this.offerUpsert.run(offer).changes);
  }

  hasMerchant(merchantId: string): boolean {
    return this.merchantExists.get(merchantId) !== undefined;
  }

  hasService(merchantId: string, serviceId: string): boolean {
    return this.serviceExists.get(merchantId, serviceId) !== undefined;
  }

  hasOffer(merchantId: string, serviceId: string, offerId: string): boolean {
    return this.offerForService.get(merchantId, offerId, serviceId) !== undefined;
  }

  inventoryCounts(): { merchants: number; services: number; slots: number } {
    return this.exportReads().counts.get() as { merchants: number; services: number; slots: number };
  }

  merchantFeedsAfter(afterMerchantId: string, limit: number): StoredFeedRecord[] {
    return this.exportReads().merchants.all(afterMerchantId, limit) as StoredFeedRecord[];
  }

  serviceFeedsAfter(after: { merchantId: string; serviceId: string } | undefined, limit: number): StoredFeedRecord[] {
    const { merchantId, serviceId } = after ?? { merchantId: "", serviceId: "" };
    return this.exportReads().services.all({ merchantId, serviceId, limit }) as StoredFeedRecord[];
  }

  slotFeedsAfter(afterSlotId: number, limit: number): SlotFeedState[] {
    return this.exportReads().slots.all(afterSlotId, limit) as SlotFeedState[];
  }

  /** A feed export's statements, prepared at its first read (a serving process never exports). */
  private exportReads(): ReturnType<typeof exportStatements> {
    return (this.exportStatementsPrepared ??= exportStatements(this.db));
  }

  findSlots(query: SlotQuery, limit: number): SlotRecord[] {
    return (this.slotsFindStatement(limit).all(query) as SlotRow[]).map(slotFromRow);
  }

  private slotsFindStatement(limit: number): Statement {
    let statement = this.slotsFind.get(limit);
    if (!statement) {
      if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`slot query limit must be a positive integer, got ${limit}`);
      statement = this.db.prepare(`
        SELECT ${slotColumns} FROM slots
        WHERE merchant_id = @merchantId AND service_id = @serviceId AND start_sec = @startSec
          AND (@durationSec = 0 OR duration_sec = @durationSec)
          AND (@staffId = '' OR staff_id = @staffId)
          AND (@roomId = '' OR room_id = @roomId)
          AND (@partySize = 0 OR party_size = @partySize)
        ORDER BY spots_open > 0 DESC, slot_id
        LIMIT ${limit}`);
      this.slotsFind.set(limit, statement);
    }
    return statement;
  }

  slotsStartingBetween(merchantId: string, serviceId: string, fromSec: number, toSec: number): SlotAvailability[] {
    const rows = this.slotsBetween.all(merchantId, serviceId, fromSec, toSec) as SlotAvailabilityRow[];
    return rows.map(([startSec, durationSec, staffId, roomId, partySize, confirmationMode, spotsOpen]) => ({
      merchantId, serviceId, startSec, durationSec, staffId, roomId, partySize, confirmationMode, spotsOpen,
    }));
  }

  getSlot(slotId: number): SlotRecord | undefined {
    const row = this.slotGet.get(slotId) as SlotRow | undefined;
    return row && slotFromRow(row);
  }

  feedsOf(slotId: number): { merchantFeed: string; serviceFeed: string; slotFeed: string } {
    return this.feedsStmt.get(slotId) as { merchantFeed: string; serviceFeed: string; slotFeed: string };
  }

  serviceFeeds(merchantId: string, serviceId: string): { merchantFeed: string; serviceFeed: string } | undefined {
    return this.serviceFeedsStmt.get(merchantId, serviceId) as { merchantFeed: string; serviceFeed: string } | undefined;
  }

  takeSpot(slotId: number): boolean {
    return this.spotTake.run(slotId).changes === 1;
  }

  releaseSpot(slotId: number): void {
    this.spotRelease.run(slotId);
  }

  /** Units run one at a time on SQLite: a unit holds every row it reads already. */
  lockSlots(): void {}

  slotsInWindow(query: SlotWindowQuery): SlotStock[] {
    const { after, ...rest } = query;
    const rows = this.window.all({ ...rest, afterStartSec: after?.startSec ?? null, afterSlotId: after?.slotId ?? null }) as SlotStockRow[];
    return rows.map((row) => ({
      ...slotFromRow(row),
      spotsSoldElsewhere: row.spots_sold_elsewhere,
      spotsHeldByBookings: row.held_by_bookings,
      spotsHeldByLeases: Math.max(row.spots_held - row.held_by_bookings, 0),
    }));
  }

  takeSpotsElsewhere(slotId: number, count: number): boolean {
    return this.elsewhereTake.run({ slotId, count: positiveCount(count) }).changes === 1;
  }

  giveBackSpotsElsewhere(slotId: number, count: number): boolean {
    return this.elsewhereGiveBack.run({ slotId, count: positiveCount(count) }).changes === 1;
  }

  closeSlot(slotId: number): boolean {
    return this.slotClose.run(slotId).changes === 1;
  }

  removeSlot(slotId: number): "deleted" | "kept" {
    if (this.slotDelete.run({ slotId }).changes === 1) return "deleted";
    this.slotEmpty.run(slotId);
    return "kept";
  }
}
