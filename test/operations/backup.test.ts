/**
 * `booking-server backup` while a server process serves and a client keeps
 * booking: the copy is a consistent SQLite file holding every booking
 * acknowledged before the backup started; an existing destination is refused.
 */
import Database from "better-sqlite3";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { join } from "node:path";
import { fullHttp1, opsServerEnv, runCliAsync, useOpsDatabase } from "../support/operations";
import { killHard, runCli, startServerProcess } from "../support/server-process";

const ops = useOpsDatabase("booking-backup-");

/** A CreateBooking over HTTP/1.1: the booking id when it was acknowledged. */
const book = async (port: number, agent: Agent, token: string): Promise<string | undefined> => (await fullHttp1(port, agent, token)).bookingId;

test("when a backup is taken while the server books, then the copy is intact and holds every booking acknowledged before it started", async () => {
  const server = (ops.server = await startServerProcess(["--db", ops.dbPath], opsServerEnv));
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const acknowledged: string[] = [];
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const id = await book(server.port, agent, `backup-${++n}`);
      if (id) acknowledged.push(id);
    }
  })();
  while (acknowledged.length < 50) await new Promise((r) => setTimeout(r, 10));

  const dest = join(ops.dir, "copy.db");
  const before = [...acknowledged];
  const started = Date.now();
  const backup = await runCliAsync(["backup", "--db", ops.dbPath, dest]);
  const backupMs = Date.now() - started;
  const during = acknowledged.length - before.length;
  running = false;
  await loop;
  agent.destroy();
  expect(backup.stderr).toBe("");
  expect(backup.status).toBe(0);
  expect(backup.stdout).toMatch(/backed up .* to .*copy\.db in \d+ ms/);

  const copy = new Database(dest, { readonly: true });
  try {
    expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
    const inCopy = new Set((copy.prepare("SELECT booking_id FROM bookings").all() as Array<{ booking_id: string }>).map((r) => r.booking_id));
    const missing = before.filter((id) => !inCopy.has(id));
    expect(missing).toEqual([]);
    // Nothing half-made: every booking in the copy was acknowledged to the client.
    const all = new Set(acknowledged);
    expect([...inCopy].filter((id) => !all.has(id))).toEqual([]);
    console.log(
      `backup while booking: ${backupMs} ms (${statSync(dest).size} bytes), ${before.length} bookings acknowledged before it, ` +
        `${during} acknowledged while it ran, ${inCopy.size} in the copy`,
    );
  } finally {
    copy.close();
  }
  // The server kept serving: the loop went on after the backup, and the live database has them all.
  const live = new Database(ops.dbPath, { readonly: true, fileMustExist: true });
  try {
    expect((live.prepare("SELECT count(*) AS n FROM bookings").get() as { n: number }).n).toBe(acknowledged.length);
  } finally {
    live.close();
  }
  await killHard(server);
}, 20_000);

test("when the destination exists already, then the backup is refused with exit 2 and the file is left alone", () => {
  const dest = join(ops.dir, "existing.db");
  writeFileSync(dest, "precious");
  const result = runCli(["backup", "--db", ops.dbPath, dest]);
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/exists already/);
  expect(existsSync(dest)).toBe(true);
  expect(statSync(dest).size).toBe("precious".length);
});

test("when the backup has no destination, then it is refused with exit 2", () => {
  const result = runCli(["backup", "--db", ops.dbPath]);
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/destination/);
});
