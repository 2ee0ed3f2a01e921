import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/server-process";

const day = 24 * 3600;

/** The demo inventory's merchant and service feeds (examples/feeds). */
export const demoFeeds = {
  merchants: join(repoRoot, "examples", "feeds", "merchants.json"),
  services: join(repoRoot, "examples", "feeds", "services.json"),
};

/**
 * The first `days` days of the demo availability feed (a restaurant with
 * synchronous and asynchronous tables, a salon with one spot per slot),
 * moved by whole days to start three days from now, so that the checker,
 * which books only slots two days ahead or later, finds them all whatever
 * the date. Written to `dir`; answers its path.
 */
export function writeDemoAvailability(dir: string, days = 3, nowSec = Math.floor(Date.now() / 1000)): string {
  const feed = JSON.parse(readFileSync(join(repoRoot, "examples", "feeds", "availability.json"), "utf8"));
  const records: Array<{ start_sec: number }> = feed.availability;
  const first = Math.min(...records.map((record) => record.start_sec));
  const shift = Math.ceil((nowSec + 3 * day - first) / day) * day;
  const availability = records
    .filter((record) => record.start_sec < first + days * day)
    .map((record) => ({ ...record, start_sec: record.start_sec + shift }));
  const file = join(dir, "availability.json");
  writeFileSync(file, JSON.stringify({ metadata: feed.metadata, availability }));
  return file;
}
