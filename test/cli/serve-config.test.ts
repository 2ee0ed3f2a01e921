import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../support/operations";
import { killHard, runCli, startServerProcess } from "../support/server-process";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "booking-config-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noCredentials = { BOOKING_AUTH_USERNAME: "", BOOKING_AUTH_PASSWORD: "", BOOKING_AUTH_PASSWORD_FILE: "" };

test("when serve starts without credentials, then it refuses and says how to fix it", () => {
  const result = runCli(["serve", "--port", "0", "--db", join(dir, "a.db")], noCredentials);
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/BOOKING_AUTH_USERNAME/);
  expect(result.stderr).toMatch(/--insecure-no-auth/);
});

test("when serve is told --insecure-no-auth, then it serves HealthCheck without credentials", async () => {
  const server = await startServerProcess(["--db", join(dir, "b.db"), "--insecure-no-auth"], noCredentials);
  try {
    const response = await fetch(`${server.baseUrl}/v3/HealthCheck`);
    expect(response.status).toBe(200);
    expect(server.output()).toMatch(/WARNING/);
  } finally {
    await killHard(server);
  }
});

test("when the password comes from BOOKING_AUTH_PASSWORD_FILE, then those credentials are required", async () => {
  const passwordFile = join(dir, "password");
  require("node:fs").writeFileSync(passwordFile, "from-a-file\n");
  const server = await startServerProcess(["--db", join(dir, "c.db")], {
    ...noCredentials,
    BOOKING_AUTH_USERNAME: "google",
    BOOKING_AUTH_PASSWORD_FILE: passwordFile,
  });
  try {
    const denied = await fetch(`${server.baseUrl}/v3/HealthCheck`);
    expect(denied.status).toBe(401);
    const allowed = await fetch(`${server.baseUrl}/v3/HealthCheck`, {
      headers: { Authorization: `Basic ${Buffer.from("google:from-a-file").toString("base64")}` },
    });
    expect(allowed.status).toBe(200);
  } finally {
    await killHard(server);
  }
});

test("when the command is unknown, then usage is printed and the exit code is 2", () => {
  const result = runCli(["frobnicate"]);
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/usage:/);
});

const noMerchantAuth = { MERCHANT_TOKENS_FILE: "", ADMIN_TOKEN: "" };

test("when MERCHANT_TOKENS_FILE is not a JSON object of tokens, then serve refuses and names the file", () => {
  const tokensFile = join(dir, "bad-tokens.json");
  require("node:fs").writeFileSync(tokensFile, '{"merchant-1": 42}');
  const result = runCli(["serve", "--port", "0", "--db", join(dir, "d.db"), "--insecure-no-auth"], {
    ...noMerchantAuth,
    MERCHANT_TOKENS_FILE: tokensFile,
  });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain(tokensFile);
});

test("when MERCHANT_TOKENS_FILE and ADMIN_TOKEN are set, then MerchantService answers their bearer tokens only", async () => {
  const tokensFile = join(dir, "tokens.json");
  require("node:fs").writeFileSync(tokensFile, JSON.stringify({ "merchant-1": "token-1" }));
  const server = await startServerProcess(["--db", join(dir, "e.db"), "--insecure-no-auth"], {
    ...noMerchantAuth,
    MERCHANT_TOKENS_FILE: tokensFile,
    ADMIN_TOKEN: "admin-token",
  });
  const list = (token: string, merchantId: string) =>
    fetch(`${server.baseUrl}/partner.merchant.v1.MerchantService/ListBookings`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ merchantId }),
    });
  try {
    expect((await list("token-1", "merchant-1")).status).toBe(200);
    expect((await list("admin-token", "merchant-2")).status).toBe(200);
    expect((await list("token-1", "merchant-2")).status).toBe(403);
    expect((await list("wrong", "merchant-1")).status).toBe(401);
    expect(server.output()).toMatch(/MerchantService/);
  } finally {
    await killHard(server);
  }
});

test.each([
  ["10.0.0.0/8,10.0.0.0/33", '"10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR'],
  ["proxy.internal", '"proxy.internal" is not an IPv4 or IPv6 address or CIDR'],
  ["127.0.0.1,,::1", "entry 2 is empty"],
])("when TRUSTED_PROXIES is %s, then serve refuses and names the entry", (list, complaint) => {
  const result = runCli(["serve", "--port", "0", "--db", join(dir, "f.db"), "--insecure-no-auth"], { TRUSTED_PROXIES: list });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain(`booking-server: TRUSTED_PROXIES: ${complaint}`);
});

test("when TRUSTED_PROXIES names the proxy, then a refused authentication is logged with the address it forwarded for", async () => {
  const server = await startServerProcess(["--db", join(dir, "g.db")], {
    ...noCredentials,
    BOOKING_AUTH_USERNAME: "google",
    BOOKING_AUTH_PASSWORD: "proxied-Secret-41",
    TRUSTED_PROXIES: "127.0.0.1, ::1",
  });
  try {
    const refused = await fetch(`${server.baseUrl}/v3/HealthCheck`, { headers: { "X-Forwarded-For": "1.1.1.1, 198.51.100.23" } });
    expect(refused.status).toBe(401);
    const started = Date.now();
    while (!/authentication refused/.test(server.output()) && Date.now() - started < 5_000) await sleep(20);
    const refusal = server.output().split("\n").find((line) => /authentication refused/.test(line));
    expect(JSON.parse(refusal!)).toMatchObject({ scheme: "Basic", address: "198.51.100.23", limited: false });
    expect(server.output()).toMatch(/trusted proxies 127\.0\.0\.1, ::1/);
  } finally {
    await killHard(server);
  }
});

test("the start-up line names the host panel at an address a browser on this machine reaches", () => {
  const { urlHostFor } = require("../../src/cli") as typeof import("../../src/cli");
  expect(["0.0.0.0", "::", "127.0.0.1", "10.1.2.3", "::1", "fd00::5"].map(urlHostFor)).toEqual([
    "127.0.0.1",
    "[::1]",
    "127.0.0.1",
    "10.1.2.3",
    "[::1]",
    "[fd00::5]",
  ]);
});
