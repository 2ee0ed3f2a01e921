"use strict";
// `make bench`: generate and import the inventory, measure the limits, measure
// the server, print one table, write bench/results/latest.json.
// Then the same server on PostgreSQL (one instance, then two sharing the load) against SQLite, on a
// smaller inventory (`postgresMerchants`), each row with the CPU its processes used and what limited it.
// Env: BENCH_SECONDS (per scenario, default 12), BENCH_CONNECTIONS (50), BENCH_DIR (a temp dir),
// BENCH_ONLY=import-under-load (the inventory, then only that scenario) or BENCH_ONLY=postgres (only the
// PostgreSQL rows and their SQLite comparison), written to bench/results/<BENCH_ONLY>.json; latest.json
// is left as it was.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const { spawn, spawnSync } = require("node:child_process");
const { generateFeeds, MERCHANTS } = require("./generate-feeds.js");
const { scenarios } = require("./scenarios.js");
const { cpuReading, cpuBetween } = require("./cpu.js");
const { startBenchCluster } = require("./postgres-cluster.js");

const root = path.join(__dirname, "..");
const seconds = Number(process.env.BENCH_SECONDS || 12);
const connections = Number(process.env.BENCH_CONNECTIONS || 50);
const dir = process.env.BENCH_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "booking-bench-"));
const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== "import-under-load" && only !== "postgres") {
  throw new Error(`BENCH_ONLY=${only}: what runs alone is import-under-load or postgres`);
}
/** Whether this run measures `part` (every part unless BENCH_ONLY names one). */
const runs = (part) => only === undefined || only === part;
/** Merchants of the inventory imported while the server is under load: 300,000 new slots. */
const importUnderLoadMerchants = 300;
/**
 * Merchants of the inventory of the PostgreSQL rows and of their SQLite comparison: 100,000 slots. The
 * importer writes 100,000 slots into PostgreSQL in about a minute here (vs ~2 s into SQLite): 1M would
 * take ten minutes of the bench.
 */
const postgresMerchants = 100;
const target = (port, extra = {}) => ({ port, connections, durationMs: seconds * 1000, warmupMs: 2000, ...extra });
const rawPort = 18181, echoPort = 18182, echoH2Port = 18183, serverPort = 18184, secondServerPort = 18185;
const ratio = (a, b) => Math.round((a / b) * 100) / 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Peak RSS (MB) of a command: /usr/bin/time -v when present, else polling VmHWM. */
async function timedRun(cmd, args, env = {}) {
  const started = Date.now();
  const hasTime = fs.existsSync("/usr/bin/time");
  const child = spawn(hasTime ? "/usr/bin/time" : cmd, hasTime ? ["-v", cmd, ...args] : args, {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env },
  });
  children.add(child);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  let hwmKb = 0;
  const poll = setInterval(() => (hwmKb = Math.max(hwmKb, procStatusKb(child.pid, "VmHWM"))), 100);
  const code = await new Promise((r) => child.on("exit", r));
  clearInterval(poll);
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${out}`);
  const timeKb = Number((out.match(/Maximum resident set size \(kbytes\): (\d+)/) || [])[1] || 0);
  return { seconds: (Date.now() - started) / 1000, peak_rss_mb: Math.round((timeKb || hwmKb) / 1024), output: out };
}

function procStatusKb(pid, field) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+)`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const children = new Set();
process.on("exit", () => {
  children.forEach((child) => child.exitCode === null && child.kill("SIGKILL"));
  if (!process.env.BENCH_DIR) fs.rmSync(dir, { recursive: true, force: true });
});
// A signal ends the run through the exit hooks: the servers killed, the PostgreSQL cluster and the temp dir removed.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.once(signal, () => process.exit(128 + os.constants.signals[signal]));

