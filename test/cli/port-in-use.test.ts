/**
 * A port another process holds, met by the real `booking-server serve`: one
 * sentence naming the address and the setting to change, exit status 2, and
 * no stack trace, for the serving port on the default host and for the
 * metrics listener.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opsServerEnv } from "../support/operations";
import { runCli } from "../support/server-process";

let dir: string;
let taken: Server;
let takenPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "port-in-use-"));
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  takenPort = (taken.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** `serve` on a new database with these arguments and settings (HOST and METRICS_PORT as the environment has them: unset), to completion. */
const serve = (args: string[], env: Record<string, string> = {}) =>
  runCli(["serve", "--db", join(dir, `${args.join("-")}.db`), "--create-db", ...args], { ...opsServerEnv, ...env });

test("when the serving port is taken and no --host is given, then serve names the address and PORT in one sentence and exits 2", () => {
  const result = serve(["--port", String(takenPort)]);
  expect(result.status).toBe(2);
  expect(result.stderr.trim()).toBe(
    `booking-server: cannot listen on 0.0.0.0:${takenPort}: another process is listening there; stop it or choose another port (--port / PORT)`,
  );
});

test("when METRICS_PORT is taken, then serve names the metrics address and METRICS_PORT in one sentence and exits 2", () => {
  const result = serve(["--host", "127.0.0.1", "--port", "0"], { METRICS_PORT: String(takenPort) });
  expect(result.status).toBe(2);
  expect(result.stderr.trim()).toBe(
    `booking-server: cannot listen on 127.0.0.1:${takenPort}: another process is listening there; stop it or choose another port (METRICS_PORT)`,
  );
});
