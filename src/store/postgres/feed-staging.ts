import type pg from "pg";
import { ConfigError } from "../../config.js";
import {
  StagingError,
  type AppliedFeedChanges,
  type AppliedRecordChange,
  type FeedStaging,
  type OutboxRepository,
  type StagedFeedRecord,
  type UpsertOutcome,
} from "../repositories.js";
import { feedColumns, feedTables, serviceParameters, slotParameters, type FeedTable } from "../feed-columns.js";
import { feedUpsert, updateWhereDiffers, type FeedUpsert } from "./feed-upsert.js";
import { PostgresOutboxRepository } from "./outbox-repository.js";
import type { Queryable } from "./queryable.js";
import { storeError } from "./store-errors.js";

const ignoreConnectionError = () => undefined;

/**
 * Why an import cannot run through a pooler that hands one server session
 * to several clients, or one client's transactions to several sessions
 * (pgbouncer's pool_mode = transaction or statement), and what to do.
 */
const sessionPoolingNeeded =
  "BOOKING_DATABASE_URL points at a connection pooler that does not keep a client on one server session " +
  "(pgbouncer pool_mode = transaction or statement): an import keeps its staged records in temporary tables " +
  "of one session from its first record to the last. Run import with BOOKING_DATABASE_URL set to " +
  "PostgreSQL itself or to a pgbouncer database in pool_mode = session (serve works through either; docs/pgbouncer.md)";

/** PostgreSQL's duplicate_table: a staging table exists already in what should be a fresh session. */
const duplicateTable = "42P07";

/** One live table's staging copy and its statements. */
interface StagedTable {
  table: FeedTable;
  /** The session's temporary table. */
  staging: string;
  /** Whether this import staged the record already, and whether the live record differs from it (null: there is none). */
  lookUp: string;
  /** Stages the record (over an earlier staged one of the same key, only where it differs). */
  stage: FeedUpsert;
  /** Upserts every staged record into the live table, in the order they were first staged. */
  apply: string;
}

/**
 * `apply` waits this long for rows that units hold (a booking's slot) before
 * it fails with `StoreBusyError`: units hold a row for milliseconds.
 */
const applyLockTimeout = "5s";

/**
 * An import's records, kept apart from the live inventory until `apply`
 * writes them all in one transaction (see `FeedStaging`), on a connection of
 * the pool held for the staging's life: its temporary tables (PostgreSQL
 * manual, CREATE TABLE, "TEMPORARY") belong to that session alone, no other
 * connection can read them, and they vanish when the session ends, so an
 * import that fails or is killed leaves nothing behind. Only records that
 * would change a live row are staged.
 *
 * Temporary tables need the same server session from `open` to `apply`,
 * which a pooler in transaction mode does not keep: each transaction may run
 * in another session, where the tables are missing or are an earlier
 * import's, left behind because the session outlived its client. So each
 * transaction checks that it runs in the session `open` made the tables in
 * (`pg_backend_pid()`: the server process serving the session, one per
 * session; PostgreSQL manual, 9.26 "System Information Functions"),
 * and an import through such a pooler fails with `sessionPoolingNeeded`
 * rather than staging into, or applying, another session's rows.
 */
export class PostgresFeedStaging implements FeedStaging {
  private readonly tables: Record<"merchants" | "services" | "offers" | "slots", StagedTable>;

  /** The server process of the session the temporary tables were made in (`pg_backend_pid()`). */
  private sessionPid = 0;

  private constructor(private readonly client: pg.PoolClient) {
    const staged = (table: FeedTable): StagedTable => {
      const staging = `staged_${table.name}`;
      const keyMatches = (target: string) => table.key.map((column, index) => `${target}.${column} = $${index + 1}`).join(" AND ");
      const columns = feedColumns(table);
      const differs = table.values.map((column) => `live.${column} IS DISTINCT FROM $${columns.indexOf(column) + 1}`).join(" OR ");
      return {
        table,
        staging,
        lookUp: `SELECT EXISTS (SELECT 1 FROM ${staging} WHERE ${keyMatches(staging)}) AS staged,
          (SELECT ${differs} FROM ${table.name} live WHERE ${keyMatches("live")}) AS differs`,
        stage: feedUpsert(table, staging),
        apply: `INSERT INTO ${table.name} (${columns.join(", ")}) SELECT ${columns.join(", ")} FROM ${staging} ORDER BY staged_order
          ${updateWhereDiffers(table, table.name)}`,
      };
    };
    this.tables = {
      merchants: staged(feedTables.merchants),
      services: staged(feedTables.services),
      offers: staged(feedTables.offers),
      slots: staged(feedTables.slots),
    };
  }

