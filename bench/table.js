"use strict";
// Formats bench/results/latest.json as the Markdown table printed by `make bench` and shown in the README.

function table(r) {
  const lines = [];
  lines.push(`${r.date.slice(0, 10)} · ${r.machine} · ${r.connections} connections · ${r.seconds_per_scenario} s per scenario`, "");
  lines.push("| load | req/s | p50 ms | p99 ms | errors | not booked / wrong | server RSS MB | ÷ connect echo | ÷ raw node:http | ÷ SQLite txn loop |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
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
  lines.push(`Import of ${r.import.slots.toLocaleString("en")} slots (${r.import.merchants} merchants): ${r.import.seconds} s, peak RSS ${r.import.peak_rss_mb} MB (feeds generated in ${r.import.generate_seconds} s).`, "");
  const underLoad = r.server.duringImport?.import;
  if (underLoad) {
    lines.push(`Import of ${underLoad.slots.toLocaleString("en")} more slots while serving: ${underLoad.seconds} s, peak RSS ${underLoad.peak_rss_mb} MB; ` +
      `its final transaction held the write lock ${underLoad.lock_ms} ms.`, "");
  }
  if (r.targets.length) lines.push("| target | measured | |", "|---|---:|---|");
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.value} | ${t.met ? "✓" : "✗"} |`);
  return lines.join("\n");
}

module.exports = { table };

if (require.main === module) {
  const file = process.argv[2] || require("node:path").join(__dirname, "results", "latest.json");
  console.log(table(JSON.parse(require("node:fs").readFileSync(file, "utf8"))));
}
