/**
 * A throwaway PostgreSQL cluster for the tests: started on first use by the
 * first suite that asks for a database, shared by every jest worker of the
 * run, stopped when the run ends (jest's globalTeardown, and an exit hook in
 * jest's own process for a run that fails or is interrupted), and removed
 * with its files. Each caller gets a database of its own (`createTestDatabase`),
 * so suites run in parallel workers without seeing each other's rows.
 *
 * The cluster: Debian's PostgreSQL (installed with apt-get when it is
 * missing and we are root), `initdb` and `pg_ctl` run as the `postgres` user
 * when we are root (PostgreSQL refuses to run as root), data in a fresh temp
 * directory, listening on 127.0.0.1 only, on a free port, a random password,
 * fsync on (tests of durability must mean it).
 *
 * A cluster left behind by a run that was killed outright (SIGKILL: no hook
 * runs) never breaks the next one: each run has its own directory and port,
 * and the next run's global setup stops and removes the clusters of runs
 * whose process is gone (`removeStaleClusters`).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** Set by the global setup for the whole run (workers inherit it): the directory the run's cluster lives in. */
export const runDirVariable = "BOOKING_TEST_POSTGRES_RUN_DIR";

const runDirPrefix = "booking-postgres-";

/** What the suites need of the started cluster (written to `cluster.json` in the run directory; the data is in its `data/`). */
export interface PostgresCluster {
  /** `postgres://postgres:<password>@127.0.0.1:<port>` (no database). */
  serverUrl: string;
  port: number;
}

/** Where Debian installs each major version's server programs: /usr/lib/postgresql/<major>/bin. */
const debianRoot = "/usr/lib/postgresql";

/** The newest PostgreSQL's server programs under `root` (Debian's layout), else on PATH; undefined when there are none. */
export function findPostgresBinDir(root = debianRoot): string | undefined {
  const majors = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : [];
  const installed = majors.map((major) => join(root, major, "bin")).find((dir) => existsSync(join(dir, "pg_ctl")) && existsSync(join(dir, "initdb")));
  if (installed) return installed;
  const onPath = spawnSync("sh", ["-c", "command -v pg_ctl"], { encoding: "utf8" }).stdout.trim();
  return onPath && existsSync(join(onPath, "..", "initdb")) ? join(onPath, "..") : undefined;
}

export const isRoot = () => process.getuid?.() === 0;

/** A Debian package, installed without questions (as `make browser` installs chromium). */
export function aptInstall(debianPackage: string): void {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", debianPackage]]) {
    const result = spawnSync("apt-get", args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  }
}

/**
 * What `find` finds, installing `debianPackage` first when it finds nothing
 * and we are root; otherwise a clear error: `missing` says what is missing
 * and what to install. `install` and `root` are parameters so the decision
 * can be checked without uninstalling anything.
 */
export function ensureDebianPackage<T>(
  debianPackage: string,
  find: () => T | undefined,
  missing: string,
  install: () => void = () => aptInstall(debianPackage),
  root: boolean = isRoot(),
): T {
  const found = find();
  if (found !== undefined) return found;
  if (!root) throw new Error(`${missing}: \`sudo apt-get install ${debianPackage}\`, or run the tests as root (make test installs it then)`);
  install();
  const installed = find();
  if (installed === undefined) throw new Error(`apt-get installed ${debianPackage}, but still ${missing}`);
  return installed;
}

/** The server programs' directory, installing Debian's `postgresql` first when none is found and we are root (`ensureDebianPackage`). */
export function ensurePostgresInstalled(
  find: () => string | undefined = findPostgresBinDir,
  install: () => void = () => aptInstall("postgresql"),
  root: boolean = isRoot(),
): string {
  return ensureDebianPackage("postgresql", find, `PostgreSQL's server programs (initdb, pg_ctl) are not under ${debianRoot}/<version>/bin nor on PATH`, install, root);
}

/**
 * Runs a PostgreSQL program as the user that owns the cluster (`postgres`
 * when we are root, else ourselves), in `cwd` (the run directory: the
 * `postgres` user may not be allowed into the repository).
 */
