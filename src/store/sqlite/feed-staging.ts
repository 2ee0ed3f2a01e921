import type { Statement } from "better-sqlite3";
import type { SqliteDatabase } from "../database.js";
import {
  StagingError,
  type AppliedFeedChanges,
  type AppliedRecordChange,
  type FeedStaging,
  type OutboxRepository,
  type StagedFeedRecord,
  type UpsertOutcome,
} from "../repositories.js";
import { promised } from "./async-repositories.js";
import { SqliteOutboxRepository } from "./outbox-repository.js";
import { storeError } from "./store-errors.js";
import type { UnitRunner } from "./unit-runner.js";
import {
  feedColumns,
  feedTables,
  keyMatches,
  parameter,
  recordValues,
  serviceParameters,
  slotParameters,
  upsertSql,
  type FeedTable,
} from "../feed-columns.js";

/**
 * The schema an import stages its records in: a private temporary database
 * attached to the connection (`ATTACH ''`). SQLite creates its file in the
 * temporary directory (SQLITE_TMPDIR, else /var/tmp or /tmp) and unlinks it
 * at once, so it vanishes with the connection, even when the process is
 * killed: a failed or killed import never leaves staging behind, and no
 * query of the server can read it (another connection cannot see it).
 * Writing it takes no lock on the live database.
 */
const stagingSchema = "feed_staging";

/** One live table's staging statements. */
interface StagedTable {
  /** Whether this import has staged the record already. */
  staged: Statement;
  /** Whether the live record differs from the given one (1 or 0); undefined when there is none. */
  liveDiffers: Statement;
  /** Stages the record (over an earlier staged one of the same key). */
  stage: Statement;
  /**
   * Upserts every staged record into the live table, in the order they were
   * first staged: new slots get their ids in feed order, as one upsert per
   * record gave them (ids break ties between slots a query matches).
   */
  apply: Statement;
}

/**
 * An import's records, kept apart from the live inventory until `apply`
 * writes them all in one transaction (see `FeedStaging`). Only records that
 * would change a live row are staged: a re-import of the same feed stages
 * nothing, and its `apply` writes nothing.
 */
export class SqliteFeedStaging implements FeedStaging {
  private readonly tables;
  private readonly stagedServiceFeed;
  private readonly stagedMerchantFeed;
  private readonly liveServiceFeed;
  private readonly liveMerchantFeed;
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private readonly deferWalSync: Statement;
  private readonly restoreFullSync: Statement;
  /** What `apply` changes, read in its transaction before it writes (see `changes`). */
  private readonly changedMerchants: Statement;
  private readonly changedServices: Statement;
  private readonly changedSlotStarts: Statement;
  /** The outbox `apply`'s callback queues into, on this connection, inside the import's transaction. */
  private readonly outbox: OutboxRepository;

