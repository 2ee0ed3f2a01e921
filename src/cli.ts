import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, credentialsFrom, dbPathFrom, parseServeConfig } from "./config.js";
import { FeedError, importFeeds } from "./inventory/feed-import.js";
import { systemClock } from "./clock.js";
import { Notifier } from "./notify/notifier.js";
import { PaymentConfigError, paymentProcessorFromEnv } from "./payments/processor-from-env.js";
import pino from "pino";
import { createLogger, Observability } from "./server/observability.js";
import { createBookingServer } from "./server/booking-server.js";
import { openSqliteStore } from "./store/sqlite-store.js";

const usage = `usage:
  booking-server serve  [--port N] [--host H] [--db FILE] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
                        [--auto-decline-after-sec N] [--insecure-no-auth]
  booking-server import [--db FILE] FEED.json...
  booking-server backup [--db FILE] DESTINATION   (a consistent copy, safe while serving)
  booking-server payments [--db FILE] BOOKING_ID  (what a booking paid, was refunded and kept)

Credentials come from BOOKING_AUTH_USERNAME and BOOKING_AUTH_PASSWORD (or BOOKING_AUTH_PASSWORD_FILE);
merchants' bearer tokens from MERCHANT_TOKENS_FILE and ADMIN_TOKEN.
See README.md for every setting.`;

async function serve(args: string[]): Promise<void> {
  const config = parseServeConfig(args, process.env);
  const store = openSqliteStore(config.dbPath);
  const payments = paymentProcessorFromEnv(process.env, config.dbPath);
  // Buffered, written off the request path (a synchronous write per call costs ~3% of CreateBooking);
  // flushed at shutdown, so only a crash can lose the last few lines.
  const logDestination = pino.destination({ dest: 1, sync: false });
  const logger = createLogger({ destination: logDestination });
  const observability = new Observability(logger, store, systemClock.nowSec);
  const notifier = new Notifier({
    store,
    ...config.notifier,
    log: (line) => logger.info({ component: "notifier" }, line),
    onFailure: (kind, reason) => observability.recordDeliveryFailure(kind, reason),
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
    metricsToken: process.env.METRICS_TOKEN || undefined,
    payments: payments.processor,
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

  const address = await server.listen(config.port, config.host);
  const scheme = config.tls ? "https" : "http";
  console.log(`booking-server listening on ${scheme}://${address.address}:${address.port} (database ${config.dbPath})`);
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
    console.log(`  host panel for merchants: ${scheme}://127.0.0.1:${address.port}/panel/`);
  }
  console.log(`  ${notifier.describe()}`);
  console.log(`  payments through ${payments.description}`);
  console.log(`  unanswered asynchronous requests are declined after ${config.autoDeclineAfterSec} s or at slot start`);
  if (config.credentials) console.log(`  accepts ${config.credentials.length} Basic credential(s); SIGHUP reloads them`);

  const stop = async (signal: string) => {
    console.log(`${signal}: finishing requests under way, then stopping`);
    // Whatever happens, the process is gone within the bound.
    setTimeout(() => {
      console.error("shutdown took too long: exiting");
      process.exit(1);
    }, shutdownBoundMs).unref();
    await server.close();
    store.close();
    logDestination.flushSync();
    console.log("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

/** Requests get 10 s to finish on shutdown (the server's grace); the process never takes longer than this. */
const shutdownBoundMs = 15_000;

/** What a booking paid, was refunded and kept, from its payment records. */
async function paymentsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { db: { type: "string" } }, allowPositionals: true });
  if (positionals.length !== 1) throw new ConfigError("payments needs exactly one booking id");
  const store = openSqliteStore(dbPathFrom(values.db, process.env));
  try {
    const records = store.payments.forBooking(positionals[0]);
    if (records.length === 0) return void console.log(`no payments recorded for booking ${positionals[0]}`);
    for (const record of records) {
      const micros = record.amountMicros;
      const amount = micros === null ? "" : `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, "0")} ${record.currency}`;
      console.log(`${record.operation.padEnd(22)} ${amount.padEnd(14)} ${record.state.padEnd(8)} ${record.transactionId ?? ""}`);
    }
  } finally {
    store.close();
  }
}

async function backupCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { db: { type: "string" } }, allowPositionals: true });
  if (positionals.length !== 1) throw new ConfigError("backup needs exactly one destination file");
  const [destination] = positionals;
  if (existsSync(destination)) throw new ConfigError(`${destination} exists already: choose a new file`);
  const dbPath = dbPathFrom(values.db, process.env);
  const store = openSqliteStore(dbPath);
  try {
    const started = Date.now();
    await store.backup(destination);
    console.log(`backed up ${dbPath} to ${destination} in ${Date.now() - started} ms`);
  } finally {
    store.close();
  }
}

/** The host panel `npm run build` writes next to the compiled server, if it was built. */
function builtPanelDir(): string | undefined {
  const dir = join(__dirname, "..", "panel");
  return existsSync(join(dir, "index.html")) ? dir : undefined;
}

async function importCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { db: { type: "string" } }, allowPositionals: true });
  if (positionals.length === 0) throw new ConfigError("import needs at least one feed file");
  const dbPath = dbPathFrom(values.db, process.env);
  const store = openSqliteStore(dbPath);
  try {
    const started = Date.now();
    const report = await importFeeds(store, positionals);
    const counts = (name: string, c: { inserted: number; updated: number; unchanged: number }) =>
      `${name}: ${c.inserted} new, ${c.updated} updated, ${c.unchanged} unchanged`;
    console.log(`imported ${report.files} feed file(s) into ${dbPath} in ${Date.now() - started} ms`);
    console.log(
      `  ${[
        counts("merchants", report.merchants),
        counts("services", report.services),
        counts("offers", report.offers),
        counts("slots", report.slots),
      ].join("\n  ")}`,
    );
  } finally {
    store.close();
  }
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  try {
    if (command === "serve") await serve(args);
    else if (command === "import") await importCommand(args);
    else if (command === "backup") await backupCommand(args);
    else if (command === "payments") await paymentsCommand(args);
    else {
      console.error(usage);
      process.exitCode = command === undefined || command === "help" || command === "--help" ? 0 : 2;
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof PaymentConfigError || error instanceof FeedError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`booking-server: ${(error as Error).message}`);
      process.exit(2);
    }
    throw error;
  }
}
