/**
 * What `serve` makes of its flags and environment, in process: the defaults,
 * the precedence (flag > environment > default), the errors word for word and
 * which of several bad settings is named first. Written against the parsers
 * before they moved onto the settings schema (src/config/settings.ts), so the
 * move keeps the behaviour.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, credentialsFrom, parseServeConfig } from "../../src/config";
import { PaymentConfigError, paymentProcessorFromEnv } from "../../src/payments/processor-from-env";
import { defaultMaxConnections } from "../../src/server/connection-cap";
import type { Store } from "../../src/store/repositories";
import { openSqliteStore } from "../../src/store/sqlite-store";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "booking-settings-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open = ["--insecure-no-auth"];
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const failure = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
};

test("when nothing is set, then every setting takes its default", () => {
  const config = parseServeConfig(open, {});
  expect(config).toEqual({
    port: 8080,
    host: "0.0.0.0",
    dbPath: "./data/booking.db",
    credentials: undefined,
    tls: undefined,
    merchantAuth: undefined,
    autoDeclineAfterSec: 86400,
    maxConnections: defaultMaxConnections(),
    notifier: { baseUrl: "https://mapsbooking.googleapis.com", partnerId: undefined, tokenSource: undefined },
    createDatabase: false,
    metrics: { token: undefined, listener: undefined, public: false },
    trustedProxies: undefined,
    logLevel: "info",
  });
});

test("when a flag and its variable are both given, then the flag wins over the variable, which wins over the default", () => {
  const env = {
    PORT: "7001",
    HOST: "127.0.0.2",
    BOOKING_DB: "/env.db",
    AUTO_DECLINE_AFTER_SEC: "60",
    MAX_CONNECTIONS: "10",
  };
  const fromEnv = parseServeConfig(open, env);
  expect([fromEnv.port, fromEnv.host, fromEnv.dbPath, fromEnv.autoDeclineAfterSec, fromEnv.maxConnections]).toEqual([
    7001,
    "127.0.0.2",
    "/env.db",
    60,
    10,
  ]);
  const fromFlags = parseServeConfig(
    [...open, "--port", "7002", "--host", "::1", "--db", "/flag.db", "--auto-decline-after-sec", "30", "--max-connections", "20"],
    env,
  );
  expect([fromFlags.port, fromFlags.host, fromFlags.dbPath, fromFlags.autoDeclineAfterSec, fromFlags.maxConnections]).toEqual([
    7002,
    "::1",
    "/flag.db",
    30,
    20,
  ]);
});

test("when --create-db or BOOKING_DB_CREATE=1 is given, then serve may create the database; other values do not", () => {
  expect(parseServeConfig([...open, "--create-db"], {}).createDatabase).toBe(true);
  expect(parseServeConfig(open, { BOOKING_DB_CREATE: "1" }).createDatabase).toBe(true);
  expect(parseServeConfig(open, { BOOKING_DB_CREATE: "true" }).createDatabase).toBe(false);
  expect(parseServeConfig(open, { BOOKING_DB_CREATE: "0" }).createDatabase).toBe(false);
});

test("when a variable is set but empty, then each setting treats it as it always has", () => {
  // PORT, HOST and BOOKING_DB take an empty value as given (PORT="" is port 0, any free port).
  const config = parseServeConfig(open, {
    PORT: "",
    HOST: "",
    BOOKING_DB: "",
    METRICS_TOKEN: "",
    METRICS_PORT: "",
    METRICS_HOST: "",
    METRICS_PUBLIC: "",
    ADMIN_TOKEN: "",
    MERCHANT_TOKENS_FILE: "",
    TRUSTED_PROXIES: " ",
    NOTIFICATION_API_URL: " ",
    NOTIFICATION_PARTNER_ID: " ",
  });
  expect([config.port, config.host, config.dbPath]).toEqual([0, "", ""]);
  expect(config.metrics).toEqual({ token: undefined, listener: undefined, public: false });
  expect(config.merchantAuth).toBeUndefined();
  expect(config.trustedProxies).toBeUndefined();
  expect(config.notifier).toEqual({ baseUrl: "https://mapsbooking.googleapis.com", partnerId: undefined, tokenSource: undefined });
});

test("when the metrics settings are given, then they say where /metrics is served", () => {
  expect(parseServeConfig(open, { METRICS_TOKEN: "t", METRICS_PORT: "9464", METRICS_PUBLIC: "1" }).metrics).toEqual({
    token: "t",
    listener: { port: 9464, host: "127.0.0.1" },
    public: true,
  });
  expect(parseServeConfig(open, { METRICS_PORT: "9464", METRICS_HOST: "0.0.0.0", METRICS_PUBLIC: "0" }).metrics).toEqual({
    token: undefined,
    listener: { port: 9464, host: "0.0.0.0" },
    public: false,
  });
});

test("when the notifier settings are given, then they are trimmed and a static token wins over a key file", async () => {
  const notifier = parseServeConfig(open, {
    NOTIFICATION_API_URL: " http://127.0.0.1:9999/ ",
    NOTIFICATION_PARTNER_ID: " p1 ",
    NOTIFICATION_BEARER_TOKEN: " tok ",
    GOOGLE_APPLICATION_CREDENTIALS: "/key.json",
  }).notifier;
  expect(notifier.baseUrl).toBe("http://127.0.0.1:9999");
  expect(notifier.partnerId).toBe("p1");
  expect(await notifier.tokenSource!.getAccessToken()).toBe("tok");
  const withKey = parseServeConfig(open, { NOTIFICATION_PARTNER_ID: "p", GOOGLE_APPLICATION_CREDENTIALS: "/etc/key.json" }).notifier;
  expect(withKey.tokenSource!.describe()).toMatch(/\/etc\/key\.json/);
});

test("when credentials come from the variables and files, then all of them are accepted", () => {
  const passwordFile = file("password", "from-a-file\n");
  const credentialsFile = file("credentials", "# rotation\n\nold:pw-1\nnew:pw:2\n");
  expect(credentialsFrom({ BOOKING_AUTH_USERNAME: "google", BOOKING_AUTH_PASSWORD: "pw" })).toEqual([{ username: "google", password: "pw" }]);
  expect(
    parseServeConfig([], {
      BOOKING_AUTH_USERNAME: "google",
      BOOKING_AUTH_PASSWORD: "ignored",
      BOOKING_AUTH_PASSWORD_FILE: passwordFile,
      BOOKING_AUTH_CREDENTIALS_FILE: credentialsFile,
    }).credentials,
  ).toEqual([
    { username: "google", password: "from-a-file" },
    { username: "old", password: "pw-1" },
    { username: "new", password: "pw:2" },
  ]);
  expect(credentialsFrom({ BOOKING_AUTH_CREDENTIALS_FILE: credentialsFile })).toHaveLength(2);
});

test("when merchant tokens and an admin token are set, then MerchantService has them", () => {
  const tokens = file("tokens.json", JSON.stringify({ "merchant-1": "token-1" }));
  expect(parseServeConfig(open, { MERCHANT_TOKENS_FILE: tokens, ADMIN_TOKEN: "admin" }).merchantAuth).toEqual({
    merchantTokens: new Map([["merchant-1", "token-1"]]),
    adminToken: "admin",
  });
  expect(parseServeConfig(open, { ADMIN_TOKEN: "admin" }).merchantAuth).toEqual({ merchantTokens: new Map(), adminToken: "admin" });
});

test("when TLS files are given by flag or variable, then they are read, the flag first", () => {
  const cert = file("cert.pem", "CERT");
  const key = file("key.pem", "KEY");
  const ca = file("ca.pem", "CA");
  const tls = parseServeConfig([...open, "--tls-cert", cert], { TLS_CERT_FILE: "/missing", TLS_KEY_FILE: key, TLS_CLIENT_CA_FILE: ca }).tls!;
  expect([tls.cert.toString(), tls.key.toString(), tls.clientCa!.toString()]).toEqual(["CERT", "KEY", "CA"]);
});

test.each<[string, string[], Record<string, string>, string]>([
  ["a port that is not a number", ["--port", "http"], {}, "invalid port: http"],
  ["a port out of range", [], { PORT: "65536" }, "invalid port: 65536"],
  ["no credentials", [], {}, "refusing to start without credentials: set BOOKING_AUTH_USERNAME and BOOKING_AUTH_PASSWORD (or BOOKING_AUTH_PASSWORD_FILE, or BOOKING_AUTH_CREDENTIALS_FILE), or pass --insecure-no-auth to serve without authentication"],
  ["a client CA alone", [...open, "--tls-client-ca", "/ca.pem"], {}, "a client CA (mutual TLS) needs --tls-cert and --tls-key too"],
  ["a certificate without a key", [...open], { TLS_CERT_FILE: "/cert.pem" }, "TLS needs both a certificate (--tls-cert) and a key (--tls-key)"],
  ["zero seconds to decide", [...open, "--auto-decline-after-sec", "0"], {}, 'AUTO_DECLINE_AFTER_SEC must be a positive number of seconds, got "0"'],
  ["a fractional connection cap", [...open], { MAX_CONNECTIONS: "1.5" }, 'MAX_CONNECTIONS must be a positive number of connections, got "1.5"'],
  ["a notification URL that is not one", [...open], { NOTIFICATION_API_URL: "not a url" }, 'NOTIFICATION_API_URL is not a URL: "not a url"'],
  ["a notification URL that is not http(s)", [...open], { NOTIFICATION_API_URL: "ftp://example.com" }, 'NOTIFICATION_API_URL must be http(s): "ftp://example.com"'],
  ["a partner id without credentials", [...open], { NOTIFICATION_PARTNER_ID: "p" }, "NOTIFICATION_PARTNER_ID is set but no credentials are: set GOOGLE_APPLICATION_CREDENTIALS (service-account key file) or NOTIFICATION_BEARER_TOKEN"],
  ["a metrics port of 0", [...open], { METRICS_PORT: "0" }, "invalid METRICS_PORT: 0"],
  ["METRICS_PUBLIC=yes", [...open], { METRICS_PUBLIC: "yes" }, 'METRICS_PUBLIC must be 1 (open /metrics on the serving port) or 0, got "yes"'],
  ["a trusted proxy that is a name", [...open], { TRUSTED_PROXIES: "proxy.internal" }, 'TRUSTED_PROXIES: "proxy.internal" is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8)'],
])("when serve is given %s, then it refuses with the same words", (_, args, env, message) => {
  expect(failure(() => parseServeConfig(args, env))).toBe(message);
});

test("when several settings are wrong, then they are named in the same order as before", () => {
  const tokens = file("bad-tokens.json", "[]");
  const credentials = file("bad-credentials", "no colon here\n");
  const goodCredentials = file("good-credentials", "google:pw\n");
  const env: Record<string, string> = {
    PORT: "x",
    BOOKING_AUTH_CREDENTIALS_FILE: credentials,
    TLS_KEY_FILE: "/key.pem",
    MERCHANT_TOKENS_FILE: tokens,
    AUTO_DECLINE_AFTER_SEC: "soon",
    MAX_CONNECTIONS: "-1",
    NOTIFICATION_PARTNER_ID: "p",
    METRICS_PORT: "99999",
    TRUSTED_PROXIES: "10.0.0.0/33",
  };
  // Each is then put right (deleted, or given `fixed`), and the next one is named.
  const order: [variable: string, message: string, fixed?: string][] = [
    ["PORT", "invalid port: x"],
    ["BOOKING_AUTH_CREDENTIALS_FILE", `${credentials}: line 1 is not "username:password"`, goodCredentials],
    ["TLS_KEY_FILE", "TLS needs both a certificate (--tls-cert) and a key (--tls-key)"],
    ["MERCHANT_TOKENS_FILE", `MERCHANT_TOKENS_FILE ${tokens}: expected a JSON object {"<merchant_id>": "<token>", ...}`],
    ["AUTO_DECLINE_AFTER_SEC", 'AUTO_DECLINE_AFTER_SEC must be a positive number of seconds, got "soon"'],
    ["MAX_CONNECTIONS", 'MAX_CONNECTIONS must be a positive number of connections, got "-1"'],
    ["NOTIFICATION_PARTNER_ID", "NOTIFICATION_PARTNER_ID is set but no credentials are: set GOOGLE_APPLICATION_CREDENTIALS (service-account key file) or NOTIFICATION_BEARER_TOKEN"],
    ["METRICS_PORT", "invalid METRICS_PORT: 99999"],
    ["TRUSTED_PROXIES", 'TRUSTED_PROXIES: "10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8)'],
  ];
  for (const [variable, message, fixed] of order) {
    expect(failure(() => parseServeConfig([], env))).toBe(message);
    if (fixed === undefined) delete env[variable];
    else env[variable] = fixed;
  }
  expect(parseServeConfig([], env).credentials).toEqual([{ username: "google", password: "pw" }]);
});

test("when a flag is unknown or lacks its value, then parsing refuses it as node's parseArgs does", () => {
  expect(() => parseServeConfig(["--prot", "1"], {})).toThrow(expect.objectContaining({ code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" }));
  expect(() => parseServeConfig(["--port"], {})).toThrow(expect.objectContaining({ code: "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" }));
  expect(() => parseServeConfig(["--insecure-no-auth=yes"], {})).toThrow(expect.objectContaining({ code: "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" }));
});

test("when LOG_LEVEL is set, then serve logs at that level", () => {
  expect(parseServeConfig(open, { LOG_LEVEL: "debug" }).logLevel).toBe("debug");
});

describe("paymentProcessorFromEnv", () => {
  let store: Store;
  beforeAll(() => {
    store = openSqliteStore(join(dir, "sandbox.db"));
  });
  afterAll(() => store.close());
  const paymentError = (env: Record<string, string>): string => {
    try {
      paymentProcessorFromEnv(env, store);
    } catch (error) {
      expect(error).toBeInstanceOf(PaymentConfigError);
      return (error as Error).message;
    }
    throw new Error("expected a PaymentConfigError");
  };

  test("when PAYMENT_PROCESSOR is unset or empty, then the sandbox is used", () => {
    for (const env of [{}, { PAYMENT_PROCESSOR: "" }]) {
      expect(paymentProcessorFromEnv(env, store).description).toMatch(/^the sandbox processor/);
    }
  });

  test("when PAYMENT_PROCESSOR is stripe, then STRIPE_SECRET_KEY is required and STRIPE_API_URL points the SDK elsewhere", () => {
    expect(paymentError({ PAYMENT_PROCESSOR: "stripe" })).toBe("PAYMENT_PROCESSOR=stripe needs STRIPE_SECRET_KEY");
    expect(paymentError({ PAYMENT_PROCESSOR: "stripe", STRIPE_SECRET_KEY: "" })).toBe("PAYMENT_PROCESSOR=stripe needs STRIPE_SECRET_KEY");
    expect(paymentProcessorFromEnv({ PAYMENT_PROCESSOR: "stripe", STRIPE_SECRET_KEY: "sk_test_1" }, store).description).toBe("Stripe");
    expect(
      paymentProcessorFromEnv({ PAYMENT_PROCESSOR: "stripe", STRIPE_SECRET_KEY: "sk_test_1", STRIPE_API_URL: "http://127.0.0.1:12111/" }, store)
        .description,
    ).toBe("Stripe at http://127.0.0.1:12111");
  });

  test("when PAYMENT_PROCESSOR names another processor, then it is refused", () => {
    expect(paymentError({ PAYMENT_PROCESSOR: "paypal" })).toBe('PAYMENT_PROCESSOR must be "sandbox" or "stripe", not "paypal"');
  });
});
