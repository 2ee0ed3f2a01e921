import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { AddressInfo } from "node:net";
import { ConfigError, credentialsFrom, flagOptions, fromFlag, parseServeConfig, settings, type MetricsExposure } from "./config.js";
import { serveFlagOptions } from "./config/settings.js";
import { conformanceCommand } from "./conformance/command.js";
import { FeedError, importFeeds } from "./inventory/feed-import.js";
import { exportFeedsCommand, exportFeedsUsage } from "./inventory/export-feeds-command.js";
import { systemClock } from "./clock.js";
import { Notifier } from "./notify/notifier.js";
import { PaymentConfigError, paymentProcessorFromEnv } from "./payments/processor-from-env.js";
import pino from "pino";
import { createLogger, Observability } from "./server/observability.js";
import { createBookingServer } from "./server/booking-server.js";
import { listenForMetrics } from "./server/metrics-listener.js";
import { defaultConnectionLimits } from "./server/single-port-listener.js";
import { openStore, postgresBackupRefusal, storeLocationFrom } from "./store/open-store.js";
import { DatabaseInUseError } from "./store/sqlite/serving-lock.js";

const usage = `usage:
  booking-server serve  [--port N] [--host H] [--db FILE] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
                        [--auto-decline-after-sec N] [--max-connections N] [--insecure-no-auth] [--create-db]
  booking-server import [--db FILE] FEED.json...   (gzipped files too)
  ${exportFeedsUsage}
  booking-server backup [--db FILE] DESTINATION   (a consistent copy, safe while serving)
  booking-server payments [--db FILE] BOOKING_ID  (what a booking paid, was refunded and kept)
  booking-server conformance --url URL --credentials FILE --availability-feed FILE... [--service-feed FILE...]
                        (--all | TEST...) [--keep] [--report FILE]   (checks any v3 booking server as Google calls it)

Credentials come from BOOKING_AUTH_USERNAME and BOOKING_AUTH_PASSWORD (or BOOKING_AUTH_PASSWORD_FILE);
merchants' bearer tokens from MERCHANT_TOKENS_FILE and ADMIN_TOKEN.
See README.md for every setting.`;

