import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openDatabase } from "../../src/store/database";
import { openSqliteStore } from "../../src/store/sqlite-store";
import { busyRetryWindowMs } from "../../src/store/repositories";
import { unitRunner, type UnitRunnerOptions } from "../../src/store/sqlite/unit-runner";
import { StoreBusyError } from "../../src/store/repositories";

/** The unit runner's group commit, for units that are synchronous statements (as the repositories are inside). */
function groupCommitter(db: Parameters<typeof unitRunner>[0], options?: UnitRunnerOptions) {
  const runner = unitRunner(db, options);
  return <T>(work: () => T) => runner.run(async () => work(), true);
}
import { walSyncer } from "../../src/store/sqlite/wal-sync";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "group-commit-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("when units arrive together, then they share one commit and a failing one leaves its neighbours committed", async () => {
  const path = join(dir, "g.db");
  const db = openDatabase(path);
  db.exec("CREATE TABLE t (v INTEGER)");
  const group = groupCommitter(db);
  const insert = (v: number) => () => db.prepare("INSERT INTO t (v) VALUES (?)").run(v);
  const results = await Promise.allSettled([
    group(insert(1)),
    group(() => {
      insert(2)();
      throw new Error("this unit fails");
    }),
    group(insert(3)),
  ]);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  const reader = new Database(path, { readonly: true });
  expect(reader.prepare("SELECT v FROM t ORDER BY v").pluck().all()).toEqual([1, 3]);
  reader.close();
  db.close();
});

test("when a unit's promise settles, then its write is already visible to another connection (committed)", async () => {
  const path = join(dir, "g.db");
  const db = openDatabase(path);
  db.exec("CREATE TABLE t (v INTEGER)");
  const group = groupCommitter(db);
  await group(() => db.prepare("INSERT INTO t (v) VALUES (42)").run());
  const reader = new Database(path, { readonly: true });
  expect(reader.prepare("SELECT v FROM t").pluck().all()).toEqual([42]);
  reader.close();
  db.close();
});

test("when the WAL has not been flushed yet, then no unit is acknowledged; once it is, every unit of the batch is", async () => {
  const db = openDatabase(join(dir, "g.db"));
  db.exec("CREATE TABLE t (v INTEGER)");
  let flushWal!: () => void;
  const syncs: number[] = [];
  const group = groupCommitter(db, {
    syncWal: () => new Promise<void>((resolve) => (syncs.push(1), (flushWal = resolve))),
  });
  const settled: number[] = [];
  const units = [1, 2].map((v) => group(() => db.prepare("INSERT INTO t (v) VALUES (?)").run(v)).then(() => settled.push(v)));
  await new Promise((r) => setTimeout(r, 20));
  expect(syncs).toHaveLength(1); // one flush for the batch
  expect(settled).toEqual([]);
  flushWal();
  await Promise.all(units);
  expect(settled).toEqual([1, 2]);
  // Every other transaction on the connection still commits with synchronous=FULL.
  expect(db.pragma("synchronous", { simple: true })).toBe(2);
  db.close();
});