  /**
   * @param syncWal makes everything committed so far durable (see
   * `walSyncer`); with it, `apply` flushes the WAL after releasing the lock,
   * not under it (for 300k new slots, the flush of a 95 MB WAL: ~250 ms of ~1.2 s).
   */
  constructor(
    private readonly db: SqliteDatabase,
    /** The store's: staging shares its connection, so it runs between the store's transactions. */
    private readonly runner: UnitRunner,
    private readonly syncWal?: () => Promise<void>,
  ) {
    db.exec(`ATTACH DATABASE '' AS ${stagingSchema}`);
    try {
      this.tables = {
        merchants: this.stagedTable(feedTables.merchants),
        services: this.stagedTable(feedTables.services),
        offers: this.stagedTable(feedTables.offers),
        slots: this.stagedTable(feedTables.slots),
      };
    } catch (error) {
      db.exec(`DETACH DATABASE ${stagingSchema}`);
      throw error;
    }
    const feedOf = (schema: string, table: FeedTable) =>
      db.prepare(`SELECT feed_json FROM ${schema}.${table.name} WHERE ${keyMatches(table)}`).pluck();
    this.stagedServiceFeed = feedOf(stagingSchema, feedTables.services);
    this.stagedMerchantFeed = feedOf(stagingSchema, feedTables.merchants);
    this.liveServiceFeed = feedOf("main", feedTables.services);
    this.liveMerchantFeed = feedOf("main", feedTables.merchants);
    const changedRecords = (table: FeedTable, serviceId: string) =>
      db.prepare(`SELECT s.merchant_id AS merchantId, ${serviceId} AS serviceId, live.feed_json AS beforeFeedJson, s.feed_json AS afterFeedJson
        FROM ${stagingSchema}.${table.name} s LEFT JOIN main.${table.name} live USING (${table.key.join(", ")}) ORDER BY s.rowid`);
    this.changedMerchants = changedRecords(feedTables.merchants, "''");
    this.changedServices = changedRecords(feedTables.services, "s.service_id");
    this.changedSlotStarts = db.prepare(`SELECT DISTINCT merchant_id AS merchantId, service_id AS serviceId, start_sec AS startSec
      FROM ${stagingSchema}.${feedTables.slots.name} ORDER BY merchant_id, service_id, start_sec`);
    // Its statements run on this connection: inside `swap`'s transaction, with no unit of the store under way.
    this.outbox = promised<OutboxRepository>(new SqliteOutboxRepository(db), () => undefined);
    [this.begin, this.commit, this.rollback, this.deferWalSync, this.restoreFullSync] = [
      "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL",
    ].map((sql) => db.prepare(sql));
  }

  /**
   * The staging copy of a live table: its feed columns, with their types
   * (CREATE TABLE AS keeps each column's affinity, so a staged 3 compares
   * equal to a live 3), unique on the key as the live table is.
   */
  private stagedTable(table: FeedTable): StagedTable {
    const staging = `${stagingSchema}.${table.name}`;
    const columns = feedColumns(table).join(", ");
    this.db.exec(`CREATE TABLE ${staging} AS SELECT ${columns} FROM main.${table.name} WHERE false;
      CREATE UNIQUE INDEX ${staging}_key ON ${table.name} (${table.key.join(", ")})`);
    const differs = table.values.map((column) => `${column} IS NOT ${parameter(column)}`);
    return {
      staged: this.db.prepare(`SELECT 1 FROM ${staging} WHERE ${keyMatches(table)}`).pluck(),
      liveDiffers: this.db.prepare(`SELECT ${differs.join(" OR ")} FROM main.${table.name} WHERE ${keyMatches(table)}`).pluck(),
      stage: this.db.prepare(upsertSql(table, staging, recordValues(table))),
      apply: this.db.prepare(upsertSql(table, `main.${table.name}`, `SELECT ${columns} FROM ${staging} WHERE true ORDER BY rowid`)),
    };
  }

  /**
   * What the record changes, as if the records staged so far were live:
   * a second record of the same key counts against the first, as it would
   * have if each had been written to the live table in turn.
   */
  private stageRecord(table: StagedTable, parameters: object): UpsertOutcome {
    if (table.staged.get(parameters) !== undefined) return table.stage.run(parameters).changes > 0 ? "updated" : "unchanged";
    const differs = table.liveDiffers.get(parameters) as number | undefined;
    if (differs === 0) return "unchanged";
    table.stage.run(parameters);
    return differs === undefined ? "inserted" : "updated";
  }

  private stageOne(staged: StagedFeedRecord): UpsertOutcome {
    switch (staged.kind) {
      case "merchant":
        return this.stageRecord(this.tables.merchants, staged.record);
      case "service":
        return this.stageRecord(this.tables.services, serviceParameters(staged.record));
      case "offer":
        return this.stageRecord(this.tables.offers, staged.record);
      case "slot":
        return this.stageRecord(this.tables.slots, slotParameters(staged.record));
    }
  }

  stage(records: readonly StagedFeedRecord[]): Promise<UpsertOutcome[]> {
    // Deferred: the live tables are only read (a WAL snapshot, which blocks no one).
    const stageAll = this.db.transaction(() =>
      records.map((record, index) => {
        try {
          return this.stageOne(record);
        } catch (error) {
          throw new StagingError(index, storeError(error));
        }
      }),
    );
    return this.runner.exclusive(() => stageAll());
  }