export function runAsOwner(program: string, args: string[], cwd: string, timeoutMs = 120_000) {
  const [command, fullArgs] = isRoot() ? ["runuser", ["-u", "postgres", "--", program, ...args]] : [program, args];
  return spawnSync(command, fullArgs, { cwd, encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
}

export function postgresUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
  const ids = { uid: id("-u"), gid: id("-g") };
  if (!Number.isInteger(ids.uid) || !Number.isInteger(ids.gid)) throw new Error("there is no `postgres` user to run the test cluster as");
  return ids;
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A fresh directory for this run's cluster (made by the global setup; handed to `postgres` when the cluster starts). */
export function makeRunDir(): string {
  const runDir = mkdtempSync(join(tmpdir(), runDirPrefix));
  writeFileSync(join(runDir, "owner.pid"), String(process.pid));
  return runDir;
}

function chownRunDir(runDir: string): void {
  const { uid, gid } = postgresUserIds();
  chownSync(runDir, uid, gid);
}

/** initdb, the settings, pg_ctl start: the cluster of `runDir`, up and taking connections. */
async function startCluster(runDir: string): Promise<PostgresCluster> {
  const binDir = ensurePostgresInstalled();
  // Only now: on a fresh machine the `postgres` user comes with the package.
  if (isRoot()) chownRunDir(runDir);
  const dataDir = join(runDir, "data");
  const password = randomBytes(18).toString("base64url");
  const passwordFile = join(runDir, "password");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  if (isRoot()) {
    const { uid, gid } = postgresUserIds();
    chownSync(passwordFile, uid, gid);
  }
  // --no-sync: only initdb's own files go unflushed (a throwaway cluster); the server runs with fsync on.
  const init = runAsOwner(join(binDir, "initdb"), [
    "-D", dataDir, "-U", "postgres", `--pwfile=${passwordFile}`, "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync",
  ], runDir);
  rmSync(passwordFile, { force: true });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr || init.stdout}`);

  const port = await startOnFreePort(runDir, binDir, ["fsync = on", "synchronous_commit = on", "max_connections = 300"]);
  return { serverUrl: `postgres://postgres:${password}@127.0.0.1:${port}`, port };
}

/**
 * Appends the listening settings (127.0.0.1, a free port, the socket in
 * `runDir`) and `settings` to the data's postgresql.conf (later lines win)
 * and starts it; the port it listens on.
 */
async function startOnFreePort(runDir: string, binDir: string, settings: string[]): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    // A port free now may be taken before the server binds it: then try another.
    const port = await freeLoopbackPort();
    appendFileSync(
      join(runDir, "data", "postgresql.conf"),
      [
        "", "# booking-server test cluster",
        "listen_addresses = '127.0.0.1'", `port = ${port}`, `unix_socket_directories = '${runDir}'`,
        ...settings,
        "",
      ].join("\n"),
    );
    const start = pgCtlStart(runDir, binDir);
    if (start.ok) return port;
    if (attempt < 3 && /could not bind|Address already in use/.test(start.log)) continue;
    throw new Error(start.error);
  }
}

/** pg_ctl start of `runDir`'s data, waiting until it takes connections; on failure, pg_ctl's error and the end of the server's log. */
function pgCtlStart(runDir: string, binDir: string): { ok: true } | { ok: false; log: string; error: string } {
  const logFile = join(runDir, "postgres.log");
  const start = runAsOwner(join(binDir, "pg_ctl"), ["-D", join(runDir, "data"), "-l", logFile, "-w", "-t", "60", "start"], runDir);
  if (start.status === 0) return { ok: true };
  const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
  return { ok: false, log, error: `pg_ctl start failed (${start.status ?? start.signal}): ${start.stderr}\n${log.slice(-2000)}` };
}

/** A cluster of one suite's own, which it may stop and start again (see `startOwnCluster`). */
export interface OwnCluster extends PostgresCluster {
  /** `pg_ctl stop -m immediate`: every connection drops at once, as when the server crashes. */
  stop(): void;
  /** `pg_ctl start` on the same data and port (crash recovery first), once it takes connections. */
  start(): void;
  /** Stops it and removes its files. */
  remove(): void;
}

/**
 * A cluster of the caller's own, for a suite that stops the database under a
 * server: the run's cluster is shared by suites running in parallel, which
 * stopping it would break. Removed by `remove()`, else by the next run's
 * `removeStaleClusters` (its owner is the calling process).
 */
export async function startOwnCluster(): Promise<OwnCluster> {
  const runDir = makeRunDir();
  const started = await startCluster(runDir);
  return { ...started, ...ownClusterControls(runDir) };
}

