"use strict";
// Who used the machine's cores while a scenario was measured: the server processes, PostgreSQL (the
// postmaster and its children: every backend and background process is one), the load generator (this
// process), and everything else on the machine (other users of these shared cores), in cores (CPU
// seconds per second) from /proc/<pid>/stat utime+stime and /proc/stat, read when the window opens and
// closes. From those, what limited the row (`limitOf`).
const fs = require("node:fs");
const os = require("node:os");
const { spawnSync } = require("node:child_process");

const ticksPerSecond = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** utime, stime, cutime, cstime and ppid of a process (ticks), or undefined when it is gone. */
function procStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count the fields after it.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
}

const ownTicks = (pid) => {
  const s = procStat(pid);
  return s ? s.utime + s.stime : 0;
};

/**
 * The postmaster's tree: its own time, its children's that it has reaped (a backend that ended), and
 * its live children's (PostgreSQL's processes are all the postmaster's direct children).
 */
function treeTicks(rootPid) {
  const root = procStat(rootPid);
  if (!root) return 0;
  let ticks = root.utime + root.stime + root.cutime + root.cstime;
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(name);
    if (s && s.ppid === rootPid) ticks += s.utime + s.stime;
  }
  return ticks;
}

/** The machine's busy ticks (all cores) from /proc/stat: user, nice, system, irq, softirq, steal. */
function machineBusyTicks() {
  const [, user, nice, system, , , irq, softirq, steal] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
  return user + nice + system + irq + softirq + steal;
}

/** A reading of `{ servers: [pid], postmasterPid? }` now. */
function cpuReading({ servers, postmasterPid }) {
  return {
    at: process.hrtime.bigint(),
    servers: servers.map(ownTicks),
    postgres: postmasterPid ? treeTicks(postmasterPid) : 0,
    loadGenerator: ownTicks(process.pid),
    machine: machineBusyTicks(),
  };
}

const round2 = (x) => Math.round(x * 100) / 100;

/** Cores used between two readings, and what limited the row. */
function cpuBetween(start, end, { postgres }) {
  const seconds = Number(end.at - start.at) / 1e9;
  const cores = (ticks) => round2(ticks / ticksPerSecond / seconds);
  const perServer = end.servers.map((t, i) => cores(t - start.servers[i]));
  const used = {
    servers: round2(perServer.reduce((a, b) => a + b, 0)),
    per_server: perServer,
    postgres: postgres ? cores(end.postgres - start.postgres) : undefined,
    load_generator: cores(end.loadGenerator - start.loadGenerator),
  };
  const ours = used.servers + (used.postgres ?? 0) + used.load_generator;
  used.others = Math.max(0, round2(cores(end.machine - start.machine) - ours));
  used.machine_cores = os.cpus().length;
  // The database's share of the CPU the row itself used (servers, database, load generator).
  if (postgres) used.postgres_share = round2(used.postgres / ours);
  used.limit = limitOf(used, postgres);
  return used;
}

/**
 * What limited a row. A node process runs JavaScript on one thread: a server instance or the load generator
 * near one core is the limit. Else, the machine's cores all busy: the largest user took them. Else nothing
 * ran out of CPU: the requests waited (on commits, locks, the network between the processes).
 */
function limitOf(used, postgres) {
  const busyNode = [
    ...used.per_server.map((c, i) => [used.per_server.length > 1 ? `server ${i + 1}` : "server", c]),
    ["load generator", used.load_generator],
  ].filter(([, c]) => c >= 0.85).sort((a, b) => b[1] - a[1]);
  if (busyNode.length) return `${busyNode.map(([name]) => name).join(" and ")}: one core (node's one JavaScript thread)`;
  const total = used.servers + (used.postgres ?? 0) + used.load_generator + used.others;
  if (total >= 0.85 * used.machine_cores) {
    const users = [["servers", used.servers], ["postgres", used.postgres ?? 0], ["load generator", used.load_generator], ["other processes", used.others]];
    const [name] = users.sort((a, b) => b[1] - a[1])[0];
    return `all ${used.machine_cores} cores busy, most of it ${name}`;
  }
  return postgres ? "not CPU: waiting on PostgreSQL (commits, locks)" : "not CPU: waiting on the disk (commits) or the database file's write lock";
}

module.exports = { cpuReading, cpuBetween };