  async serviceFeeds(merchantId: string, serviceId: string): Promise<{ merchantFeed: string; serviceFeed: string } | undefined> {
    if (this.db.inTransaction) await this.runner.transactionEnded();
    const serviceFeed = (this.stagedServiceFeed.get({ merchantId, serviceId }) ?? this.liveServiceFeed.get({ merchantId, serviceId })) as
      | string
      | undefined;
    const merchantFeed = (this.stagedMerchantFeed.get({ merchantId }) ?? this.liveMerchantFeed.get({ merchantId })) as string | undefined;
    return serviceFeed === undefined || merchantFeed === undefined ? undefined : { merchantFeed, serviceFeed };
  }

  async apply(queueUpdates?: (changes: AppliedFeedChanges, outbox: OutboxRepository) => Promise<void>): Promise<{ lockHeldMs: number }> {
    const lockHeldMs = await this.runner.exclusive(() => this.swap(queueUpdates));
    await this.syncWal?.();
    return { lockHeldMs };
  }

  /**
   * What the staged records change: only records that differ from the live
   * ones were staged, so these are all of them. Read in the transaction,
   * before they are written (a merchant's or service's feed JSON as it was);
   * `slotStarts`, read from the staging alone, before it (not under the lock).
   */
  private changes(slotStarts: AppliedFeedChanges["slotStarts"]): AppliedFeedChanges {
    return {
      merchants: this.changedMerchants.all() as AppliedRecordChange[],
      services: this.changedServices.all() as AppliedRecordChange[],
      slotStarts,
    };
  }

  /**
   * The live tables take the staged records, and `queueUpdates` queues what
   * tells Google, in one transaction; returns how long it held the write lock (ms).
   */
  private async swap(queueUpdates?: (changes: AppliedFeedChanges, outbox: OutboxRepository) => Promise<void>): Promise<number> {
    // As in group commit: COMMIT writes the WAL without flushing it, the flush
    // runs after the lock is released, and `apply` resolves only once it is
    // durable. A crash before the flush loses the whole import, never part of
    // it (WAL recovery stops at the last intact commit).
    if (this.syncWal) this.deferWalSync.run();
    // SQLite's automatic checkpoint would run inside COMMIT, just after the
    // lock is released: it is run below instead, so that the time measured
    // is the lock's alone.
    const autoCheckpointPages = this.db.pragma("wal_autocheckpoint", { simple: true }) as number;
    this.db.pragma("wal_autocheckpoint = 0");
    let lockHeldMs: number;
    try {
      const slotStarts = queueUpdates && (this.changedSlotStarts.all() as AppliedFeedChanges["slotStarts"]);
      this.begin.run();
      const lockedAt = performance.now();
      try {
        const changes = slotStarts && this.changes(slotStarts);
        // Referenced tables first: a service's merchant, a slot's service.
        for (const table of [this.tables.merchants, this.tables.services, this.tables.offers, this.tables.slots]) table.apply.run();
        // Awaits only the outbox, whose calls run at once: no other work of the store runs meanwhile (`exclusive`).
        if (changes) await queueUpdates!(changes, this.outbox);
        this.commit.run();
      } catch (error) {
        if (this.db.inTransaction) this.rollback.run();
        throw error;
      }
      lockHeldMs = performance.now() - lockedAt;
    } finally {
      if (this.syncWal) this.restoreFullSync.run();
      this.db.pragma(`wal_autocheckpoint = ${autoCheckpointPages}`);
    }
    // Copies the import's pages into the database file at once, from this
    // connection, without blocking readers or writers (PASSIVE), before a
    // serving process's next commit finds a WAL past its own automatic
    // checkpoint's threshold and copies it on its event loop (a 100 MB WAL
    // for 300k slots: hundreds of ms). SQLite flushes the WAL first.
    if (!this.db.memory) this.db.pragma("wal_checkpoint(PASSIVE)");
    return lockHeldMs;
  }

  discard(): Promise<void> {
    return this.runner.exclusive(() => this.db.exec(`DETACH DATABASE ${stagingSchema}`)).then(() => undefined);
  }
}
