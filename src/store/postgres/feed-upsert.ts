import { feedColumns, parameter, type FeedTable } from "../feed-columns.js";

/** One feed record's upsert into a table: its SQL and the positional values it takes from a record's parameters. */
export interface FeedUpsert {
  sql: string;
  values(record: object): unknown[];
}

/**
 * `INSERT ... ON CONFLICT (key) DO UPDATE` of the feed's columns, only where
 * one differs (an unchanged record writes nothing), answering in the same
 * statement whether the record existed before and whether it changed: the
 * sub-statements of a WITH all see one snapshot (PostgreSQL manual, 7.8.4
 * "Data-Modifying Statements in WITH"), so `existing` sees the table as it
 * was before the insert.
 *
 * `target` is the table written (a live table, or a staging copy with the
 * same key); the record's parameters are the ones SQLite's named statements
 * take (`serviceParameters`, `slotParameters`, or the record itself).
 */
export function feedUpsert(table: FeedTable, target: string): FeedUpsert {
  const columns = feedColumns(table);
  const placeholder = (column: string) => `$${columns.indexOf(column) + 1}`;
  const keyMatches = table.key.map((column) => `${column} = ${placeholder(column)}`).join(" AND ");
  const sql = `WITH existing AS (SELECT 1 FROM ${target} WHERE ${keyMatches}),
    changed AS (
      INSERT INTO ${target} (${columns.join(", ")}) VALUES (${columns.map(placeholder).join(", ")})
      ${updateWhereDiffers(table, target)}
      RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM existing) AS existed, EXISTS (SELECT 1 FROM changed) AS changed`;
  const fields = columns.map((column) => parameter(column).slice(1));
  return {
    sql,
    // node-postgres sends a bigint (money) as its exact text.
    values: (record) => fields.map((field) => (record as Record<string, unknown>)[field]),
  };
}

/** `ON CONFLICT (key) DO UPDATE` of the feed's columns of `target`, only where one differs from the record inserted. */
export function updateWhereDiffers(table: FeedTable, target: string): string {
  return `ON CONFLICT (${table.key.join(", ")}) DO UPDATE SET ${table.values.map((column) => `${column} = excluded.${column}`).join(", ")}
    WHERE ${table.values.map((column) => `${target}.${column} IS DISTINCT FROM excluded.${column}`).join(" OR ")}`;
}
