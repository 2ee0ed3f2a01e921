import { existsSync, mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, dbPathFrom, flagOptions, fromFlag, settings } from "../config.js";
import { batchBusyTimeoutMs } from "../store/database.js";
import { openSqliteStore } from "../store/sqlite-store.js";
import { exportFeeds } from "./feed-export.js";

/** The usage line of `booking-server export-feeds`. */
export const exportFeedsUsage = "booking-server export-feeds --out DIR [--gzip] [--db FILE]   (the feeds Google ingests, from the live inventory)";

/**
 * `booking-server export-feeds --out DIR [--gzip] [--db FILE]`: writes the
 * merchant, service and availability feeds of the database's live inventory
 * into DIR (created if missing; see feed-export.ts), safe while a server
 * serves the same database, and prints each file with its size.
 */
export async function exportFeedsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...flagOptions([settings.db]), out: { type: "string" }, gzip: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new ConfigError(`export-feeds takes no arguments besides its flags, got ${positionals.join(" ")}`);
  const outDir = values.out as string | undefined;
  if (!outDir) throw new ConfigError("export-feeds needs --out DIR: the directory the feed files are written to");
  const dbPath = dbPathFrom(fromFlag(values, settings.db), process.env);
  if (!existsSync(dbPath)) throw new ConfigError(`no database at ${dbPath}: point --db or BOOKING_DB at the existing file`);
  mkdirSync(outDir, { recursive: true });
  const store = openSqliteStore(dbPath, { busyTimeoutMs: batchBusyTimeoutMs });
  try {
    const started = Date.now();
    const report = await exportFeeds(store, outDir, { gzip: values.gzip === true });
    console.log(
      `exported ${report.merchants} merchant(s), ${report.services} service(s) and ${report.slots} slot(s) ` +
        `from ${dbPath} in ${Date.now() - started} ms:`,
    );
    for (const file of report.files) console.log(`  ${file.path}  ${file.records} record(s), ${file.bytes} bytes`);
  } finally {
    await store.close();
  }
}