// ---- Streaming replication: a standby of an own cluster, made synchronous, promoted (test/operations/postgres-failover.test.ts) ----

/** A hot standby streaming from a primary (see `startStandby`). */
export interface StandbyCluster extends OwnCluster {
  /** The name it streams under (its application_name), as the primary's synchronous_standby_names names it. */
  name: string;
  /** `pg_ctl promote`, waiting until it has left recovery and takes writes. */
  promote(): void;
}

/**
 * A hot standby of `primary`: `pg_basebackup -R` (a copy of the running
 * primary, with `standby.signal` and the `primary_conninfo` to stream from
 * it) into a directory of its own, started on a free loopback port. It streams
 * asynchronously until the primary names it (`requireSynchronousStandby`).
 * The primary's own settings come with the copy; the standby listens on its
 * own port and socket, and waits for no standby itself once promoted
 * (synchronous_standby_names empty: a promoted primary with none of its own
 * would otherwise hold every commit).
 */
export async function startStandby(primary: PostgresCluster, name = "standby"): Promise<StandbyCluster> {
  const binDir = ensurePostgresInstalled();
  const runDir = makeRunDir();
  if (isRoot()) chownRunDir(runDir);
  const { password } = new URL(primary.serverUrl);
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${decodeURIComponent(password)} application_name=${name}`;
  const backup = runAsOwner(join(binDir, "pg_basebackup"), ["-D", join(runDir, "data"), "-R", "-X", "stream", "-c", "fast", "-d", conninfo], runDir);
  if (backup.status !== 0) {
    removeCluster(runDir);
    throw new Error(`pg_basebackup failed (${backup.status ?? backup.signal}): ${backup.stderr}`);
  }
  const port = await startOnFreePort(runDir, binDir, ["synchronous_standby_names = ''"]);
  return {
    ...ownClusterControls(runDir),
    serverUrl: `postgres://postgres:${password}@127.0.0.1:${port}`,
    port,
    name,
    promote: () => {
      const promoted = runAsOwner(join(binDir, "pg_ctl"), ["-D", join(runDir, "data"), "-w", "-t", "60", "promote"], runDir);
      if (promoted.status !== 0) throw new Error(`pg_ctl promote failed (${promoted.status ?? promoted.signal}): ${promoted.stderr}`);
    },
  };
}

/**
 * Makes `standby` the primary's synchronous standby (ALTER SYSTEM SET
 * synchronous_standby_names, then a reload) and waits until the primary
 * reports it streaming with sync_state 'sync' (pg_stat_replication): from
 * then on a commit returns only once the standby has flushed it (PostgreSQL
 * manual, 27.2.8 "Synchronous Replication").
 */