/** Starts a long-running child (killed when this process exits); resolves when `ready()` does. */
async function startProcess(cmd, args, ready, env = {}) {
  const logFd = fs.openSync(path.join(dir, `${path.basename(args[0] || cmd)}-${Date.now()}.log`), "w");
  const child = spawn(cmd, args, { stdio: ["ignore", logFd, logFd], env: { ...process.env, ...env } });
  children.add(child);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(" ")} exited with ${child.exitCode}`);
    if (await ready().catch(() => false)) return child;
    await sleep(100);
  }
  throw new Error(`${cmd} did not become ready`);
}

const answers = (port, method, urlPath) =>
  new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: urlPath, method }, (res) => {
      res.resume();
      resolve(res.statusCode < 500);
    });
    req.on("error", () => resolve(false));
    req.end();
  });

const stopProcess = (child) => new Promise((r) => (child.exitCode !== null ? r() : (child.on("exit", r), child.kill("SIGTERM"))));

const bin = path.join(root, "bin/booking-server");
const metricsToken = require("node:crypto").randomBytes(16).toString("hex");

/** `booking-server serve` on `port`, without auth, once it answers HealthCheck; `args` and `env` name its database. */
const startServer = (port, args, env = {}) =>
  startProcess(bin, ["serve", "--insecure-no-auth", "--port", String(port), "--host", "127.0.0.1", ...args], () => answers(port, "GET", "/v3/HealthCheck"),
    { METRICS_TOKEN: metricsToken, ...env });

/**
 * The store's conflict counters of the servers on `ports`, summed: units run again after a conflict with
 * another unit (PostgreSQL's serialization failures) and calls that gave up as the database stayed busy (503);
 * undefined for a server without them (the ceilings).
 */
async function storeConflicts(ports) {
  const counter = (text, name) => Number((text.match(new RegExp(`^${name} (\\d+)`, "m")) || [])[1] || 0);
  const texts = await Promise.all(ports.map((port) => new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/metrics", headers: { authorization: `Bearer ${metricsToken}` } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(text));
    }).on("error", reject);
  })));
  if (!texts.every((text) => /^booking_store_retries_total /m.test(text))) return undefined;
  return texts.reduce((sum, text) => ({
    reruns: sum.reruns + counter(text, "booking_store_retries_total"), busy: sum.busy + counter(text, "booking_store_busy_total"),
  }), { reruns: 0, busy: 0 });
}

/**
 * Runs a scenario while sampling the servers' VmRSS (server_rss_mb: the largest), and reads the CPU the
 * servers, PostgreSQL (the tree of `postmasterPid`, when given), the load generator and the rest of the
 * machine used over the measured window (row.cpu, see cpu.js), and the store's conflicts (row.store).
 */
async function measure(name, scenario, t, servers, postmasterPid) {
  log(`${name} ...`);
  const pids = [].concat(servers);
  let rssKb = 0;
  const poll = setInterval(() => pids.forEach((pid) => (rssKb = Math.max(rssKb, procStatusKb(pid, "VmRSS")))), 200);
  const watched = { servers: pids, postmasterPid };
  let start, cpu, conflictsAtStart, conflictsAtEnd;
  const result = await scenario({
    ...t,
    atStart: () => {
      start = cpuReading(watched);
      conflictsAtStart = storeConflicts(t.ports ?? [t.port]);
    },
    atEnd: () => {
      cpu = cpuBetween(start, cpuReading(watched), { postgres: postmasterPid !== undefined });
      conflictsAtEnd = storeConflicts(t.ports ?? [t.port]);
    },
  });
  clearInterval(poll);
  const [before, after] = await Promise.all([conflictsAtStart, conflictsAtEnd]);
  const store = after && { reruns: after.reruns - before.reruns, busy: after.busy - before.busy };
  // Re-runs waste the work they repeat and add to the latency: past one in ten requests they are part of the limit.
  const conflicted = store !== undefined && store.reruns >= 0.1 * result.requests;
  const limited_by = conflicted ? `${cpu.limit}; serialization conflicts, ${ratio(store.reruns, result.requests)} re-runs per request` : cpu.limit;
  const row = { name, ...result, server_rss_mb: Math.round(rssKb / 1024), cpu, store, limited_by };
  log(`${name}: ${row.rps}/s p50 ${row.p50_ms} ms p99 ${row.p99_ms} ms errors ${row.errors} failures ${row.failures} rss ${row.server_rss_mb} MB` +
    Object.entries(row.by_kind ?? {}).map(([kind, k]) => `; ${kind}: p50 ${k.p50_ms} ms p99 ${k.p99_ms} ms`).join("") +
    `; cores: servers ${cpu.servers}${cpu.postgres === undefined ? "" : `, postgres ${cpu.postgres}`}, load generator ${cpu.load_generator}, others ${cpu.others} (${limited_by})` +
    (store ? `; store re-runs ${store.reruns}, busy ${store.busy}` : "") +
    (row.first_error ? ` (first error: ${row.first_error})` : ""));
  return row;
}

async function main() {
  const started = Date.now();
  if (!fs.existsSync(path.join(root, "dist/src/cli.js"))) spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  const ceilings = {};
  const s = {};
  const importRow = runs("import-under-load") ? await measureOnFullInventory(ceilings, s) : undefined;
  const postgres = runs("postgres") ? await measurePostgres() : undefined;

  // 5. Ratios, targets, table, JSON.
  const results = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length}x ${os.cpus()[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB, ${os.platform()} ${os.release()}, node ${process.version}`,
    connections, seconds_per_scenario: seconds,
    import: importRow, ceilings, server: s, ratios: {}, postgres, targets: [],
  };
  if (!only) {
    const echoJson = ceilings.connectEchoJson.rps, rawRps = ceilings.rawHttp.rps;
    const ratios = results.ratios;
    for (const [key, row] of Object.entries(s)) {
      if (key === "duringImport") continue; // its throughput is not the point: its latencies are
      const echoRps = key === "createBookingGrpc" ? ceilings.connectEchoGrpc.rps : echoJson;
      ratios[key] = { vs_connect_echo: ratio(row.rps, echoRps), vs_raw_http: ratio(row.rps, rawRps) };
      if (key.startsWith("createBooking")) ratios[key].vs_sqlite_transaction = ratio(row.rps, ceilings.sqliteTransaction.ops_per_s);
    }
    const allRows = [...Object.values(ceilings).filter((r) => r.rps !== undefined), ...Object.values(s), ...Object.values(postgres.server)];
    // The targets are set at `connections`; the past-saturation rows (run last) only must not fail.
    const maxRss = Math.max(...Object.entries(s).filter(([key]) => !key.endsWith("Saturated")).map(([, r]) => r.server_rss_mb));
    results.targets = [
      ["CreateBooking REST >= 1.0x connect echo", ratios.createBookingRest.vs_connect_echo >= 1.0, `${ratios.createBookingRest.vs_connect_echo}x`],
      ["CreateBooking REST toward 0.25x raw node:http", ratios.createBookingRest.vs_raw_http >= 0.25, `${ratios.createBookingRest.vs_raw_http}x`],
      ["CreateBooking REST past the fsync-per-commit ceiling", ratios.createBookingRest.vs_sqlite_transaction >= 1.0, `${ratios.createBookingRest.vs_sqlite_transaction}x`],
      ["BAL x100 p99 < 10 ms", s.batchAvailabilityLookup.p99_ms < 10, `${s.batchAvailabilityLookup.p99_ms} ms`],
      ["BAL x100 >= 0.5x connect echo", ratios.batchAvailabilityLookup.vs_connect_echo >= 0.5, `${ratios.batchAvailabilityLookup.vs_connect_echo}x`],
      ["import 1M slots < 30 s", importRow.seconds < 30, `${importRow.seconds} s`],
      ["import peak RSS < 300 MB", importRow.peak_rss_mb < 300, `${importRow.peak_rss_mb} MB`],
      ["server RSS under load < 200 MB", maxRss < 200, `${maxRss} MB`],
      ["no errors at any load", allRows.every((r) => r.errors === 0), `${allRows.reduce((n, r) => n + r.errors, 0)} errors`],
    ].map(([target, met, value]) => ({ target, met, value }));
  }
  results.total_seconds = Math.round((Date.now() - started) / 1000);
  fs.mkdirSync(path.join(__dirname, "results"), { recursive: true });
  const out = path.join(__dirname, "results", only ? `${only}.json` : "latest.json");
  fs.writeFileSync(`${out}.tmp`, JSON.stringify(results, null, 2) + "\n");
  fs.renameSync(`${out}.tmp`, out);
  console.log(require("./table.js").table(results));
}

