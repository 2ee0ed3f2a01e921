import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { BasicCredentials } from "./server/basic-auth.js";
import type { MerchantAuth } from "./server/bearer-auth.js";
import { TrustedProxies, TrustedProxyError } from "./server/client-address.js";
import type { TlsFiles } from "./server/single-port-listener.js";
import { defaultMaxConnections } from "./server/connection-cap.js";
import { NotifierConfigError, type NotifierConfig } from "./notify/notifier.js";
import { notifierConfigFromEnv } from "./config/notifier-config.js";
import { fromEnv, fromFlag, serveFlagOptions, settings, switchGiven } from "./config/settings.js";

export { notifierConfigFromEnv } from "./config/notifier-config.js";
export { flagOptions, fromFlag, settings, settingsTable } from "./config/settings.js";

/**
 * Settings of `booking-server serve`: each flag falls back to an environment
 * variable, then to a default. Every flag, variable and default is in
 * `settings` (src/config/settings.ts), which README.md's table renders; the
 * functions here read them only through it.
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
  /** pino level of the server's log (LOG_LEVEL). */
  logLevel: string;
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

/** The --db flag's value, else BOOKING_DB, else the default. */
export function dbPathFrom(flag: string | undefined, env: Env): string {
  return flag ?? fromEnv(env, settings.db) ?? settings.db.default;
}

export function parseServeConfig(args: string[], env: Env): ServeConfig {
  const { values } = parseArgs({ args, options: serveFlagOptions, strict: true });
  const flagOrEnv = (setting: { readonly flag: string; readonly env: string }) => fromFlag(values, setting) ?? fromEnv(env, setting);
  const portText = flagOrEnv(settings.port) ?? settings.port.default;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`invalid port: ${portText}`);
  return {
    port,
    host: flagOrEnv(settings.host) ?? settings.host.default,
    dbPath: dbPathFrom(fromFlag(values, settings.db), env),
    credentials: switchGiven(values, settings.insecureNoAuth) ? undefined : credentialsFrom(env),
    tls: tlsFrom(flagOrEnv(settings.tlsCert), flagOrEnv(settings.tlsKey), flagOrEnv(settings.tlsClientCa)),
    merchantAuth: merchantAuthFrom(env),
    autoDeclineAfterSec: autoDeclineAfterSecFrom(flagOrEnv(settings.autoDeclineAfterSec)),
    maxConnections: maxConnectionsFrom(flagOrEnv(settings.maxConnections)),
    notifier: notifierConfigFrom(env),
    createDatabase: switchGiven(values, settings.createDb) || fromEnv(env, settings.createDb) === "1",
    metrics: metricsExposureFrom(env),
    trustedProxies: trustedProxiesFrom(fromEnv(env, settings.trustedProxies)),
    logLevel: fromEnv(env, settings.logLevel) ?? settings.logLevel.default,
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
  const portText = fromEnv(env, settings.metricsPort);
  let listener: MetricsExposure["listener"];
  if (portText) {
    const port = Number(portText);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigError(`invalid METRICS_PORT: ${portText}`);
    listener = { port, host: fromEnv(env, settings.metricsHost) || settings.metricsHost.default };
  }
  const publicText = fromEnv(env, settings.metricsPublic);
  if (publicText !== undefined && publicText !== "" && publicText !== "0" && publicText !== "1") {
    throw new ConfigError(`METRICS_PUBLIC must be 1 (open /metrics on the serving port) or 0, got ${JSON.stringify(publicText)}`);
  }
  return { token: fromEnv(env, settings.metricsToken) || undefined, listener, public: publicText === "1" };
}

/** A setting that counts something (`what`: "connections"): a whole number above 0, or a ConfigError naming the variable. */
export function positiveCountFrom(text: string, variable: string, what: string): number {
  const count = Number(text);
  if (!Number.isSafeInteger(count) || count <= 0) {
    throw new ConfigError(`${variable} must be a positive number of ${what}, got ${JSON.stringify(text)}`);
  }
  return count;
}

function maxConnectionsFrom(text: string | undefined): number {
  return text === undefined ? defaultMaxConnections() : positiveCountFrom(text, "MAX_CONNECTIONS", "connections");
}

function autoDeclineAfterSecFrom(text: string | undefined): number {
  return positiveCountFrom(text ?? settings.autoDeclineAfterSec.default, "AUTO_DECLINE_AFTER_SEC", "seconds");
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
  const file = fromEnv(env, settings.merchantTokensFile);
  const adminToken = fromEnv(env, settings.adminToken) || undefined;
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
  const username = fromEnv(env, settings.authUsername);
  const passwordFile = fromEnv(env, settings.authPasswordFile);
  const password = passwordFile ? readFileSync(passwordFile, "utf8").trim() : fromEnv(env, settings.authPassword);
  if (username && password) credentials.push({ username, password });
  const credentialsFileName = fromEnv(env, settings.authCredentialsFile);
  if (credentialsFileName) credentials.push(...credentialsFile(credentialsFileName));
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