async function serve(args: string[]): Promise<void> {
  const config = parseServeConfig(args, process.env);
  const location = storeLocationFrom(serveDbFlag(args), process.env);
  // Buffered, written off the request path (a synchronous write per call costs ~3% of CreateBooking);
  // flushed at shutdown, so only a crash can lose the last few lines.
  const logDestination = pino.destination({ dest: 1, sync: false });
  const logger = createLogger({ level: config.logLevel, destination: logDestination });
  // Checkpoint failures arrive from a worker thread, after `observability` exists.
  const store = await openStore(location, {
    command: "serve",
    createDatabase: config.createDatabase,
    onCheckpointError: (error) => observability.recordJobFailure("checkpoint", error),
    onUnitRerun: () => observability.recordStoreRerun(),
  });
  const payments = paymentProcessorFromEnv(process.env, store);
  const observability = new Observability(logger, store, systemClock.nowSec);
  const notifier = new Notifier({
    store,
    ...config.notifier,
    log: (line) => logger.info({ component: "notifier" }, line),
    onFailure: (kind, reason) => observability.recordDeliveryFailure(kind, reason),
    onTickError: (error) => observability.recordJobFailure("outbox", error),
  });
  const server = createBookingServer({
    store,
    credentials: config.credentials,
    tls: config.tls,
    merchantAuth: config.merchantAuth,
    notifier,
    autoDeclineAfterSec: config.autoDeclineAfterSec,
    panelDir: builtPanelDir(),
    observability,
    metricsToken: config.metrics.token,
    publicMetrics: config.metrics.public,
    payments: payments.processor,
    trustedProxies: config.trustedProxies,
    limits: { ...defaultConnectionLimits, maxConnections: config.maxConnections },
  });
  if (config.credentials) {
    process.on("SIGHUP", () => {
      try {
        const credentials = credentialsFrom(process.env);
        server.replaceCredentials(credentials);
        console.log(`SIGHUP: now accepting ${credentials.length} Basic credential(s)`);
      } catch (error) {
        console.error(`SIGHUP: credentials kept as they were: ${(error as Error).message}`);
      }
    });
  }

  const address = await server.listen(config.port, config.host).catch((error) => {
    throw listenError(error, config.host, config.port, "--port / PORT");
  });
  const metricsListener =
    config.metrics.listener &&
    (await listenForMetrics(observability, config.metrics.listener.port, config.metrics.listener.host).catch((error) => {
      throw listenError(error, config.metrics.listener!.host, config.metrics.listener!.port, "METRICS_PORT");
    }));
  const scheme = config.tls ? "https" : "http";
  console.log(`booking-server listening on ${scheme}://${address.address}:${address.port} (database ${location.describe})`);
  console.log("  serves Google's REST paths (/v3/<Method>), Connect, gRPC and gRPC-Web on this one port");
  if (!config.credentials) console.warn("  WARNING: --insecure-no-auth: no authentication on BookingService calls");
  if (config.merchantAuth) {
    console.log(
      `  serves MerchantService for ${config.merchantAuth.merchantTokens.size} merchant token(s)` +
        (config.merchantAuth.adminToken ? " and an admin token" : ""),
    );
  } else {
    console.log("  MerchantService is off (set MERCHANT_TOKENS_FILE and/or ADMIN_TOKEN to serve it)");
  }
  if (builtPanelDir() && config.merchantAuth) {
    console.log(`  host panel for merchants: ${scheme}://${urlHostFor(address.address)}:${address.port}/panel/`);
  }
  console.log(`  ${notifier.describe()}`);
  console.log(`  payments through ${payments.description}`);
  console.log(`  unanswered asynchronous requests are declined after ${config.autoDeclineAfterSec} s or at slot start`);
  if (config.credentials) console.log(`  accepts ${config.credentials.length} Basic credential(s); SIGHUP reloads them`);
  console.log(`  ${describeMetrics(config.metrics, metricsListener?.address)}`);
  if (config.trustedProxies) {
    console.log(`  client addresses from X-Forwarded-For / Forwarded of trusted proxies ${config.trustedProxies.entries.join(", ")}`);
  }

  const stop = async (signal: string) => {
    console.log(`${signal}: finishing requests under way, then stopping`);
    // Whatever happens, the process is gone within the bound.
    setTimeout(() => {
      console.error("shutdown took too long: exiting");
      process.exit(1);
    }, shutdownBoundMs).unref();
    await server.close();
    await store.close();
    logDestination.flushSync();
    console.log("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

/** serve's --db flag, if given (parseServeConfig has checked every flag by now). */
function serveDbFlag(args: string[]): string | undefined {
  return fromFlag(parseArgs({ args, options: serveFlagOptions, strict: true }).values, settings.db);
}

/** A listen() failure an operator can act on, in one sentence (a ConfigError: no stack trace). */
function listenError(error: NodeJS.ErrnoException, host: string, port: number, setting: string): Error {
  const where = `${host}:${port}`;
  if (error.code === "EADDRINUSE") return new ConfigError(`cannot listen on ${where}: another process is listening there; stop it or choose another port (${setting})`);
  if (error.code === "EACCES") return new ConfigError(`cannot listen on ${where}: not permitted (ports below 1024 need privileges); choose another port (${setting})`);
  if (error.code === "EADDRNOTAVAIL") return new ConfigError(`cannot listen on ${where}: ${host} is not an address of this machine`);
  return error;
}

function describeMetrics(metrics: MetricsExposure, listener: AddressInfo | undefined): string {
  const where = [
    metrics.token && "/metrics on this port with the METRICS_TOKEN bearer token",
    metrics.public && "/metrics open to anyone on this port (METRICS_PUBLIC=1)",
    listener && `/metrics on its own listener http://${listener.address}:${listener.port}/metrics`,
  ].filter(Boolean);
  return where.length > 0 ? `metrics: ${where.join("; ")}` : "metrics are not served (set METRICS_TOKEN, METRICS_PORT or METRICS_PUBLIC=1)";
}

/** Requests get 10 s to finish on shutdown (the server's grace); the process never takes longer than this. */
const shutdownBoundMs = 15_000;

/** What a booking paid, was refunded and kept, from its payment records. */
async function paymentsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: flagOptions([settings.db]), allowPositionals: true });
  if (positionals.length !== 1) throw new ConfigError("payments needs exactly one booking id");
  const store = await openStore(storeLocationFrom(fromFlag(values, settings.db), process.env), { command: "batch" });
  try {
    const records = await store.read.payments.forBooking(positionals[0]);
    if (records.length === 0) return void console.log(`no payments recorded for booking ${positionals[0]}`);
    for (const record of records) {
      const micros = record.amountMicros;
      const amount = micros === null ? "" : `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, "0")} ${record.currency}`;
      console.log(`${record.operation.padEnd(22)} ${amount.padEnd(14)} ${record.state.padEnd(8)} ${record.transactionId ?? ""}`);
    }
  } finally {
    await store.close();
  }
}

