/**
 * Credentials: Basic pairs from BOOKING_AUTH_CREDENTIALS_FILE reloaded on SIGHUP
 * (rotation without downtime; a malformed file keeps the previous set, and no
 * password ever reaches the log), and the per-address limit on failed
 * authentications (429 + Retry-After past a burst, for the failing caller only:
 * valid credentials are always answered) over REST, Connect, gRPC, gRPC-Web
 * and MerchantService's and AdminService's bearer tokens, with the client's
 * address taken from X-Forwarded-For / Forwarded only behind a trusted proxy.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { AdminService } from "../../gen/es/partner/admin/v1/admin_service_pb";
import type { AuthFailure } from "../../src/server/auth-gate";
import { TrustedProxies } from "../../src/server/client-address";
import { basic, sleep } from "../support/operations";
import { killIfRunning, startServerProcess, type ServerProcess } from "../support/server-process";
import { connectJsonPost, rpcProtocols, type RpcError } from "../support/rpc-clients";
import { authHeader, credentials, startTestServer, type TestServer } from "../support/test-server";

describe("rotation through BOOKING_AUTH_CREDENTIALS_FILE and SIGHUP (server process)", () => {
  const oldPair = { username: "google-2026a", password: "old-Secret-7f3a9c" };
  const newPair = { username: "google-2026b", password: "new-Secret-b81e24" };
  const line = (pair: { username: string; password: string }) => `${pair.username}:${pair.password}`;
  let dir: string;
  let file: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "booking-credentials-"));
    file = join(dir, "credentials");
    writeFileSync(file, `# Google's Basic credentials\n${line(oldPair)}\n`);
    server = await startServerProcess(["--db", join(dir, "booking.db")], {
      BOOKING_AUTH_USERNAME: "",
      BOOKING_AUTH_PASSWORD: "",
      BOOKING_AUTH_CREDENTIALS_FILE: file,
    });
    // The SIGHUP handler is installed after the "listening" line; a SIGHUP before it would end the process.
    const started = Date.now();
    while (!/SIGHUP reloads them/.test(server.output())) {
      if (Date.now() - started > 5_000) throw new Error(`no startup summary after 5 s:\n${server.output()}`);
      await sleep(20);
    }
  });
  afterAll(async () => {
    await killIfRunning(server);
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (pair: { username: string; password: string }) =>
    (await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: basic(pair.username, pair.password) } })).status;

  /** Sends SIGHUP and waits for the server's answer line (the `count`-th SIGHUP line). */
  async function sighup(count: number): Promise<string> {
    server.child.kill("SIGHUP");
    const started = Date.now();
    for (;;) {
      const lines = server.output().split("\n").filter((l) => l.startsWith("SIGHUP:"));
      if (lines.length >= count) return lines[count - 1];
      if (Date.now() - started > 5_000) throw new Error(`no SIGHUP line after 5 s:\n${server.output()}`);
      await sleep(20);
    }
  }

  test("when the new pair is added and the old one removed, each with SIGHUP, then both work in between and only the new one after", async () => {
    expect(server.output()).toMatch(/accepts 1 Basic credential\(s\); SIGHUP reloads them/);
    expect(await status(oldPair)).toBe(200);
    expect(await status(newPair)).toBe(401);

    writeFileSync(file, `${line(oldPair)}\n${line(newPair)}\n`);
    expect(await sighup(1)).toBe("SIGHUP: now accepting 2 Basic credential(s)");
    expect(await status(oldPair)).toBe(200);
    expect(await status(newPair)).toBe(200);

    writeFileSync(file, `${line(newPair)}\n`);
    expect(await sighup(2)).toBe("SIGHUP: now accepting 1 Basic credential(s)");
    expect(await status(oldPair)).toBe(401);
    expect(await status(newPair)).toBe(200);
  });

  test("when the file is malformed and SIGHUP arrives, then the previous set stays and the log says so without a password", async () => {
    const leaked = "leaked-Secret-0d9e";
    writeFileSync(file, `${line(newPair)}\nsomeone-${leaked}\n`);
    const answer = await sighup(3);
    console.log(`malformed credentials file: ${answer}`);
    expect(answer).toMatch(/^SIGHUP: credentials kept as they were: .*line 2 is not "username:password"/);
    expect(await status(newPair)).toBe(200);
    expect(await status(oldPair)).toBe(401);

    // An unreadable file too.
    rmSync(file);
    expect(await sighup(4)).toMatch(/^SIGHUP: credentials kept as they were: cannot read/);
    expect(await status(newPair)).toBe(200);

    const output = server.output();
    for (const secret of [oldPair.password, newPair.password, leaked]) expect(output).not.toContain(secret);
    // The refusals above were logged, with the scheme and the address.
    const refusals = output.split("\n").filter((l) => /authentication refused/.test(l));
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    for (const refusal of refusals) {
      expect(refusal).toMatch(/Basic/);
      expect(refusal).toMatch(/127\.0\.0\.1/);
    }
  });
});

