import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { BasicCredentials } from "./server/basic-auth.js";
import type { MerchantAuth } from "./server/bearer-auth.js";
import { TrustedProxies, TrustedProxyError } from "./server/client-address.js";
import type { TlsFiles } from "./server/single-port-listener.js";
import { defaultMaxConnections } from "./server/connection-cap.js";
import { defaultDecideWithinSec } from "./booking/context.js";
import { notifierConfigFromEnv, NotifierConfigError, type NotifierConfig } from "./notify/notifier.js";

/**
 * Settings of `booking-server serve`: each flag falls back to an environment
 * variable, then to a default.
 *
 * | flag                 | environment                                   | default              |
 * |----------------------|-----------------------------------------------|----------------------|
 * | --port               | PORT                                          | 8080                 |
 * | --host               | HOST                                          | 0.0.0.0              |
 * | --db                 | BOOKING_DB                                    | ./data/booking.db    |
 * | (none)               | BOOKING_AUTH_USERNAME, BOOKING_AUTH_PASSWORD  | required             |
 * | (none)               | BOOKING_AUTH_PASSWORD_FILE (instead of the password) |               |
 * | (none)               | BOOKING_AUTH_CREDENTIALS_FILE (`user:password` lines; reloaded on SIGHUP) | |
 * | --tls-cert/--tls-key | TLS_CERT_FILE, TLS_KEY_FILE                   | plaintext            |
 * | --tls-client-ca      | TLS_CLIENT_CA_FILE (mutual TLS)               | none                 |
 * | --insecure-no-auth   |                                               | off                  |
 * | (none)               | MERCHANT_TOKENS_FILE (JSON `{"<merchant_id>": "<token>"}`) | no MerchantService |
 * | (none)               | ADMIN_TOKEN (acts for any merchant)           | none                 |
 * | --auto-decline-after-sec | AUTO_DECLINE_AFTER_SEC                    | 86400 (one day)      |
 * | --max-connections    | MAX_CONNECTIONS                               | descriptor limit - 256 |
 * | (none)               | NOTIFICATION_API_URL                          | Google's production  |
 * | (none)               | NOTIFICATION_PARTNER_ID                       | none: outbox only    |
 * | (none)               | GOOGLE_APPLICATION_CREDENTIALS or NOTIFICATION_BEARER_TOKEN | required with a partner id |
 * | --create-db          | BOOKING_DB_CREATE=1                           | off: a missing --db is refused |
 * | (none)               | METRICS_TOKEN (bearer token for /metrics)     | /metrics not served  |
 * | (none)               | METRICS_PORT, METRICS_HOST (own listener)     | none; host 127.0.0.1 |
 * | (none)               | METRICS_PUBLIC=1 (/metrics open on the port)  | off                  |
 * | (none)               | LOG_LEVEL (pino level)                        | info                 |
 * | (none)               | TRUSTED_PROXIES (addresses/CIDRs whose X-Forwarded-For / Forwarded name the client) | none |
 *
 * MerchantService is served when either MERCHANT_TOKENS_FILE or ADMIN_TOKEN is set.
 */
export interface ServeConfig {
  port: number;
  host: string;
  dbPath: string;
  credentials: BasicCredentials[] | undefined;
  tls: TlsFiles | undefined;
  /** Bearer tokens for MerchantService; `undefined` does not serve it. */
  merchantAuth: MerchantAuth | undefined;
  /** Seconds a merchant has to answer an asynchronous request. */
  autoDeclineAfterSec: number;
  /**
   * Connections open at once; past it a new one is closed on accept. Default
   * `defaultMaxConnections()`: the soft descriptor limit less 256 kept for the
   * database, logs and the notifier's connections (4096 where it cannot be read).
   */
  maxConnections: number;
  /** Where and how notifications reach Google's Booking Notification API. */
  notifier: NotifierConfig;
  /**
   * Whether `serve` may create the database when the file is missing. Off by
   * default: a missing file after a restart means the data is somewhere else
   * (or gone), and serving a new empty database would hide every booking.
   */
  createDatabase: boolean;
  metrics: MetricsExposure;
  /** Proxies whose X-Forwarded-For / Forwarded name the client (TRUSTED_PROXIES); `undefined`: none. */
  trustedProxies: TrustedProxies | undefined;
}