test("when the WAL cannot be flushed, then every unit of the batch is refused (none is acknowledged as durable)", async () => {
  const db = openDatabase(join(dir, "g.db"));
  db.exec("CREATE TABLE t (v INTEGER)");
  const group = groupCommitter(db, { syncWal: () => Promise.reject(new Error("EIO")) });
  const results = await Promise.allSettled([group(() => 1), group(() => 2)]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  db.close();
});

test("when flushes are asked for while one runs, then they share the next one, which starts after it", async () => {
  const path = join(dir, "w.db-wal");
  writeFileSync(path, "");
  const wal = walSyncer(path);
  const first = wal.sync();
  const [second, third] = [wal.sync(), wal.sync()];
  expect(second).toBe(third);
  expect(second).not.toBe(first);
  await Promise.all([first, second]);
  wal.close();
  await expect(walSyncer(join(dir, "missing-wal")).sync()).rejects.toThrow(/ENOENT/);
});

test("when commits are left in the WAL, then the background checkpoints copy them into the database file itself", async () => {
  const path = join(dir, "c.db");
  const store = openSqliteStore(path);
  // Another connection (kept open, so closing it checkpoints nothing) commits to the WAL.
  const writer = openDatabase(path);
  writer.exec("CREATE TABLE t (v INTEGER)");
  writer.prepare("INSERT INTO t (v) VALUES (7)").run();
  await new Promise((r) => setTimeout(r, 300));
  // The database file alone, without its WAL, already has the row.
  copyFileSync(path, join(dir, "copy.db"));
  const copy = new Database(join(dir, "copy.db"), { readonly: true });
  expect(copy.prepare("SELECT v FROM t").pluck().all()).toEqual([7]);
  copy.close();
  writer.close();
  await store.close();
});

test("when the store closes, then its WAL is copied into the database file and emptied", async () => {
  const path = join(dir, "closing.db");
  const store = openSqliteStore(path);
  // Once the checkpoint worker's connection is open, closing ours is not SQLite's last close.
  await new Promise((r) => setTimeout(r, 300));
  await store.transaction((tx) => tx.users.setMarketingPreference("u1", true, 1), { batch: true });
  await store.close();
  expect(existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0).toBe(0);
  copyFileSync(path, join(dir, "copy.db"));
  const copy = new Database(join(dir, "copy.db"), { readonly: true });
  expect(copy.prepare("SELECT receive_marketing FROM users WHERE user_id = 'u1'").pluck().get()).toBe(1);
  copy.close();
});

describe("when another process holds the write lock", () => {
  /** A second connection (as another process would be) that takes the write lock and keeps it. */
  function lockHolder(path: string) {
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    return { release: () => (other.exec("COMMIT"), other.close()) };
  }

  test("then a batch waits for it off the event loop and commits once it is released", async () => {
    const path = join(dir, "busy.db");
    const db = openDatabase(path);
    db.exec("CREATE TABLE t (v INTEGER)");
    const group = groupCommitter(db);
    const holder = lockHolder(path);
    const events: string[] = [];

    const unit = group(() => db.prepare("INSERT INTO t (v) VALUES (1)").run()).then(() => events.push("committed"));
    // With a synchronous busy wait neither timer could fire before the commit.
    setTimeout(() => events.push("event loop turned"), 20);
    setTimeout(() => (events.push("released"), holder.release()), 200);
    await unit;

    expect(events).toEqual(["event loop turned", "released", "committed"]);
    expect(db.prepare("SELECT v FROM t").pluck().all()).toEqual([1]);
    db.close();
  });

  test(`then after ${busyRetryWindowMs} ms every unit of the batch fails with SQLITE_BUSY and nothing is written`, async () => {
    const path = join(dir, "busy.db");
    const db = openDatabase(path);
    db.exec("CREATE TABLE t (v INTEGER)");
    const group = groupCommitter(db);
    const holder = lockHolder(path);
    const insert = (v: number) => () => db.prepare("INSERT INTO t (v) VALUES (?)").run(v);

    const results = await Promise.allSettled([group(insert(1)), group(insert(2))]);
    holder.release();

    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    for (const result of results) expect((result as PromiseRejectedResult).reason).toMatchObject({ code: "SQLITE_BUSY" });
    expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(0);
    db.close();
  });

  test("then every store.transaction waits for it off the event loop, and fails with StoreBusyError once the window is over", async () => {
    const path = join(dir, "busy.db");
    const store = openSqliteStore(path);
    const holder = lockHolder(path);
    let turns = 0;
    const ticker = setInterval(() => turns++, 10);
    try {
      const startedAt = performance.now();
      await expect(store.transaction((tx) => tx.users.setMarketingPreference("u1", true, 1))).rejects.toBeInstanceOf(StoreBusyError);
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(busyRetryWindowMs - 50);
      expect(turns).toBeGreaterThan(10);
    } finally {
      clearInterval(ticker);
      holder.release();
      await store.close();
    }
  });
});