/**
 * 1-3: the 1M-slot inventory, the ceilings (into `ceilings`) and the server on it (its rows into `s`);
 * with BENCH_ONLY=import-under-load, the inventory and that scenario only. Returns the import's row.
 */
async function measureOnFullInventory(ceilings, s) {
  const db = path.join(dir, "bench.db");

  // 1. Inventory.
  log(`generating feeds in ${dir}`);
  const gen0 = Date.now();
  const { files, slots } = generateFeeds(dir);
  const generateSeconds = (Date.now() - gen0) / 1000;
  // Merchants past the inventory's: every slot of this import is new, so its final transaction writes them all.
  const underLoadDir = path.join(dir, "import-under-load");
  fs.mkdirSync(underLoadDir, { recursive: true });
  const underLoadFeeds = generateFeeds(underLoadDir, { merchants: importUnderLoadMerchants, firstMerchant: MERCHANTS });
  log(`importing ${slots} slots`);
  const imported = await timedRun(bin, ["import", "--db", db, ...files]);
  const importRow = { slots, merchants: MERCHANTS, generate_seconds: generateSeconds, seconds: imported.seconds, peak_rss_mb: imported.peak_rss_mb };
  log(`import: ${importRow.seconds} s, peak RSS ${importRow.peak_rss_mb} MB`);

  // 2. Ceilings.
  if (!only) await measureCeilings(ceilings, db);

  // 3. The server.
  const server = await startServer(serverPort, ["--db", db]);
  const t = target(serverPort);
  if (!only) {
    s.createBookingRest = await measure("CreateBooking REST /v3", scenarios.createBookingRest, t, server.pid);
    s.createBookingConnect = await measure("CreateBooking Connect JSON", scenarios.createBookingConnect, t, server.pid);
    s.createBookingGrpc = await measure("CreateBooking gRPC", scenarios.createBookingGrpc, t, server.pid);
    s.batchAvailabilityLookup = await measure("BatchAvailabilityLookup x100 REST", scenarios.batchAvailabilityLookup, t, server.pid);
    s.checkAvailability = await measure("CheckAvailability REST", scenarios.checkAvailability, t, server.pid);
    s.getBookingStatus = await measure("GetBookingStatus REST", scenarios.getBookingStatus, t, server.pid);
    s.mixed = await measure("mixed 90% BAL / 10% CreateBooking REST", scenarios.mixed, t, server.pid);
    // Past saturation: four times the connections; latency may grow, nothing may fail.
    const saturated = target(serverPort, { connections: connections * 4 });
    s.createBookingRestSaturated = await measure(`CreateBooking REST at ${saturated.connections} connections`, scenarios.createBookingRest, saturated, server.pid);
    s.mixedSaturated = await measure(`mixed at ${saturated.connections} connections`, scenarios.mixed, saturated, server.pid);
  }
  // Last, as it adds 300k slots: the load runs from the import's start to its end.
  const importing = timedRun(bin, ["import", "--db", db, ...underLoadFeeds.files]);
  s.duringImport = await measure(`HealthCheck and CreateBooking while a ${underLoadFeeds.slots}-slot import runs`, scenarios.duringImport,
    target(serverPort, { until: importing, warmupMs: 0 }), server.pid);
  const underLoad = await importing;
  s.duringImport.import = {
    slots: underLoadFeeds.slots, seconds: underLoad.seconds, peak_rss_mb: underLoad.peak_rss_mb,
    lock_ms: Number((underLoad.output.match(/locked for the last (\d+) ms/) || [])[1]),
  };
  log(`import under load: ${underLoad.seconds} s, live tables locked ${s.duringImport.import.lock_ms} ms`);
  await stopProcess(server);
  return importRow;
}