export async function requireSynchronousStandby(primary: PostgresCluster, standby: StandbyCluster, timeoutMs = 30_000): Promise<void> {
  const client = new pg.Client({ connectionString: `${primary.serverUrl}/postgres` });
  await client.connect();
  try {
    await client.query(`ALTER SYSTEM SET synchronous_standby_names = '"${standby.name}"'`);
    await client.query("SELECT pg_reload_conf()");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ state: string; sync_state: string }>(
        "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1",
        [standby.name],
      );
      if (rows.some((row) => row.state === "streaming" && row.sync_state === "sync")) return;
      if (Date.now() > deadline) throw new Error(`${standby.name} is not a streaming synchronous standby after ${timeoutMs} ms: ${JSON.stringify(rows)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await client.end();
  }
}

/** stop, start and remove of the cluster in `runDir`, as an OwnCluster has them. */
function ownClusterControls(runDir: string): Pick<OwnCluster, "stop" | "start" | "remove"> {
  return {
    stop: () => stopCluster(runDir),
    start: () => {
      const start = pgCtlStart(runDir, ensurePostgresInstalled());
      if (!start.ok) throw new Error(start.error);
    },
    remove: () => removeCluster(runDir),
  };
}

// ---- end of streaming replication ----

/**
 * Stops the cluster of `runDir` at once, if it runs (synchronous: it also
 * runs in an exit hook). It needs no `cluster.json`: a starter killed before
 * writing it may have left a running server.
 */
export function stopCluster(runDir: string): void {
  const dataDir = join(runDir, "data");
  const binDir = findPostgresBinDir();
  // Immediate: the data is thrown away, so there is nothing to shut down cleanly for.
  if (binDir && existsSync(join(dataDir, "postmaster.pid"))) {
    runAsOwner(join(binDir, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "stop"], runDir, 30_000);
  }
}

/** Stops the run's cluster and removes its directory. */
export function removeCluster(runDir: string): void {
  stopCluster(runDir);
  rmSync(runDir, { recursive: true, force: true });
}

/** Removes the clusters of earlier runs whose jest process is gone (killed before its hooks could run). */
export function removeStaleClusters(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(runDirPrefix)) continue;
    const runDir = join(tmpdir(), name);
    let ownerPid: number;
    try {
      ownerPid = Number(readFileSync(join(runDir, "owner.pid"), "utf8"));
    } catch {
      continue;
    }
    if (!processIsGone(ownerPid)) continue;
    try {
      removeCluster(runDir);
    } catch (error) {
      console.warn(`could not remove the stale test cluster in ${runDir}: ${(error as Error).message}`);
    }
  }
}

export function processIsGone(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

let cluster: Promise<PostgresCluster> | undefined;

/**
 * The run's cluster, started by whichever process asks first: the jest
 * workers of one run race for the `starting` file (created exclusively); the
 * winner installs, initializes and starts the cluster and writes
 * `cluster.json` (or `failed.txt`); the others wait for it. It can take
 * minutes on a fresh machine (apt-get): callers give their hook a long timeout.
 */
export function postgresCluster(): Promise<PostgresCluster> {
  cluster ??= clusterOfRun();
  return cluster;
}

async function clusterOfRun(): Promise<PostgresCluster> {
  const runDir = process.env[runDirVariable];
  if (!runDir) throw new Error(`${runDirVariable} is not set: the PostgreSQL tests need jest.config.js's globalSetup (run them with jest)`);
  const infoPath = join(runDir, "cluster.json");
  const failedPath = join(runDir, "failed.txt");
  let starter = false;
  try {
    closeSync(openSync(join(runDir, "starting"), "wx"));
    starter = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  if (starter) {
    try {
      const started = await startCluster(runDir);
      writeFileSync(`${infoPath}.tmp`, JSON.stringify(started));
      renameSync(`${infoPath}.tmp`, infoPath);
      return started;
    } catch (error) {
      writeFileSync(failedPath, (error as Error).message);
      throw error;
    }
  }
  for (;;) {
    if (existsSync(infoPath)) return JSON.parse(readFileSync(infoPath, "utf8")) as PostgresCluster;
    if (existsSync(failedPath)) throw new Error(`the test cluster did not start: ${readFileSync(failedPath, "utf8")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How long a suite's hook may wait for the cluster: minutes on a fresh machine that installs PostgreSQL first. */
export const clusterStartTimeoutMs = 600_000;

export interface TestDatabase {
  /** The database's URL, as `openPostgresStore` takes it. */
  url: string;
  name: string;
  /**
   * Empties every table but the schema's own records (the migrations
   * applied, the database's identity): the database as a store left it just
   * after migrating it, far faster than a new database per test.
   */
  empty(): Promise<void>;
  /** Drops the database (closing whatever still uses it). */
  drop(): Promise<void>;
}

let databases = 0;

/** An empty database of its own on the run's cluster. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { serverUrl } = await postgresCluster();
  const name = `test_${process.pid}_${++databases}_${randomBytes(3).toString("hex")}`;
  await onDatabase(`${serverUrl}/postgres`, `CREATE DATABASE ${name}`);
  const url = `${serverUrl}/${name}`;
  return {
    url,
    name,
    // DELETE, not TRUNCATE: a few rows each, and TRUNCATE makes (and fsyncs) new files for every table, ~400 ms.
    // Foreign keys are not checked meanwhile (session_replication_role), so the order of the tables does not matter.
    empty: async () => {
      await onDatabase(url, `BEGIN; SET LOCAL session_replication_role = replica; DO $$ DECLARE t text; BEGIN
        FOR t IN SELECT quote_ident(tablename) FROM pg_tables
          WHERE schemaname = 'public' AND tablename NOT IN ('schema_migrations', 'store_identity')
        LOOP EXECUTE 'DELETE FROM ' || t; END LOOP;
      END $$; COMMIT`);
    },
    drop: async () => {
      await onDatabase(`${serverUrl}/postgres`, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A query on the database from outside the store, on a connection of its own (as an operator's psql would); its rows. */
export async function onDatabase<Row extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
