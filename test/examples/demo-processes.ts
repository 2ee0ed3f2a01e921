import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { repoRoot, runCli } from "../support/server-process";

/** Helpers for the tests of examples/: `make run`'s script, the example clients and the Google stand-in, each run as a user runs it. */

export const examplesDir = join(repoRoot, "examples");

/** The demo inventory `make run` imports (the restaurant and the salon). */
export const demoFeeds = ["merchants.json", "services.json", "availability.json"].map((name) => join(examplesDir, "feeds", name));

/** Imports the demo inventory into a new database at `dbPath` through `booking-server import`. */
export function importDemoInventory(dbPath: string): void {
  const imported = runCli(["import", "--db", dbPath, ...demoFeeds]);
  if (imported.status !== 0) throw new Error(`import failed: ${imported.stderr}`);
}

/**
 * The environment a new user's shell would give `make run`: none of the
 * credential variables a test runner's environment might carry.
 */
export function cleanEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    "HOST",
    "PORT",
    "BOOKING_DB",
    "BOOKING_AUTH_USERNAME",
    "BOOKING_AUTH_PASSWORD",
    "BOOKING_AUTH_PASSWORD_FILE",
    "BOOKING_AUTH_CREDENTIALS_FILE",
    "ADMIN_TOKEN",
    "MERCHANT_TOKENS_FILE",
    "NOTIFICATION_API_URL",
    "NOTIFICATION_PARTNER_ID",
    "NOTIFICATION_BEARER_TOKEN",
    "STAND_IN_PORT",
    "STAND_IN_FAIL",
    "STAND_IN_FAIL_FOR_SEC",
  ]) {
    delete base[name];
  }
  return { ...base, ...env };
}

/** Runs `node examples/<script>` to completion, the way the README says to. */
export function runExample(script: string, env: Record<string, string>) {
  const result = spawnSync(process.execPath, [join(examplesDir, script)], { cwd: repoRoot, env: cleanEnv(env), encoding: "utf8", timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A port nothing listens on right now (the kernel's pick, released again). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Running {
  child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Waits until its output matches (throws with the output after `timeoutMs`, or when it exits first). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Its exit code, once it has exited by itself. */
  exit: Promise<number | null>;
  /** SIGTERM, then waits for the exit; its exit code. */
  stop(): Promise<number | null>;
}

/** Starts a long-running example (`examples/run-demo.sh`, `examples/google-stand-in.js`, ...) with `command` and `args`. */
export function startExample(command: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(command, args, { cwd: repoRoot, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const append = (chunk: Buffer) => (output += chunk.toString());
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    exit,
    output: () => output,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`no ${pattern} in the output of ${args.join(" ") || command} (exit ${child.exitCode}):\n${output}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exit;
    },
  };
}

/** `make run`'s script on the database `dbPath` at `port`. */
export function startDemo(dbPath: string, port: number, env: Record<string, string> = {}): Running {
  return startExample(join(examplesDir, "run-demo.sh"), [], { BOOKING_DB: dbPath, PORT: String(port), ...env });
}

/** The values of the `export B=... AUTH=... MERCHANT_TOKEN=... ADMIN_TOKEN=...` line `make run` prints. */
export function exportedValues(output: string): Record<string, string> {
  const line = /^export (.*)$/m.exec(output)?.[1];
  if (!line) throw new Error(`no export line in:\n${output}`);
  // Made-up values are shell-safe (base64url); printf %q leaves them as they are.
  return Object.fromEntries(line.split(" ").map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
}

/** A Connect unary JSON call (what `buf curl` does over gRPC) with a bearer token. */
export async function bearerCall(baseUrl: string, path: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}/${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