describe("failed authentications are limited per client address, valid credentials never (in-process, burst 5)", () => {
  const wrong = basic(credentials.username, "wrong-password-Zq81");
  /** The limiter's clock, moved by hand: Retry-After is asserted without waiting. */
  function limiterClock() {
    let nowMs = 1_000_000;
    return { now: () => nowMs, advance: (ms: number) => void (nowMs += ms) };
  }

  test("when REST sees 5 wrong passwords, then the right password still gets 200 while a wrong or missing one gets 429 with a Retry-After that counts down", async () => {
    const logged: AuthFailure[] = [];
    const clock = limiterClock();
    const server = await startTestServer({ authFailureBurst: 5, authFailureNowMs: clock.now, logAuthFailure: (f) => logged.push(f) });
    try {
      const get = (authorization: string | null) =>
        fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: authorization === null ? {} : { Authorization: authorization } });
      for (let i = 0; i < 5; i++) {
        const refused = await get(wrong);
        expect(refused.status).toBe(401);
        expect(refused.headers.get("www-authenticate")).toMatch(/^Basic/);
        expect((await get(authHeader)).status).toBe(200);
      }
      const limited = await get(wrong);
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("6");
      console.log(`REST after 5 failures: wrong password ${limited.status}, Retry-After 6 s, ${await limited.text()}`);
      expect((await get(null)).status).toBe(429);
      expect((await get(authHeader)).status).toBe(200);

      clock.advance(2_500);
      const later = await get(wrong);
      expect(later.status).toBe(429);
      expect(later.headers.get("retry-after")).toBe("4");
      clock.advance(3_500);
      // A token is back: the next wrong password is heard (401), the one after it waits again.
      expect((await get(wrong)).status).toBe(401);
      expect((await get(wrong)).status).toBe(429);
      expect((await get(authHeader)).status).toBe(200);
      // Health probes for the orchestrator are not behind authentication, so they still answer.
      expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);

      expect(logged.map((f) => f.limited)).toEqual([false, false, false, false, false, true, true, true, false, true]);
      expect(logged.every((f) => f.scheme === "Basic" && f.address === "127.0.0.1")).toBe(true);
      const text = JSON.stringify(logged);
      for (const secret of ["wrong-password-Zq81", credentials.password, wrong, authHeader]) expect(text).not.toContain(secret);
    } finally {
      await server.close();
    }
  });

  test.each(rpcProtocols.map((protocol) => [protocol.name, protocol] as const))(
    "when %s sees 5 wrong passwords, then the right password still answers while a wrong one is resource_exhausted",
    async (_name, protocol) => {
      const server = await startTestServer({ authFailureBurst: 5 });
      const client = protocol.connect(server.baseUrl);
      try {
        const codeOf = (authorization: string) =>
          client.call("healthCheck", {}, { authorization }).then(
            () => "ok",
            (e: unknown) => Code[(e as RpcError).code],
          );
        for (let i = 0; i < 5; i++) expect(await codeOf(wrong)).toBe("Unauthenticated");
        expect(await codeOf(authHeader)).toBe("ok");
        expect(await codeOf(wrong)).toBe("ResourceExhausted");
        expect(await codeOf(authHeader)).toBe("ok");
      } finally {
        client.close();
        await server.close();
      }
    },
  );

  test("when Connect answers resource_exhausted over HTTP, then it is a 429 with Retry-After", async () => {
    const server = await startTestServer({ authFailureBurst: 1, authFailureNowMs: limiterClock().now });
    try {
      expect((await connectJsonPost(server.baseUrl, "HealthCheck", {}, { authorization: wrong })).status).toBe(401);
      const limited = await connectJsonPost(server.baseUrl, "HealthCheck", {}, { authorization: wrong });
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe("resource_exhausted");
      expect(limited.headers.get("retry-after")).toBe("6");
    } finally {
      await server.close();
    }
  });

  test("when MerchantService sees 5 wrong bearer tokens, then valid merchant and admin tokens are still answered while a wrong one is resource_exhausted, and the log has no token", async () => {
    const logged: AuthFailure[] = [];
    const token = "merchant-token-Kx93";
    const adminToken = "admin-token-Hq27";
    const server = await startTestServer({
      authFailureBurst: 5,
      merchantAuth: { merchantTokens: new Map([["m1", token]]), adminToken },
      logAuthFailure: (f) => logged.push(f),
    });
    try {
      const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" });
      const merchant = createClient(MerchantService, transport);
      const admin = createClient(AdminService, transport);
      const outcome = (call: Promise<unknown>) =>
        call.then(
          () => "ok",
          (e: unknown) => Code[ConnectError.from(e).code],
        );
      const confirm = (bearer: string) =>
        outcome(merchant.confirmBooking({ bookingId: "no-such-booking" }, { headers: { authorization: `Bearer ${bearer}` } }));
      const outboxStatus = (bearer: string) => outcome(admin.getOutboxStatus({}, { headers: { authorization: `Bearer ${bearer}` } }));
      for (let i = 0; i < 5; i++) expect(await confirm("guessed-token-Pw55")).toBe("Unauthenticated");
      expect(await confirm(token)).toBe("NotFound");
      expect(await outboxStatus(adminToken)).toBe("ok");
      expect(await confirm("guessed-token-Pw55")).toBe("ResourceExhausted");
      expect(await outboxStatus("guessed-token-Pw55")).toBe("ResourceExhausted");
      expect(await confirm(token)).toBe("NotFound");
      expect(logged.map((f) => f.limited)).toEqual([false, false, false, false, false, true, true]);
      console.log(`bearer failures logged as: ${JSON.stringify(logged[0])}`);
      expect(logged[0].scheme).toMatch(/bearer/i);
      const text = JSON.stringify(logged);
      for (const secret of ["guessed-token-Pw55", token, adminToken]) expect(text).not.toContain(secret);
    } finally {
      await server.close();
    }
  });
});

