import type { ServiceFeedRecord, SlotFeedRecord } from "./repositories.js";

/**
 * Which columns of an inventory table a feed owns. A record is identified by
 * its `key` columns; a re-import rewrites its `values` columns and nothing
 * else: every other column is the server's own live data (a slot's
 * `spots_held`, what this server has booked or leased, is never touched by a
 * feed, so spots already booked here stay booked).
 *
 * On both backends, the single-record upserts (inventory-repository.ts) and
 * an import's final swap (feed-staging.ts) are built from these lists, so
 * none of them can disagree on that rule.
 */
export interface FeedTable {
  /** The live table. */
  name: "merchants" | "services" | "offers" | "slots";
  /** The columns that identify a record (the table's unique key). */
  key: readonly string[];
  /** The columns a feed record sets. */
  values: readonly string[];
}

/** Merchants, services, offers and slots, in the order a record may refer to an earlier table's. */
export const feedTables = {
  merchants: { name: "merchants", key: ["merchant_id"], values: ["name", "feed_json"] },
  services: {
    name: "services",
    key: ["merchant_id", "service_id"],
    values: ["name", "price_micros", "currency_code", "feed_json", "booking_payment_terms"],
  },
  offers: { name: "offers", key: ["merchant_id", "offer_id"], values: ["service_id", "feed_json"] },
  slots: {
    name: "slots",
    key: ["merchant_id", "service_id", "start_sec", "duration_sec", "staff_id", "room_id", "party_size"],
    values: [
      "availability_tag", "spots_total", "spots_sold_elsewhere", "confirmation_mode", "duration_requirement", "feed_json",
      "booking_payment_terms",
    ],
  },
} as const satisfies Record<string, FeedTable>;

/** Every column a feed sets, key first. */
export const feedColumns = (table: FeedTable): readonly string[] => [...table.key, ...table.values];

/** The named parameter of a column: the record field of the same name in lowerCamelCase (`feed_json` → `@feedJson`). */
export const parameter = (column: string): string => `@${column.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase())}`;

/** `k1 = @k1 AND ...`: the row of the record whose key the statement is given. */
export const keyMatches = (table: FeedTable): string => table.key.map((column) => `${column} = ${parameter(column)}`).join(" AND ");

/** `VALUES (@...)` of one record, for `upsertSql`. */
export const recordValues = (table: FeedTable): string => `VALUES (${feedColumns(table).map(parameter).join(", ")})`;

/**
 * `INSERT INTO target ... source ON CONFLICT (key) DO UPDATE` the feed's
 * columns, only where one differs: an unchanged record writes nothing (and
 * counts no change). `source` is `recordValues(table)` or a SELECT of the
 * feed's columns (which then needs a WHERE clause, SQLite's rule for an upsert
 * from a SELECT).
 */
export function upsertSql(table: FeedTable, target: string, source: string): string {
  return `INSERT INTO ${target} (${feedColumns(table).join(", ")}) ${source}
    ON CONFLICT (${table.key.join(", ")}) DO UPDATE SET ${table.values.map((column) => `${column} = excluded.${column}`).join(", ")}
    WHERE ${table.values.map((column) => `${column} IS NOT excluded.${column}`).join(" OR ")}`;
}

/**
 * A slot feed record as the parameters of `feedTables.slots`: the feed's
 * spots that are not open were sold elsewhere; spots this server holds are
 * counted apart (`spots_held`) and subtracted when the slot is read.
 */
export function slotParameters(slot: SlotFeedRecord): Record<string, string | number> {
  return {
    merchantId: slot.merchantId,
    serviceId: slot.serviceId,
    startSec: slot.startSec,
    durationSec: slot.durationSec,
    staffId: slot.staffId,
    roomId: slot.roomId,
    partySize: slot.partySize,
    availabilityTag: slot.availabilityTag,
    spotsTotal: slot.spotsTotal,
    spotsSoldElsewhere: slot.spotsTotal - slot.spotsOpen,
    confirmationMode: slot.confirmationMode,
    durationRequirement: slot.durationRequirement,
    feedJson: slot.feedJson,
    bookingPaymentTerms: slot.bookingPaymentTerms ? 1 : 0,
  };
}

/** A service feed record as the parameters of `feedTables.services` (SQLite stores a flag as 0 or 1). */
export function serviceParameters(service: ServiceFeedRecord): Record<string, string | number | bigint | null> {
  const { merchantId, serviceId, name, priceMicros, currencyCode, feedJson } = service;
  return { merchantId, serviceId, name, priceMicros, currencyCode, feedJson, bookingPaymentTerms: service.bookingPaymentTerms ? 1 : 0 };
}
