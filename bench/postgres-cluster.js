"use strict";
// The bench's throwaway PostgreSQL cluster is the test suite's own (test/support/postgres-cluster.ts:
// Debian's PostgreSQL, apt-get installed when missing and root, initdb/pg_ctl as `postgres` via runuser,
// a temp directory, 127.0.0.1 on a free port, fsync on). The bench is plain JavaScript on dist/, which
// does not compile test/, so that one file is transpiled here (TypeScript's transpileModule, no type
// check, well under a second) instead of keeping a second copy of its steps.
const fs = require("node:fs");
const path = require("node:path");
const Module = require("node:module");
const pg = require("pg");

const helperPath = path.join(__dirname, "..", "test", "support", "postgres-cluster.ts");

function loadClusterHelper() {
  const ts = require("typescript");
  const { outputText } = ts.transpileModule(fs.readFileSync(helperPath, "utf8"), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: helperPath,
  });
  const helper = new Module(helperPath, module);
  helper.filename = helperPath;
  helper.paths = Module._nodeModulePaths(path.dirname(helperPath));
  helper._compile(outputText, helperPath);
  return helper.exports;
}

/**
 * Starts a cluster with an empty database `bench`; returns { url (of that database), version,
 * postmasterPid, remove }. It is removed when this process exits (run.js turns SIGINT, SIGTERM and
 * SIGHUP into an exit); after a SIGKILL the next `make test` removes it, as its owner is gone.
 */
async function startBenchCluster() {
  const helper = loadClusterHelper();
  const cluster = await helper.startOwnCluster();
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    cluster.remove();
  };
  process.once("exit", remove);
  const client = new pg.Client({ connectionString: `${cluster.serverUrl}/postgres` });
  await client.connect();
  try {
    await client.query("CREATE DATABASE bench");
    const { rows } = await client.query("SELECT pg_backend_pid() AS pid, current_setting('server_version') AS version");
    // A backend's parent is the postmaster.
    const postmasterPid = Number(fs.readFileSync(`/proc/${rows[0].pid}/status`, "utf8").match(/PPid:\s+(\d+)/)[1]);
    return { url: `${cluster.serverUrl}/bench`, version: rows[0].version, postmasterPid, remove };
  } finally {
    await client.end();
  }
}

module.exports = { startBenchCluster };