/**
 * 4. CreateBooking REST and BAL x100 on PostgreSQL, one instance and then two on the same database (worker w
 * of the load generator on instance w % 2), each against the same scenario on SQLite, all on the inventory
 * of `postgresMerchants` merchants imported into both. Returns { inventory, version, import, server, ratios }.
 */
async function measurePostgres() {
  const feedsDir = path.join(dir, "postgres-comparison");
  fs.mkdirSync(feedsDir, { recursive: true });
  const feeds = generateFeeds(feedsDir, { merchants: postgresMerchants });
  const t = target(serverPort, { merchants: postgresMerchants });
  const server = {};
  const importOf = async (label, args, env) => {
    log(`importing ${feeds.slots} slots into ${label}`);
    const imported = await timedRun(bin, ["import", ...args, ...feeds.files], env);
    log(`import into ${label}: ${imported.seconds} s, peak RSS ${imported.peak_rss_mb} MB`);
    return { seconds: imported.seconds, peak_rss_mb: imported.peak_rss_mb };
  };
  const bothScenarios = async (key, label, servers, extra, postmasterPid) => {
    const pids = servers.map((child) => child.pid);
    server[`createBookingRest${key}`] = await measure(`${label}: CreateBooking REST /v3`, scenarios.createBookingRest, { ...t, ...extra }, pids, postmasterPid);
    server[`batchAvailabilityLookup${key}`] = await measure(`${label}: BatchAvailabilityLookup x100 REST`, scenarios.batchAvailabilityLookup, { ...t, ...extra }, pids, postmasterPid);
    await Promise.all(servers.map(stopProcess));
  };

  const sqliteDb = path.join(dir, "postgres-comparison.db");
  const importInto = { sqlite: await importOf("SQLite", ["--db", sqliteDb]) };
  await bothScenarios("Sqlite", "SQLite", [await startServer(serverPort, ["--db", sqliteDb])], {});

  log("starting a PostgreSQL cluster");
  const cluster = await startBenchCluster();
  try {
    const env = { BOOKING_DATABASE_URL: cluster.url };
    importInto.postgres = await importOf(`PostgreSQL ${cluster.version}`, [], env);
    await bothScenarios("Postgres", "PostgreSQL, one instance", [await startServer(serverPort, [], env)], {}, cluster.postmasterPid);
    const two = [await startServer(serverPort, [], env), await startServer(secondServerPort, [], env)];
    await bothScenarios("Postgres2", "PostgreSQL, two instances", two, { ports: [serverPort, secondServerPort] }, cluster.postmasterPid);
  } finally {
    cluster.remove();
  }
  const ratios = {};
  for (const scenario of ["createBookingRest", "batchAvailabilityLookup"]) {
    for (const key of [`${scenario}Postgres`, `${scenario}Postgres2`]) ratios[key] = { vs_sqlite: ratio(server[key].rps, server[`${scenario}Sqlite`].rps) };
  }
  return { inventory: { merchants: postgresMerchants, slots: feeds.slots }, version: cluster.version, import: importInto, server, ratios };
}

