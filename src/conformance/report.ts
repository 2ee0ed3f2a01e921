import { writeFile } from "node:fs/promises";
import type { CheckResult } from "./check.js";
import type { RunResult } from "./runner.js";

/** Where the JSON report goes unless `--report` says otherwise (in the current directory). */
export const defaultReportFile = "conformance-report.json";

/** What the report says about the run besides its results. */
export interface ReportHeader {
  url: string;
  availabilityFeeds: string[];
  serviceFeeds: string[];
  tests: string[];
  startedAtSec: number;
  finishedAtSec: number;
}

/**
 * The JSON report: every check with its outcome and reason, and for each
 * failed check every request it sent and every answer (status, headers,
 * body) exactly as received, so a partner can replay them. The Basic
 * password is never written (the request headers name the user only).
 */
export function conformanceReport(header: ReportHeader, run: RunResult) {
  const count = (outcome: CheckResult["outcome"]) => run.results.filter((result) => result.outcome === outcome).length;
  return {
    url: header.url,
    availability_feeds: header.availabilityFeeds,
    service_feeds: header.serviceFeeds,
    tests: header.tests,
    started_at: new Date(header.startedAtSec * 1000).toISOString(),
    finished_at: new Date(header.finishedAtSec * 1000).toISOString(),
    summary: { passed: count("pass"), failed: count("fail"), skipped: count("skip") },
    checks: run.results.map((result) => ({
      name: result.name,
      outcome: result.outcome,
      reason: result.reason,
      ...(result.outcome === "fail" ? { exchanges: result.exchanges.map(exchangeJson) } : {}),
    })),
    bookings: { made: run.bookings.made, left_standing: run.bookings.standing },
  };
}

function exchangeJson(exchange: CheckResult["exchanges"][number]) {
  return {
    request: exchange.request,
    ...(exchange.response ? { response: exchange.response } : {}),
    ...(exchange.error ? { error: exchange.error } : {}),
    duration_ms: exchange.durationMs,
  };
}

export async function writeReport(file: string, report: ReturnType<typeof conformanceReport>): Promise<void> {
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}
