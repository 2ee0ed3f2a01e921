import pg from "pg";
import { storeError } from "./store-errors.js";

/**
 * What a repository runs its SQL on: the pool (plain reads, each its own
 * statement, read committed) or one unit's transaction. Rows come back with
 * `bigint` columns as JavaScript numbers (see `typeParsers`); errors come
 * back in the store's terms (`storeError`).
 */
export interface Queryable {
  query<Row extends object>(text: string, values?: readonly unknown[]): Promise<Row[]>;
}

/** int8 (`bigint`) and numeric (`sum` of bigints), by their type oids. */
const int8Oid = 20;
const numericOid = 1700;

/**
 * node-postgres answers a `bigint` column as a string, since not every value
 * fits a JavaScript number. Every bigint of this schema is a time, an id or
 * a count, all far below 2^53, except money, which the repositories select as
 * text (`::text`) and read with BigInt: so a bigint becomes a number here,
 * and one that would not fit is refused rather than rounded.
 */
export const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === int8Oid && format !== "binary") return parseSafeInteger;
    if (oid === numericOid && format !== "binary") return (text: string) => text;
    return pg.types.getTypeParser(oid, format ?? "text");
  },
} as unknown as pg.CustomTypesConfig;

function parseSafeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`a bigint column held ${text}, beyond what a number holds exactly`);
  return value;
}

/** Plain reads on the pool: each query takes an idle connection for itself. */
export function poolQueryable(pool: pg.Pool): Queryable {
  return {
    query: async <Row extends object>(text: string, values?: readonly unknown[]) => {
      try {
        return (await pool.query<Row>(text, values as unknown[])).rows;
      } catch (error) {
        throw storeError(error);
      }
    },
  };
}