async function backupCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: flagOptions([settings.db]), allowPositionals: true });
  if (positionals.length !== 1) throw new ConfigError("backup needs exactly one destination file");
  const [destination] = positionals;
  if (existsSync(destination)) throw new ConfigError(`${destination} exists already: choose a new file`);
  const location = storeLocationFrom(fromFlag(values, settings.db), process.env);
  if (location.backend === "postgres") throw new ConfigError(postgresBackupRefusal);
  const store = await openStore(location, { command: "batch" });
  try {
    const started = Date.now();
    await store.backup(destination);
    console.log(`backed up ${location.describe} to ${destination} in ${Date.now() - started} ms`);
  } finally {
    await store.close();
  }
}

/**
 * How a browser on this machine reaches a server listening on `address`: the
 * address itself, in brackets for IPv6, except the wildcard addresses (every
 * interface), for which the loopback one is.
 */
export function urlHostFor(address: string): string {
  if (address === "0.0.0.0") return "127.0.0.1";
  if (address === "::") return "[::1]";
  return address.includes(":") ? `[${address}]` : address;
}

/** The host panel `npm run build` writes next to the compiled server, if it was built. */
function builtPanelDir(): string | undefined {
  const dir = join(__dirname, "..", "panel");
  return existsSync(join(dir, "index.html")) ? dir : undefined;
}

async function importCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: flagOptions([settings.db]), allowPositionals: true });
  if (positionals.length === 0) throw new ConfigError("import needs at least one feed file");
  const location = storeLocationFrom(fromFlag(values, settings.db), process.env);
  const store = await openStore(location, { command: "import" });
  try {
    const started = Date.now();
    let lockHeldMs = 0;
    const report = await importFeeds(store, positionals, { onApplied: (ms) => (lockHeldMs = ms) });
    const counts = (name: string, c: { inserted: number; updated: number; unchanged: number }) =>
      `${name}: ${c.inserted} new, ${c.updated} updated, ${c.unchanged} unchanged`;
    console.log(
      `imported ${report.files} feed file(s) into ${location.describe} in ${Date.now() - started} ms ` +
        `(the live tables were locked for the last ${Math.round(lockHeldMs)} ms)`,
    );
    console.log(
      `  ${[
        counts("merchants", report.merchants),
        counts("services", report.services),
        counts("offers", report.offers),
        counts("slots", report.slots),
      ].join("\n  ")}`,
    );
  } finally {
    await store.close();
  }
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  try {
    if (command === "serve") await serve(args);
    else if (command === "import") await importCommand(args);
    else if (command === "export-feeds") await exportFeedsCommand(args, process.env);
    else if (command === "backup") await backupCommand(args);
    else if (command === "payments") await paymentsCommand(args);
    else if (command === "conformance") process.exitCode = await conformanceCommand(args);
    else {
      console.error(usage);
      process.exitCode = command === undefined || command === "help" || command === "--help" ? 0 : 2;
    }
  } catch (error) {
    if (
      error instanceof ConfigError ||
      error instanceof PaymentConfigError ||
      error instanceof FeedError ||
      error instanceof DatabaseInUseError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`booking-server: ${(error as Error).message}`);
      process.exit(2);
    }
    throw error;
  }
}
