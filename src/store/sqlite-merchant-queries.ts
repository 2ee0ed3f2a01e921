import { fromBinary } from "@bufbuild/protobuf";
import { BookingSchema } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { MerchantBookingQueries, MerchantBookingQuery } from "../booking/merchant-decisions.js";
import { openDatabase, type SqliteDatabase } from "./database.js";
import type { BookingRecord } from "./repositories.js";

/**
 * MerchantService's ListBookings read on SQLite: a merchant's bookings (the
 * merchant is the booked slot's), by status and slot start, keyset-paged on
 * (start_sec, booking_id). Read-only.
 */
export function sqliteMerchantQueries(db: SqliteDatabase): MerchantBookingQueries {
  const statement = db.prepare(`
    SELECT b.booking_proto, b.slot_id, b.holds_spot, b.created_at_sec
    FROM bookings b JOIN slots s ON s.slot_id = b.slot_id
    WHERE s.merchant_id = @merchantId
      AND (@statusesJson = '[]' OR b.status IN (SELECT value FROM json_each(@statusesJson)))
      AND b.start_sec >= @startSecFrom
      AND (@startSecBefore IS NULL OR b.start_sec < @startSecBefore)
      AND (@afterStartSec IS NULL OR b.start_sec > @afterStartSec
           OR (b.start_sec = @afterStartSec AND b.booking_id > @afterBookingId))
    ORDER BY b.start_sec, b.booking_id
    LIMIT @limit`);
  return {
    listForMerchant(query: MerchantBookingQuery): BookingRecord[] {
      const rows = statement.all({
        merchantId: query.merchantId,
        statusesJson: JSON.stringify(query.statuses),
        startSecFrom: query.startSecFrom,
        startSecBefore: query.startSecBefore ?? null,
        afterStartSec: query.after?.startSec ?? null,
        afterBookingId: query.after?.bookingId ?? "",
        limit: query.limit,
      }) as Array<{ booking_proto: Buffer; slot_id: number; holds_spot: number; created_at_sec: number }>;
      return rows.map((row) => ({
        booking: fromBinary(BookingSchema, row.booking_proto),
        slotId: row.slot_id,
        holdsSpot: row.holds_spot === 1,
        createdAtSec: row.created_at_sec,
      }));
    },
  };
}

/**
 * Opens a read connection of its own on the booking database at `path`
 * (WAL lets it read beside the store's writer) for MerchantService's reads.
 * Not for ":memory:", which would be a different, empty database.
 */
export function openSqliteMerchantQueries(path: string): { queries: MerchantBookingQueries; close(): void } {
  const db = openDatabase(path);
  return { queries: sqliteMerchantQueries(db), close: () => db.close() };
}
