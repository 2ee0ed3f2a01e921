"use strict";
// Formats bench/results/latest.json as the Markdown table printed by `make bench` and shown in the README.

function table(r) {
  const lines = [];
  lines.push(`${r.date.slice(0, 10)} · ${r.machine} · ${r.connections} connections · ${r.seconds_per_scenario} s per scenario`, "");
  // Without rows when the run measured PostgreSQL alone (BENCH_ONLY=postgres).
  if (Object.keys(r.server).length) {
    lines.push("| load | req/s | p50 ms | p99 ms | errors | not booked / wrong | server RSS MB | ÷ connect echo | ÷ raw node:http | ÷ SQLite txn loop |");
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  }
  const row = (name, x, ratio = {}) =>
    lines.push(`| ${name} | ${x.rps} | ${x.p50_ms} | ${x.p99_ms} | ${x.errors} | ${x.failures} | ${x.server_rss_mb} | ${ratio.vs_connect_echo ?? ""} | ${ratio.vs_raw_http ?? ""} | ${ratio.vs_sqlite_transaction ?? ""} |`);
  // Absent when the run measured one scenario alone (BENCH_ONLY).
  if (r.ceilings.rawHttp) {
    row("ceiling: raw node:http JSON echo", r.ceilings.rawHttp);
    row("ceiling: connect-node echo, Connect JSON", r.ceilings.connectEchoJson);
    row("ceiling: connect-node echo, gRPC", r.ceilings.connectEchoGrpc);
    lines.push(`| ceiling: SQLite booking transaction loop (WAL, synchronous=FULL) | ${r.ceilings.sqliteTransaction.ops_per_s} | | | | | | | | |`);
  }
  const names = {
    createBookingRest: "CreateBooking, REST /v3",
    createBookingConnect: "CreateBooking, Connect JSON",
    createBookingGrpc: "CreateBooking, gRPC (÷ echo over gRPC)",
    batchAvailabilityLookup: "BatchAvailabilityLookup, 100 slot times",
    checkAvailability: "CheckAvailability",
    getBookingStatus: "GetBookingStatus",
    mixed: "mixed: 90% BAL, 10% CreateBooking",
    createBookingRestSaturated: `CreateBooking, REST /v3, ${r.connections * 4} connections (past saturation)`,
    mixedSaturated: `mixed, ${r.connections * 4} connections (past saturation)`,
    duringImport: "HealthCheck and CreateBooking while a 300k-slot import runs (503s count as not booked)",
  };
  for (const [key, name] of Object.entries(names)) {
    if (!r.server[key]) continue;
    row(name, r.server[key], r.ratios[key]);
    for (const [kind, k] of Object.entries(r.server[key].by_kind ?? {})) {
      lines.push(`| &nbsp;&nbsp;↳ its ${kind} requests | | ${k.p50_ms} | ${k.p99_ms} | | | | | | |`);
    }
  }
  lines.push("");
  if (r.import) {
    lines.push(`Import of ${r.import.slots.toLocaleString("en")} slots (${r.import.merchants} merchants): ${r.import.seconds} s, peak RSS ${r.import.peak_rss_mb} MB (feeds generated in ${r.import.generate_seconds} s).`, "");
  }
  const underLoad = r.server.duringImport?.import;
  if (underLoad) {
    lines.push(`Import of ${underLoad.slots.toLocaleString("en")} more slots while serving: ${underLoad.seconds} s, peak RSS ${underLoad.peak_rss_mb} MB; ` +
      `its final transaction held the write lock ${underLoad.lock_ms} ms.`, "");
  }
  if (r.postgres) postgresTable(r.postgres, lines);
  if (r.targets.length) lines.push("| target | measured | |", "|---|---:|---|");
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.value} | ${t.met ? "✓" : "✗"} |`);
  return lines.join("\n");
}

/**
 * The PostgreSQL rows next to the same scenario on SQLite, with the cores each part used over the
 * measured window (cpu.js) and what limited the row.
 */
function postgresTable(p, lines) {
  lines.push(
    `PostgreSQL ${p.version} against SQLite, on ${p.inventory.slots.toLocaleString("en")} slots (${p.inventory.merchants} merchants; ` +
      `a smaller inventory than the 1M slots, as the importer is slower on PostgreSQL: ${p.import.postgres.seconds} s for it, ${p.import.sqlite.seconds} s into SQLite). ` +
      "Two instances: two `serve` processes on one database, the load generator's connections alternating between them. " +
      "Cores: CPU seconds per second over the measured window (/proc utime+stime) of the server processes, PostgreSQL's processes " +
      "(with its share of the CPU the row used), the load generator, and the rest of the shared machine. " +
      "CPU ms per request: the servers' and PostgreSQL's CPU over the requests answered, steadier than req/s on a shared machine. " +
      "Re-runs: units of work the store ran again after a serialization conflict with another; gave up: calls answered 503 " +
      "as the conflicts went on past the store's 2 s (counted in errors).",
    "",
  );
  lines.push("| load | req/s | p50 ms | p99 ms | errors | not booked / wrong | server RSS MB | ÷ same on SQLite | cores: servers | cores: postgres (share) | cores: load generator | cores: others | CPU ms per request | re-runs / gave up | limited by |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  const scenarios = { createBookingRest: "CreateBooking, REST /v3", batchAvailabilityLookup: "BatchAvailabilityLookup, 100 slot times" };
  const backends = { Sqlite: "SQLite", Postgres: "PostgreSQL, one instance", Postgres2: "PostgreSQL, two instances" };
  for (const [scenario, scenarioName] of Object.entries(scenarios)) {
    for (const [backend, backendName] of Object.entries(backends)) {
      const x = p.server[`${scenario}${backend}`];
      const c = x.cpu;
      const servers = c.per_server.length > 1 ? `${c.per_server.join(" + ")}` : `${c.servers}`;
      const postgres = c.postgres === undefined ? "" : `${c.postgres} (${Math.round(c.postgres_share * 100)}%)`;
      const msPerRequest = Math.round(((c.servers + (c.postgres ?? 0)) * 1000 / x.rps) * 100) / 100;
      lines.push(`| ${scenarioName}, ${backendName} | ${x.rps} | ${x.p50_ms} | ${x.p99_ms} | ${x.errors} | ${x.failures} | ${x.server_rss_mb} | ` +
        `${p.ratios[`${scenario}${backend}`]?.vs_sqlite ?? ""} | ${servers} | ${postgres} | ${c.load_generator} | ${c.others} | ${msPerRequest} | ${x.store.reruns} / ${x.store.busy} | ${x.limited_by} |`);
    }
  }
  lines.push("");
}

module.exports = { table };

if (require.main === module) {
  const file = process.argv[2] || require("node:path").join(__dirname, "results", "latest.json");
  console.log(table(JSON.parse(require("node:fs").readFileSync(file, "utf8"))));
}