  /** Takes a connection from `pool` for the staging and makes its temporary tables (the live tables' feed columns, unique on their keys). */
  static async open(pool: pg.Pool): Promise<PostgresFeedStaging> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw storeError(error);
    }
    // A checked-out connection that the server drops emits an error nobody else listens for (it would end
    // the process); the next statement on it fails in the store's terms instead.
    client.on("error", ignoreConnectionError);
    const staging = new PostgresFeedStaging(client);
    // One query string, one implicit transaction: the tables and the pid come from one session, even through a pooler.
    const created = Object.values(staging.tables).map(
      ({ table, staging: name }) => `CREATE TEMPORARY TABLE ${name} AS SELECT ${feedColumns(table).join(", ")} FROM ${table.name} WITH NO DATA;
        ALTER TABLE ${name} ADD COLUMN staged_order BIGINT GENERATED ALWAYS AS IDENTITY;
        CREATE UNIQUE INDEX ON ${name} (${table.key.join(", ")});`,
    );
    try {
      staging.sessionPid = lastPid(await client.query(`${created.join("\n")} SELECT pg_backend_pid() AS pid`));
    } catch (error) {
      await staging.discard();
      if ((error as { code?: string }).code === duplicateTable) {
        throw new ConfigError(`the import's staging tables exist already in what should be a new database session. ${sessionPoolingNeeded}`);
      }
      throw storeError(error);
    }
    return staging;
  }

  /**
   * What the record changes, as if the records staged so far were live: a
   * second record of the same key counts against the first, as it would
   * have if each had been written to the live table in turn.
   */
  private async stageRecord(staged: StagedTable, parameters: object): Promise<UpsertOutcome> {
    const values = staged.stage.values(parameters);
    // Named: prepared once on this session, not parsed and planned again for each of thousands of records.
    const [found] = (
      await this.client.query<{ staged: boolean; differs: boolean | null }>({ name: `${staged.staging}_look_up`, text: staged.lookUp, values })
    ).rows;
    if (!found.staged && found.differs === false) return "unchanged";
    const [written] = (await this.client.query<{ changed: boolean }>({ name: `${staged.staging}_stage`, text: staged.stage.sql, values })).rows;
    if (found.staged) return written.changed ? "updated" : "unchanged";
    return found.differs === null ? "inserted" : "updated";
  }

  private stageOne(record: StagedFeedRecord): Promise<UpsertOutcome> {
    switch (record.kind) {
      case "merchant":
        return this.stageRecord(this.tables.merchants, record.record);
      case "service":
        return this.stageRecord(this.tables.services, serviceParameters(record.record));
      case "offer":
        return this.stageRecord(this.tables.offers, record.record);
      case "slot":
        return this.stageRecord(this.tables.slots, slotParameters(record.record));
    }
  }

  async stage(records: readonly StagedFeedRecord[]): Promise<UpsertOutcome[]> {
    // Read committed: the live tables are only read; the staged rows of a call that fails roll back with it.
    await this.beginInSession("BEGIN");
    const outcomes: UpsertOutcome[] = [];
    try {
      for (const [index, record] of records.entries()) {
        try {
          outcomes.push(await this.stageOne(record));
        } catch (error) {
          throw new StagingError(index, storeError(error));
        }
      }
      await this.query("COMMIT");
      return outcomes;
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  async serviceFeeds(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string } | undefined> {
    const { merchants, services } = this.tables;
    const [row] = (
      await this.query<{ pid: number; merchantFeed: string | null; serviceFeed: string | null }>(
        `SELECT pg_backend_pid() AS pid,
                COALESCE((SELECT feed_json FROM ${merchants.staging} WHERE merchant_id = $1),
                         (SELECT feed_json FROM merchants WHERE merchant_id = $1)) AS "merchantFeed",
                COALESCE((SELECT feed_json FROM ${services.staging} WHERE merchant_id = $1 AND service_id = $2),
                         (SELECT feed_json FROM services WHERE merchant_id = $1 AND service_id = $2)) AS "serviceFeed"`,
        [merchantId, serviceId],
      )
    ).rows;
    this.checkSession(row.pid);
    return row.merchantFeed === null || row.serviceFeed === null ? undefined : { merchantFeed: row.merchantFeed, serviceFeed: row.serviceFeed };
  }

  /**
   * What the staged records change: only records that differ from the live
   * ones were staged, so these are all of them. Read before they are written
   * (a merchant's or service's feed JSON as it was).
   */
  private async changes(): Promise<AppliedFeedChanges> {
    const changedRecords = (staged: StagedTable, serviceId: string) =>
      `SELECT s.merchant_id AS "merchantId", ${serviceId} AS "serviceId", live.feed_json AS "beforeFeedJson", s.feed_json AS "afterFeedJson"
       FROM ${staged.staging} s LEFT JOIN ${staged.table.name} live USING (${staged.table.key.join(", ")}) ORDER BY s.staged_order`;
    return {
      merchants: (await this.query<AppliedRecordChange>(changedRecords(this.tables.merchants, "''"))).rows,
      services: (await this.query<AppliedRecordChange>(changedRecords(this.tables.services, "s.service_id"))).rows,
      slotStarts: (
        await this.query<AppliedFeedChanges["slotStarts"][number]>(
          `SELECT DISTINCT merchant_id AS "merchantId", service_id AS "serviceId", start_sec AS "startSec"
           FROM ${this.tables.slots.staging} ORDER BY "merchantId", "serviceId", "startSec"`,
        )
      ).rows,
    };
  }

  /**
   * One READ COMMITTED transaction: each upsert writes only the feed's
   * columns of the row as it stands (PostgreSQL manual, 13.2.1: an UPDATE
   * waits for a row another transaction is changing, then applies to its
   * newest version), so spots that units take meanwhile stay taken, and no
   * serialization failure can refuse the whole import at its end. Units that
   * read a slot the import rewrote are the ones refused and re-run.
   * `queueUpdates` queues what tells Google in the same transaction, into
   * an outbox on this connection. COMMIT returns once it is durable
   * (synchronous_commit).
   */
  async apply(queueUpdates?: (changes: AppliedFeedChanges, outbox: OutboxRepository) => Promise<void>): Promise<{ lockHeldMs: number }> {
    await this.beginInSession(`BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '${applyLockTimeout}'`);
    const startedAt = performance.now();
    try {
      const changes = queueUpdates && (await this.changes());
      // Referenced tables first: a service's merchant, a slot's service.
      for (const table of [this.tables.merchants, this.tables.services, this.tables.offers, this.tables.slots]) await this.query(table.apply);
      if (changes) await queueUpdates!(changes, new PostgresOutboxRepository(this.queryable));
      await this.query("COMMIT");
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
    return { lockHeldMs: performance.now() - startedAt };
  }

  /**
   * Closes the staging's session, which drops its temporary tables (and the
   * statements it prepared on them): the pool opens a fresh connection in its place.
   */
  async discard(): Promise<void> {
    this.client.off("error", ignoreConnectionError);
    this.client.release(true);
  }

  /** `begin`, then the check that the transaction runs in the staging's session (else it is rolled back and refused). */
  private async beginInSession(begin: string): Promise<void> {
    const pid = lastPid(await this.query(`${begin}; SELECT pg_backend_pid() AS pid`));
    try {
      this.checkSession(pid);
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  private checkSession(pid: number): void {
    if (pid !== this.sessionPid) {
      throw new ConfigError(
        `the import's statements moved from one database session to another (server process ${this.sessionPid}, then ${pid}). ${sessionPoolingNeeded}`,
      );
    }
  }

  /** This connection as the repositories run SQL on it (`apply`'s outbox, inside its transaction). */
  private readonly queryable: Queryable = {
    query: async <Row extends object>(text: string, values?: readonly unknown[]) => (await this.query<Row>(text, values as unknown[])).rows,
  };

  private async query<Row extends object>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.client.query<Row>(text, values);
    } catch (error) {
      throw storeError(error);
    }
  }
}

/** The `pid` of the last statement's row, of a query string of several statements (node-postgres answers one result per statement). */
function lastPid(results: pg.QueryResult | pg.QueryResult[]): number {
  const last = Array.isArray(results) ? results[results.length - 1] : results;
  return (last.rows[0] as { pid: number }).pid;
}