/**
 * Where Prometheus reads /metrics. They name the Node version and the
 * traffic, so they are never open on the public port by accident: a bearer
 * token there, a listener of their own (loopback by default), or an explicit
 * METRICS_PUBLIC=1. None of them: no metrics are served.
 */
export interface MetricsExposure {
  /** METRICS_TOKEN: /metrics on the serving port behind `Authorization: Bearer <token>`. */
  token: string | undefined;
  /** METRICS_PORT (and METRICS_HOST, default 127.0.0.1): /metrics without auth on a listener of their own. */
  listener: { port: number; host: string } | undefined;
  /** METRICS_PUBLIC=1: /metrics without auth on the serving port. */
  public: boolean;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function dbPathFrom(flag: string | undefined, env: Env): string {
  return flag ?? env.BOOKING_DB ?? "./data/booking.db";
}

export function parseServeConfig(args: string[], env: Env): ServeConfig {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      db: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-client-ca": { type: "string" },
      "insecure-no-auth": { type: "boolean", default: false },
      "auto-decline-after-sec": { type: "string" },
      "max-connections": { type: "string" },
      "create-db": { type: "boolean", default: false },
    },
    strict: true,
  });
  const portText = values.port ?? env.PORT ?? "8080";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`invalid port: ${portText}`);
  return {
    port,
    host: values.host ?? env.HOST ?? "0.0.0.0",
    dbPath: dbPathFrom(values.db, env),
    credentials: values["insecure-no-auth"] ? undefined : credentialsFrom(env),
    tls: tlsFrom(
      values["tls-cert"] ?? env.TLS_CERT_FILE,
      values["tls-key"] ?? env.TLS_KEY_FILE,
      values["tls-client-ca"] ?? env.TLS_CLIENT_CA_FILE,
    ),
    merchantAuth: merchantAuthFrom(env),
    autoDeclineAfterSec: autoDeclineAfterSecFrom(values["auto-decline-after-sec"] ?? env.AUTO_DECLINE_AFTER_SEC),
    maxConnections: maxConnectionsFrom(values["max-connections"] ?? env.MAX_CONNECTIONS),
    notifier: notifierConfigFrom(env),
    createDatabase: values["create-db"] || env.BOOKING_DB_CREATE === "1",
    metrics: metricsExposureFrom(env),
    trustedProxies: trustedProxiesFrom(env.TRUSTED_PROXIES),
  };
}

/** TRUSTED_PROXIES, e.g. `127.0.0.1,10.0.0.0/8,::1,fd00::/8`; unset or blank: trust no proxy. */
function trustedProxiesFrom(list: string | undefined): TrustedProxies | undefined {
  if (list === undefined || list.trim() === "") return undefined;
  try {
    return TrustedProxies.parse(list);
  } catch (error) {
    if (error instanceof TrustedProxyError) throw new ConfigError(`TRUSTED_PROXIES: ${error.message}`);
    throw error;
  }
}

function metricsExposureFrom(env: Env): MetricsExposure {
  const portText = env.METRICS_PORT;
  let listener: MetricsExposure["listener"];
  if (portText) {
    const port = Number(portText);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigError(`invalid METRICS_PORT: ${portText}`);
    listener = { port, host: env.METRICS_HOST || "127.0.0.1" };
  }
  const publicText = env.METRICS_PUBLIC;
  if (publicText !== undefined && publicText !== "" && publicText !== "0" && publicText !== "1") {
    throw new ConfigError(`METRICS_PUBLIC must be 1 (open /metrics on the serving port) or 0, got ${JSON.stringify(publicText)}`);
  }
  return { token: env.METRICS_TOKEN || undefined, listener, public: publicText === "1" };
}

function maxConnectionsFrom(text: string | undefined): number {
  if (text === undefined) return defaultMaxConnections();
  const count = Number(text);
  if (!Number.isSafeInteger(count) || count <= 0) {
    throw new ConfigError(`MAX_CONNECTIONS must be a positive number of connections, got ${JSON.stringify(text)}`);
  }
  return count;
}

