/**
 * jest's global setup (jest.config.js): gives the run a directory for its
 * PostgreSQL cluster, which the first suite that needs one starts
 * (test/support/postgres-cluster.ts); a run with no such suite starts none.
 * Runs in jest's own process, before any worker: the workers inherit the
 * variable, and this process's exit hooks stop the cluster however the run
 * ends short of SIGKILL (tests failing, Ctrl-C, SIGTERM).
 */
import { makeRunDir, removeCluster, removeStaleClusters, runDirVariable } from "./postgres-cluster";

export default function postgresGlobalSetup(): void {
  removeStaleClusters();
  const runDir = makeRunDir();
  process.env[runDirVariable] = runDir;
  const remove = () => removeCluster(runDir);
  process.once("exit", remove);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      remove();
      // Then as if nobody had listened: the signal ends the process.
      process.kill(process.pid, signal);
    });
  }
}
