import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openDatabase } from "../../src/store/database";
import { groupCommitter } from "../../src/store/sqlite/group-commit";

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