function autoDeclineAfterSecFrom(text: string | undefined): number {
  if (text === undefined) return defaultDecideWithinSec;
  const seconds = Number(text);
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new ConfigError(`AUTO_DECLINE_AFTER_SEC must be a positive number of seconds, got ${JSON.stringify(text)}`);
  }
  return seconds;
}

function notifierConfigFrom(env: Env): NotifierConfig {
  try {
    return notifierConfigFromEnv(env);
  } catch (error) {
    if (error instanceof NotifierConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

/** MERCHANT_TOKENS_FILE and ADMIN_TOKEN; neither set: no MerchantService. */
export function merchantAuthFrom(env: Env): MerchantAuth | undefined {
  const file = env.MERCHANT_TOKENS_FILE;
  const adminToken = env.ADMIN_TOKEN || undefined;
  if (!file && !adminToken) return undefined;
  return { merchantTokens: file ? merchantTokensFrom(file) : new Map(), adminToken };
}

function merchantTokensFrom(file: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`MERCHANT_TOKENS_FILE ${file}: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`MERCHANT_TOKENS_FILE ${file}: expected a JSON object {"<merchant_id>": "<token>", ...}`);
  }
  const tokens = new Map<string, string>();
  for (const [merchantId, token] of Object.entries(parsed)) {
    if (typeof token !== "string" || token.trim() === "" || /\s/.test(token)) {
      throw new ConfigError(`MERCHANT_TOKENS_FILE ${file}: the token of merchant "${merchantId}" must be a non-empty string without spaces`);
    }
    tokens.set(merchantId, token);
  }
  return tokens;
}

/**
 * Google's Basic credentials: the BOOKING_AUTH_USERNAME / BOOKING_AUTH_PASSWORD
 * (or _PASSWORD_FILE) pair and every `username:password` line of
 * BOOKING_AUTH_CREDENTIALS_FILE, all accepted at once, so a rotation can add
 * the new pair before Google switches and drop the old one after. Read again
 * on SIGHUP.
 */
export function credentialsFrom(env: Env): BasicCredentials[] {
  const credentials: BasicCredentials[] = [];
  const username = env.BOOKING_AUTH_USERNAME;
  const password = env.BOOKING_AUTH_PASSWORD_FILE
    ? readFileSync(env.BOOKING_AUTH_PASSWORD_FILE, "utf8").trim()
    : env.BOOKING_AUTH_PASSWORD;
  if (username && password) credentials.push({ username, password });
  if (env.BOOKING_AUTH_CREDENTIALS_FILE) credentials.push(...credentialsFile(env.BOOKING_AUTH_CREDENTIALS_FILE));
  if (credentials.length === 0) {
    throw new ConfigError(
      "refusing to start without credentials: set BOOKING_AUTH_USERNAME and BOOKING_AUTH_PASSWORD " +
        "(or BOOKING_AUTH_PASSWORD_FILE, or BOOKING_AUTH_CREDENTIALS_FILE), or pass --insecure-no-auth " +
        "to serve without authentication",
    );
  }
  return credentials;
}

/** `username:password` per line; blank lines and `#` comments ignored. */
function credentialsFile(path: string): BasicCredentials[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read BOOKING_AUTH_CREDENTIALS_FILE ${path}: ${(error as Error).message}`);
  }
  return text.split("\n").flatMap((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return [];
    const colon = line.indexOf(":");
    if (colon <= 0 || colon === line.length - 1) {
      // The line itself is never echoed: it holds a secret.
      throw new ConfigError(`${path}: line ${index + 1} is not "username:password"`);
    }
    return [{ username: line.slice(0, colon), password: line.slice(colon + 1) }];
  });
}

function tlsFrom(
  certFile: string | undefined,
  keyFile: string | undefined,
  clientCaFile: string | undefined,
): TlsFiles | undefined {
  if (!certFile && !keyFile) {
    if (clientCaFile) throw new ConfigError("a client CA (mutual TLS) needs --tls-cert and --tls-key too");
    return undefined;
  }
  if (!certFile || !keyFile) throw new ConfigError("TLS needs both a certificate (--tls-cert) and a key (--tls-key)");
  return {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    clientCa: clientCaFile ? readFileSync(clientCaFile) : undefined,
  };
}
