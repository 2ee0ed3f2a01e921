import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = join(__dirname, "..", "..");
const cli = join(repoRoot, "bin", "booking-server");

function assertBuilt(): void {
  if (!existsSync(join(repoRoot, "dist", "src", "cli.js"))) {
    throw new Error("dist/ is missing: run `npm run build` (make test does) before these tests");
  }
}

/** Runs `bin/booking-server <args>` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}) {
  assertBuilt();
  const result = spawnSync(cli, args, { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  output: () => string;
}

/**
 * Starts `bin/booking-server serve` as its own process and waits until it
 * listens. A missing database is created (BOOKING_DB_CREATE=1) unless `env`
 * says otherwise.
 */
export function startServerProcess(args: string[], env: Record<string, string>): Promise<ServerProcess> {
  assertBuilt();
  const child = spawn(cli, ["serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    cwd: repoRoot,
    env: { ...process.env, BOOKING_DB_CREATE: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on https?:\/\/[^\s]+:(\d+)/.exec(output);
      if (match) {
        const port = Number(match[1]);
        resolve({ child, port, baseUrl: `http://127.0.0.1:${port}`, output: () => output });
      }
    };
    child.stdout!.on("data", onOutput);
    child.stderr!.on("data", onOutput);
    child.once("exit", (code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
  });
}

/** Kills the process the hard way (no shutdown hook runs) and waits for it to be gone. */
export function killHard(server: ServerProcess): Promise<void> {
  return new Promise((resolve) => {
    server.child.once("exit", () => resolve());
    server.child.kill("SIGKILL");
  });
}

/** killHard, unless there is no process or it has exited already (the after-all of a suite that may have stopped it). */
export async function killIfRunning(server: ServerProcess | undefined): Promise<void> {
  if (server && server.child.exitCode === null && server.child.signalCode === null) await killHard(server);
}