describe("behind a trusted proxy, the limiter and the log see the client the proxy names (in-process, burst 3)", () => {
  const wrong = basic(credentials.username, "wrong-password-Zq81");
  const healthCheck = (server: TestServer, authorization: string, headers: Record<string, string>) =>
    fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { Authorization: authorization, ...headers } }).then((r) => r.status);

  test("when one caller behind the proxy fails its burst, then another behind it is not limited, and the first one's valid credentials still answer", async () => {
    const logged: AuthFailure[] = [];
    const server = await startTestServer({
      authFailureBurst: 3,
      trustedProxies: TrustedProxies.parse("127.0.0.1"),
      logAuthFailure: (f) => logged.push(f),
    });
    try {
      const alice = { "X-Forwarded-For": "203.0.113.5" };
      const bob = { "X-Forwarded-For": "198.51.100.7" };
      for (let i = 0; i < 3; i++) expect(await healthCheck(server, wrong, alice)).toBe(401);
      expect(await healthCheck(server, wrong, alice)).toBe(429);
      expect(await healthCheck(server, wrong, bob)).toBe(401);
      expect(await healthCheck(server, authHeader, alice)).toBe(200);
      expect(await healthCheck(server, authHeader, bob)).toBe(200);
      // What the client wrote left of the hop the proxy appended is not believed: no fresh bucket.
      expect(await healthCheck(server, wrong, { "X-Forwarded-For": "1.1.1.1, 203.0.113.5" })).toBe(429);
      expect(await healthCheck(server, wrong, { "X-Forwarded-For": "2.2.2.2, 203.0.113.5" })).toBe(429);
      expect(new Set(logged.map((f) => f.address))).toEqual(new Set(["203.0.113.5", "198.51.100.7"]));
    } finally {
      await server.close();
    }
  });

  test("when callers are named by Forwarded, then they are limited separately too, an IPv6 one by its address without the port", async () => {
    const logged: AuthFailure[] = [];
    const server = await startTestServer({
      authFailureBurst: 3,
      trustedProxies: TrustedProxies.parse("127.0.0.1,::1"),
      logAuthFailure: (f) => logged.push(f),
    });
    try {
      const carol = (port: number) => ({ Forwarded: `for="[2001:db8:cafe::17]:${port}";proto=https` });
      const dave = { Forwarded: "for=192.0.2.60;proto=https" };
      for (let i = 0; i < 3; i++) expect(await healthCheck(server, wrong, carol(4711 + i))).toBe(401);
      expect(await healthCheck(server, wrong, carol(5000))).toBe(429);
      expect(await healthCheck(server, wrong, dave)).toBe(401);
      expect(await healthCheck(server, authHeader, carol(5001))).toBe(200);
      expect(new Set(logged.map((f) => f.address))).toEqual(new Set(["2001:db8:cafe::17", "192.0.2.60"]));
    } finally {
      await server.close();
    }
  });

  test("when the peer is not a trusted proxy, then rotating X-Forwarded-For or Forwarded does not reset its limit", async () => {
    const logged: AuthFailure[] = [];
    const server = await startTestServer({
      authFailureBurst: 3,
      trustedProxies: TrustedProxies.parse("10.0.0.0/8,fd00::/8"),
      logAuthFailure: (f) => logged.push(f),
    });
    try {
      for (let i = 0; i < 3; i++) expect(await healthCheck(server, wrong, { "X-Forwarded-For": `203.0.113.${i}` })).toBe(401);
      expect(await healthCheck(server, wrong, { "X-Forwarded-For": "203.0.113.99" })).toBe(429);
      expect(await healthCheck(server, wrong, { Forwarded: "for=192.0.2.99" })).toBe(429);
      expect(await healthCheck(server, wrong, { "X-Forwarded-For": "10.0.0.1" })).toBe(429);
      expect(await healthCheck(server, authHeader, { "X-Forwarded-For": "203.0.113.99" })).toBe(200);
      expect(logged.every((f) => f.address === "127.0.0.1")).toBe(true);
    } finally {
      await server.close();
    }
  });
});
