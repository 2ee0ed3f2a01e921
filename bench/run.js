"use strict";
// `make bench`: generate and import the inventory, measure the limits, measure
// the server, print one table, write bench/results/latest.json.
// Env: BENCH_SECONDS (per scenario, default 12), BENCH_CONNECTIONS (50), BENCH_DIR (a temp dir),
// BENCH_ONLY=import-under-load (the inventory, then only that scenario; written to
// bench/results/import-under-load.json, latest.json is left as it was).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const { spawn, spawnSync } = require("node:child_process");
const { generateFeeds, MERCHANTS } = require("./generate-feeds.js");
const { scenarios } = require("./scenarios.js");

const root = path.join(__dirname, "..");
const seconds = Number(process.env.BENCH_SECONDS || 12);
const connections = Number(process.env.BENCH_CONNECTIONS || 50);
const dir = process.env.BENCH_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "booking-bench-"));
const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== "import-under-load") throw new Error(`BENCH_ONLY=${only}: the only scenario that runs alone is import-under-load`);
/** Merchants of the inventory imported while the server is under load: 300,000 new slots. */
const importUnderLoadMerchants = 300;
const target = (port, extra = {}) => ({ port, connections, durationMs: seconds * 1000, warmupMs: 2000, ...extra });
const rawPort = 18181, echoPort = 18182, echoH2Port = 18183, serverPort = 18184;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Peak RSS (MB) of a command: /usr/bin/time -v when present, else polling VmHWM. */
async function timedRun(cmd, args) {
  const started = Date.now();
  const hasTime = fs.existsSync("/usr/bin/time");
  const child = spawn(hasTime ? "/usr/bin/time" : cmd, hasTime ? ["-v", cmd, ...args] : args, { stdio: ["ignore", "pipe", "pipe"] });
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
process.on("exit", () => children.forEach((child) => child.exitCode === null && child.kill("SIGKILL")));

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

/** Runs a scenario while sampling the server's VmRSS. */
async function measure(name, scenario, t, pid) {
  log(`${name} ...`);
  let rssKb = 0;
  const poll = setInterval(() => (rssKb = Math.max(rssKb, procStatusKb(pid, "VmRSS"))), 200);
  const result = await scenario(t);
  clearInterval(poll);
  const row = { name, ...result, server_rss_mb: Math.round(rssKb / 1024) };
  log(`${name}: ${row.rps}/s p50 ${row.p50_ms} ms p99 ${row.p99_ms} ms errors ${row.errors} failures ${row.failures} rss ${row.server_rss_mb} MB` +
    Object.entries(row.by_kind ?? {}).map(([kind, k]) => `; ${kind}: p50 ${k.p50_ms} ms p99 ${k.p99_ms} ms`).join("") +
    (row.first_error ? ` (first error: ${row.first_error})` : ""));
  return row;
}

async function main() {
  const started = Date.now();
  if (!fs.existsSync(path.join(root, "dist/src/cli.js"))) spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  const bin = path.join(root, "bin/booking-server");
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
  const ceilings = {};
  if (!only) await measureCeilings(ceilings, db);

  // 3. The server.
  const server = await startProcess(bin, ["serve", "--insecure-no-auth", "--port", String(serverPort), "--host", "127.0.0.1", "--db", db],
    () => answers(serverPort, "GET", "/v3/HealthCheck"));
  const s = {};
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

  // 4. Ratios, targets, table, JSON.
  const ratio = (a, b) => Math.round((a / b) * 100) / 100;
  const results = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length}x ${os.cpus()[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB, ${os.platform()} ${os.release()}, node ${process.version}`,
    connections, seconds_per_scenario: seconds,
    import: importRow, ceilings, server: s, ratios: {}, targets: [],
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
    const allRows = [...Object.values(ceilings).filter((r) => r.rps !== undefined), ...Object.values(s)];
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

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    children.forEach((child) => child.exitCode === null && child.kill("SIGKILL"));
    if (!process.env.BENCH_DIR) fs.rmSync(dir, { recursive: true, force: true });
  });
