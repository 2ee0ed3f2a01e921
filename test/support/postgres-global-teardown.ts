/** jest's global teardown (jest.config.js): stops and removes the run's PostgreSQL cluster, if one was started. */
import { removeCluster, runDirVariable } from "./postgres-cluster";

export default function postgresGlobalTeardown(): void {
  const runDir = process.env[runDirVariable];
  if (runDir) removeCluster(runDir);
}
