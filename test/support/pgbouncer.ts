/**
 * A real pgbouncer in front of a test database, for the suites that check
 * which pool mode the booking server works through (docs/pgbouncer.md).
 *
 * Debian's `pgbouncer` (installed with apt-get when it is missing and we are
 * root, as the test cluster's PostgreSQL is), listening on a free 127.0.0.1
 * port, with its configuration, password file (mode 0600), log and pid file
 * in a fresh temp directory. pgbouncer refuses to run as root: as root it
 * runs as `postgres`, the user the test cluster runs as.
 *
 * It is stopped and its directory removed by `stop()` (a suite's afterAll,
 * which runs when tests fail too), else when the calling process exits, else,
 * for a process killed outright, by the next `startPgbouncer` of any run.
 */
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { ensureDebianPackage, freeLoopbackPort, isRoot, postgresUserIds, processIsGone, runAsOwner } from "./postgres-cluster";

/** pgbouncer's `pool_mode`: when a client's server connection goes back to the pool (after the client disconnects, each transaction, each statement). */
export type PoolMode = "session" | "transaction" | "statement";

export interface PgbouncerOptions {
  poolMode: PoolMode;
  /** Server connections per database and user (pgbouncer's `default_pool_size`, 20 unless given). */
  defaultPoolSize?: number;
  /**
   * `server_round_robin = 1`: each transaction takes the server connection
   * idle longest, rather than the one released last (pgbouncer's default):
   * a client's transactions then move between server sessions even when it
   * is the only client.
   */
  roundRobin?: boolean;
  /** More `[pgbouncer]` settings (`name = value`), after the others. */
  settings?: string[];
}

export interface Pgbouncer {
  /** `databaseUrl` with pgbouncer's host and port: the same user, password and database, through the pool. */
  url: string;
  port: number;
  /** The admin console's URL (the virtual database `pgbouncer`, for SHOW POOLS / SHOW CLIENTS). */
  adminUrl: string;
  /** Stops pgbouncer and removes its directory (safe to call twice). */
  stop(): void;
}

const dirPrefix = "booking-pgbouncer-";

/** Where Debian installs the program; else whatever PATH has; undefined when there is none. */
function findPgbouncer(): string | undefined {
  if (existsSync("/usr/sbin/pgbouncer")) return "/usr/sbin/pgbouncer";
  return spawnSync("sh", ["-c", "command -v pgbouncer"], { encoding: "utf8" }).stdout.trim() || undefined;
}

/** The pgbouncer program, installing Debian's `pgbouncer` first when it is missing and we are root. */
export function ensurePgbouncerInstalled(): string {
  return ensureDebianPackage("pgbouncer", findPgbouncer, "pgbouncer is not installed (not in /usr/sbin nor on PATH)");
}

/** The value as pgbouncer's auth_file quotes it: in double quotes, a double quote doubled. */
const quoted = (value: string) => `"${value.replaceAll('"', '""')}"`;

/**
 * pgbouncer in `options.poolMode` in front of the database at `databaseUrl`
 * (`postgres://user:password@127.0.0.1:port/db`, as `createTestDatabase`
 * gives), up and taking connections. Clients log in with the URL's user and
 * password (SCRAM, as the test cluster itself); pgbouncer logs in to the
 * server with the same ones from its auth_file. Any database name passes
 * through to the server's database of that name.
 */
export async function startPgbouncer(databaseUrl: string, options: PgbouncerOptions): Promise<Pgbouncer> {
  const program = ensurePgbouncerInstalled();
  removeStalePgbouncers();
  const server = new URL(databaseUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  const stop = () => stopPgbouncer(dir);
  const stopAtExit = () => stop();
  process.once("exit", stopAtExit);
  try {
    const authFile = join(dir, "userlist.txt");
    writeFileSync(authFile, `${quoted(user)} ${quoted(password)}\n`, { mode: 0o600 });
    if (isRoot()) {
      const { uid, gid } = postgresUserIds();
      chownSync(dir, uid, gid);
      chownSync(authFile, uid, gid);
    }
    const port = await listenOnFreePort(dir, program, (listenPort) => [
      "[databases]",
      `* = host=${server.hostname} port=${server.port}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${listenPort}`,
      // No Unix socket: nothing but the TCP port reaches this instance.
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${authFile}`,
      `admin_users = ${user}`,
      `pool_mode = ${options.poolMode}`,
      `default_pool_size = ${options.defaultPoolSize ?? 20}`,
      "max_client_conn = 200",
      `server_round_robin = ${options.roundRobin ? 1 : 0}`,
      `logfile = ${join(dir, "pgbouncer.log")}`,
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      ...(options.settings ?? []),
      "",
    ]);
    const through = new URL(databaseUrl);
    through.port = String(port);
    const admin = new URL(through);
    admin.pathname = "/pgbouncer";
    return {
      url: through.toString(),
      port,
      adminUrl: admin.toString(),
      stop: () => {
        process.off("exit", stopAtExit);
        stop();
      },
    };
  } catch (error) {
    process.off("exit", stopAtExit);
    stop();
    throw error;
  }
}

/** Writes `config(port)` for a free port and starts pgbouncer on it as a daemon (`-d`), waiting until its admin console answers; the port. */
async function listenOnFreePort(dir: string, program: string, config: (port: number) => string[]): Promise<number> {
  const iniFile = join(dir, "pgbouncer.ini");
  for (let attempt = 1; ; attempt++) {
    // A port free now may be taken before pgbouncer binds it: then try another.
    const port = await freeLoopbackPort();
    writeFileSync(iniFile, config(port).join("\n"));
    const started = runAsOwner(program, ["-d", iniFile], dir, 30_000);
    if (started.status === 0 && (await answers(dir, port))) return port;
    const log = readLog(dir);
    if (attempt < 3 && /Address already in use/.test(log)) continue;
    throw new Error(`pgbouncer did not start (${started.status ?? started.signal}): ${started.stderr}\n${log.slice(-2000)}`);
  }
}

/** Whether pgbouncer takes TCP connections on `port` within 15 s (it writes its pid file, then listens). */
async function answers(dir: string, port: number): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (pidOf(dir) === undefined && /FATAL|Address already in use/.test(readLog(dir))) return false;
    const client = new pg.Client({ host: "127.0.0.1", port, user: "no-such-user", database: "pgbouncer", connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch (error) {
      // pgbouncer listens once it refuses the unknown user; nothing listens yet while the connection is refused.
      if ((error as NodeJS.ErrnoException).code !== "ECONNREFUSED") return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function readLog(dir: string): string {
  const logFile = join(dir, "pgbouncer.log");
  return existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
}

function pidOf(dir: string): number | undefined {
  const pidFile = join(dir, "pgbouncer.pid");
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && !processIsGone(pid) ? pid : undefined;
}

/**
 * Stops the pgbouncer of `dir` and removes the directory (synchronous: it
 * also runs in an exit hook). SIGTERM is pgbouncer's immediate shutdown
 * (client connections dropped); it is waited for, then killed outright.
 */
function stopPgbouncer(dir: string): void {
  const pid = pidOf(dir);
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 5_000;
    while (!processIsGone(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    if (!processIsGone(pid)) process.kill(pid, "SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Stops and removes the pgbouncers of processes that are gone (killed before their exit hook could run). */
function removeStalePgbouncers(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(dirPrefix)) continue;
    const dir = join(tmpdir(), name);
    let ownerPid: number;
    try {
      ownerPid = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
    } catch {
      continue;
    }
    if (processIsGone(ownerPid)) stopPgbouncer(dir);
  }
}
