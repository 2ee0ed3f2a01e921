import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { repoRoot } from "../support/server-process";

const day = 24 * 3600;
const feedsDir = join(repoRoot, "examples", "feeds");

/** The demo inventory (examples/feeds): a restaurant with synchronous and asynchronous tables, a salon with one spot per slot. */
export const demoFeeds = {
  merchants: join(feedsDir, "merchants.json"),
  services: join(feedsDir, "services.json"),
  availability: join(feedsDir, "availability.json"),
};

/** The payments demo (examples/feeds/spa): services that take prepayments, deposits, no-show fees or a card, and some that take nothing. */
export const spaFeeds = {
  merchants: join(feedsDir, "spa", "merchants.json"),
  services: join(feedsDir, "spa", "services.json"),
  availability: join(feedsDir, "spa", "availability.json"),
};

/**
 * The first `days` days of the availability feed `source`, moved by whole
 * days to start three days from now, so that the checker, which books only
 * slots two days ahead or later, finds them all whatever the date. Written
 * to `dir` (named after the source's directory); answers its path.
 */
export function writeShiftedAvailability(dir: string, source: string, days = 3): string {
  const nowSec = Math.floor(Date.now() / 1000);
  const feed = JSON.parse(readFileSync(source, "utf8"));
  const records: Array<{ start_sec: number }> = feed.availability;
  const first = Math.min(...records.map((record) => record.start_sec));
  const shift = Math.ceil((nowSec + 3 * day - first) / day) * day;
  const availability = records
    .filter((record) => record.start_sec < first + days * day)
    .map((record) => ({ ...record, start_sec: record.start_sec + shift }));
  const file = join(dir, `${basename(dirname(source))}-availability.json`);
  writeFileSync(file, JSON.stringify({ metadata: feed.metadata, availability }));
  return file;
}