/** The machine's limits (see the README): the SQLite booking loop, a raw node:http echo, a connect-node echo. */
async function measureCeilings(ceilings, db) {
  const storeCopy = path.join(dir, "sqlite-ceiling.db");
  fs.copyFileSync(db, storeCopy);
  log("sqlite booking transaction loop ...");
  const sq = spawnSync(process.execPath, [path.join(__dirname, "ceilings.js"), "sqlite", storeCopy, String(Math.min(seconds, 10))], { encoding: "utf8" });
  if (sq.status !== 0) throw new Error(sq.stderr);
  ceilings.sqliteTransaction = JSON.parse(sq.stdout.trim().split("\n").pop());
  log(`sqlite: ${ceilings.sqliteTransaction.ops_per_s} transactions/s`);
  for (const f of fs.readdirSync(dir)) if (f.startsWith("sqlite-ceiling.db")) fs.rmSync(path.join(dir, f));

  const raw = await startProcess(process.execPath, [path.join(__dirname, "ceilings.js"), "raw", String(rawPort)], () => answers(rawPort, "GET", "/"));
  ceilings.rawHttp = await measure("ceiling: raw node:http JSON echo", scenarios.rawHttp, target(rawPort), raw.pid);
  await stopProcess(raw);
  const echo = await startProcess(process.execPath, [path.join(__dirname, "ceilings.js"), "connect", String(echoPort), String(echoH2Port)],
    () => answers(echoPort, "GET", "/"));
  ceilings.connectEchoJson = await measure("ceiling: connect-node echo (Connect JSON)", scenarios.connectEchoJson, target(echoPort), echo.pid);
  ceilings.connectEchoGrpc = await measure("ceiling: connect-node echo (gRPC)", scenarios.connectEchoGrpc, target(echoPort, { h2Port: echoH2Port }), echo.pid);
  await stopProcess(echo);
}

main().catch((error) => {
  console.error(error);
  process.exit(1); // through the exit hooks, which stop what still runs
});
