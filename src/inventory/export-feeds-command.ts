import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, flagOptions, fromFlag, settings } from "../config.js";
import { openStore, storeLocationFrom } from "../store/open-store.js";
import { exportFeeds } from "./feed-export.js";
import { sftpTarget, uploadFeeds, UploadError } from "./feed-upload.js";

/** The usage line of `booking-server export-feeds`. */
export const exportFeedsUsage = `booking-server export-feeds --out DIR [--gzip] [--db FILE]   (the feeds Google ingests, from the live inventory)
                        [--upload sftp://user@host[:port]/dir --identity KEY_FILE [--host-key SHA256:...]]`;

/**
 * `booking-server export-feeds --out DIR [--gzip] [--db FILE]`: writes the
 * merchant, service and availability feeds of the database's live inventory
 * into DIR (created if missing; see feed-export.ts), safe while a server
 * serves the same database, and prints each file with its size. With
 * `--upload sftp://user@host[:port]/dir --identity KEY_FILE`, then puts them
 * on that SFTP server (Google's dropbox; see feed-upload.ts), checking its
 * host key against `--host-key` when given. `env` is the environment the
 * CLI hands over (BOOKING_DB, BOOKING_DATABASE_URL).
 */
export async function exportFeedsCommand(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...flagOptions([settings.db]),
      out: { type: "string" },
      gzip: { type: "boolean", default: false },
      upload: { type: "string" },
      identity: { type: "string" },
      "host-key": { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new ConfigError(`export-feeds takes no arguments besides its flags, got ${positionals.join(" ")}`);
  const outDir = values.out as string | undefined;
  if (!outDir) throw new ConfigError("export-feeds needs --out DIR: the directory the feed files are written to");
  const upload = configFrom(() => (values.upload === undefined ? undefined : sftpTarget(values.upload as string)));
  const identityFile = values.identity as string | undefined;
  if (upload && !identityFile) throw new ConfigError("--upload needs --identity KEY_FILE: the private key the SFTP server knows");
  const location = storeLocationFrom(fromFlag(values, settings.db), env);
  const store = await openStore(location, { command: "batch" });
  try {
    mkdirSync(outDir, { recursive: true });
    const started = Date.now();
    const report = await exportFeeds(store, outDir, { gzip: values.gzip === true });
    console.log(
      `exported ${report.merchants} merchant(s), ${report.services} service(s) and ${report.slots} slot(s) ` +
        `from ${location.describe} in ${Date.now() - started} ms:`,
    );
    for (const file of report.files) console.log(`  ${file.path}  ${file.records} record(s), ${file.bytes} bytes`);
    if (upload) {
      const files = report.files.map((file) => file.path);
      const hostKeySha256 = values["host-key"] as string | undefined;
      const { hostKey } = await configFrom(() => uploadFeeds(files, upload, { identityFile: identityFile!, hostKeySha256 }));
      console.log(`uploaded ${files.length} file(s) to ${upload.username}@${upload.host}:${upload.port}${upload.dir.startsWith("/") ? "" : "~/"}${upload.dir} (host key ${hostKey})`);
    }
  } finally {
    await store.close();
  }
}

/** Runs `work`, turning an `UploadError` (the target or the upload, in one sentence) into the CLI's `ConfigError`. */
function configFrom<T>(work: () => T): T {
  const rethrow = (error: unknown): never => {
    throw error instanceof UploadError ? new ConfigError(error.message) : error;
  };
  try {
    const result = work();
    return (result instanceof Promise ? result.catch(rethrow) : result) as T;
  } catch (error) {
    return rethrow(error);
  }
}
