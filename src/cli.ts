import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, dbPathFrom, parseServeConfig } from "./config.js";
import { FeedError, importFeeds } from "./inventory/feed-import.js";
import { Notifier } from "./notify/notifier.js";
import { createBookingServer } from "./server/booking-server.js";
import { openSqliteStore } from "./store/sqlite-store.js";

const usage = `usage:
  booking-server serve  [--port N] [--host H] [--db FILE] [--tls-cert FILE --tls-key FILE] [--insecure-no-auth]
  booking-server import [--db FILE] FEED.json...

Credentials come from BOOKING_AUTH_USERNAME and BOOKING_AUTH_PASSWORD (or BOOKING_AUTH_PASSWORD_FILE);
merchants' bearer tokens from MERCHANT_TOKENS_FILE and ADMIN_TOKEN.
See README.md for every setting.`;

async function serve(args: string[]): Promise<void> {
  const config = parseServeConfig(args, process.env);
  const store = openSqliteStore(config.dbPath);
  const notifier = new Notifier({ store, ...config.notifier, log: (line) => console.log(`  notifier: ${line}`) });
  const server = createBookingServer({
    store,
    credentials: config.credentials,
    tls: config.tls,
    merchantAuth: config.merchantAuth,
    notifier,
    autoDeclineAfterSec: config.autoDeclineAfterSec,
    panelDir: builtPanelDir(),
  });
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
  console.log(`  unanswered asynchronous requests are declined after ${config.autoDeclineAfterSec} s or at slot start`);

  const stop = async (signal: string) => {
    console.log(`${signal}: shutting down`);
    await server.close();
    store.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
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
    else {
      console.error(usage);
      process.exitCode = command === undefined || command === "help" || command === "--help" ? 0 : 2;
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof FeedError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`booking-server: ${(error as Error).message}`);
      process.exit(2);
    }
    throw error;
  }
}
