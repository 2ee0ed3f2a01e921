import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { systemClock, type Clock } from "../clock.js";
import { ConfigError } from "../config.js";
import { conformanceTests } from "./conformance-tests.js";
import { loadFeedSlots } from "./feed-slots.js";
import { conformanceReport, defaultReportFile, writeReport } from "./report.js";
import { RestClient, type Credentials } from "./rest-client.js";
import { runConformance } from "./runner.js";

/** Longest wait for one answer; Google's own thresholds are 1.5 s (BAL) to 5 s (CheckAvailability). */
const answerTimeoutMs = 10_000;

export const conformanceUsage = `usage: booking-server conformance --url URL --credentials FILE --availability-feed FILE...
                                 [--service-feed FILE...] (--all | TEST...) [--keep] [--report FILE]

Checks a Maps Booking API v3 booking server (any implementation) the way Google calls it:
REST, HTTP Basic, snake_case JSON, int64 as strings, enums by name.

  --url URL                 the server's base URL, as entered in the Partner Portal (…/v3/<Method> is added)
  --credentials FILE        Google's Basic credentials for it: one line "user:password"
  --availability-feed FILE  the availability feed the server's inventory comes from (Google's feed JSON;
                            repeat the flag for each shard); only slots it lists are booked, starting
                            48 h from now or later, without payment terms
  --service-feed FILE       the service feed too (optional, repeatable): slots of services with payment
                            terms (prepayment, deposit, no-show fee, card required) are not booked either
  --all                     run every test (or name the tests to run)
  --keep                    leave the bookings made in place (they are cancelled at the end otherwise)
  --report FILE             JSON report: every check, with each request and answer of the failed ones
                            (default ./${defaultReportFile})

Tests:
${conformanceTests.map((test) => `  ${test.name.padEnd(20)} ${test.summary}`).join("\n")}

Prints one line per check and "N passed, N failed"; exits 1 when a check failed.
See docs/conformance.md.`;

export interface ConformanceIo {
  write(line: string): void;
  clock: Clock;
}

/**
 * `booking-server conformance ...`: resolves with the exit code (0 when no
 * check failed, 1 otherwise); throws a `ConfigError` (or the feed's
 * `FeedError`) for arguments it cannot run with.
 */
export async function conformanceCommand(args: string[], io: ConformanceIo = { write: (line) => console.log(line), clock: systemClock }): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      credentials: { type: "string" },
      "availability-feed": { type: "string", multiple: true },
      "service-feed": { type: "string", multiple: true, default: [] },
      all: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      report: { type: "string", default: defaultReportFile },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    io.write(conformanceUsage);
    return 0;
  }
  const url = baseUrl(required(values.url, "--url"));
  const credentials = readCredentials(required(values.credentials, "--credentials"));
  const feeds = values["availability-feed"] ?? [];
  if (feeds.length === 0) throw missing("--availability-feed");
  const tests = selectTests(values.all, positionals);
  const slots = await loadFeedSlots(feeds, values["service-feed"]);

  const startedAtSec = io.clock.nowSec();
  io.write(`checking ${url} against ${slots.length} slot(s) of ${feeds.join(", ")}: ${tests.map((test) => test.name).join(", ")}`);
  const client = new RestClient({ baseUrl: url, credentials, timeoutMs: answerTimeoutMs });
  const run = await runConformance({ client, slots, tests, keep: values.keep, clock: io.clock, write: io.write });
  const header = {
    url,
    availabilityFeeds: feeds,
    serviceFeeds: values["service-feed"],
    tests: tests.map((test) => test.name),
    startedAtSec,
    finishedAtSec: io.clock.nowSec(),
  };
  await writeReport(values.report, conformanceReport(header, run));
  const failed = run.results.filter((result) => result.outcome === "fail").length;
  io.write(`report: ${values.report}${failed > 0 ? " (each failed check's requests and answers)" : ""}`);
  return failed > 0 ? 1 : 0;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw missing(flag);
  return value;
}

function missing(flag: string): ConfigError {
  return new ConfigError(`conformance needs ${flag} (see booking-server conformance --help)`);
}

function baseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--url ${JSON.stringify(text)} is not a URL (e.g. https://booking.example.com)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`--url must be http:// or https://, got ${url.protocol}`);
  return text;
}

/** The first line of the file, `user:password` (the password may hold colons). */
function readCredentials(file: string): Credentials {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read --credentials ${file}: ${(error as Error).message}`);
  }
  const line = text.split(/\r?\n/).find((candidate) => candidate.trim() !== "")?.trim() ?? "";
  const colon = line.indexOf(":");
  if (colon <= 0 || colon === line.length - 1) throw new ConfigError(`--credentials ${file} must hold one line "user:password"`);
  return { username: line.slice(0, colon), password: line.slice(colon + 1) };
}

function selectTests(all: boolean, names: string[]) {
  if (all && names.length > 0) throw new ConfigError("give either --all or test names, not both");
  if (all) return conformanceTests;
  if (names.length === 0) throw new ConfigError(`name the tests to run, or --all: ${conformanceTests.map((test) => test.name).join(", ")}`);
  const unknown = names.filter((name) => !conformanceTests.some((test) => test.name === name));
  if (unknown.length > 0) {
    throw new ConfigError(`no such test: ${unknown.join(", ")} (the tests are ${conformanceTests.map((test) => test.name).join(", ")})`);
  }
  return conformanceTests.filter((test) => names.includes(test.name));
}
