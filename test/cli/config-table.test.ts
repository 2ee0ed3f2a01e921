/**
 * One configuration schema (src/config/settings.ts): README.md's table is its
 * rendering, row for row, and no module reads a variable the schema does not
 * hold. After changing a setting, write the table into README.md with
 *
 *   UPDATE_CONFIG_TABLE=1 npx jest test/cli/config-table.test.ts
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { defaultDecideWithinSec } from "../../src/booking/context";
import { parseServeConfig } from "../../src/config";
import { settingRow, settings, settingsTable, settingsTableHeader, type Setting } from "../../src/config/settings";
import { DEFAULT_NOTIFICATION_API_URL } from "../../src/notify/notifier";
import { createLogger } from "../../src/server/observability";

const repoRoot = join(__dirname, "..", "..");
const readmePath = join(repoRoot, "README.md");
const begin = "<!-- settings table: generated from src/config/settings.ts (UPDATE_CONFIG_TABLE=1 npx jest test/cli/config-table.test.ts) -->";
const end = "<!-- end of settings table -->";
const all: Setting[] = Object.values(settings);

/** The README's table, between the markers. */
function readmeTable(readme: string): string {
  const from = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md lacks the settings table markers:\n${begin}\n...\n${end}`);
  return readme.slice(from + begin.length, to).trim();
}

/** Each Markdown row's cells (the header and separator rows left out). */
function rows(table: string): string[][] {
  return table
    .split("\n")
    .slice(2)
    .map((line) => line.replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => cell.trim()));
}

if (process.env.UPDATE_CONFIG_TABLE === "1") {
  const readme = readFileSync(readmePath, "utf8");
  const current = readmeTable(readme);
  writeFileSync(readmePath, readme.replace(current, settingsTable()));
}

test("README.md's configuration table lists exactly the schema's settings, with the same flag, variable, default and doc", () => {
  const readme = readFileSync(readmePath, "utf8");
  const table = readmeTable(readme);
  expect(table.split("\n")[0]).toBe(`| ${settingsTableHeader.join(" | ")} |`);
  // Row by row first, so a difference names the setting; then the text, so the formatting is the generated one too.
  expect(rows(table)).toEqual(all.map((setting) => settingRow(setting).map((cell) => cell.trim())));
  expect(table).toBe(settingsTable());
});

test("every setting has a doc, at least a flag or a variable, a default or words for one, and no cell breaks the table", () => {
  for (const setting of all) {
    expect(setting.flag ?? setting.env).toBeTruthy();
    expect(setting.doc.trim()).not.toBe("");
    expect(setting.default !== undefined || setting.defaultDoc !== undefined).toBe(true);
    for (const cell of settingRow(setting)) expect(cell).not.toMatch(/[|\n]/);
  }
  const variables = all.flatMap((setting) => (setting.env ? [setting.env] : []));
  const flags = all.flatMap((setting) => (setting.flag ? [setting.flag] : []));
  expect(new Set(variables).size).toBe(variables.length);
  expect(new Set(flags).size).toBe(flags.length);
});

test("the schema's defaults are the ones the server runs with", () => {
  const config = parseServeConfig(["--insecure-no-auth"], {});
  expect(String(config.port)).toBe(settings.port.default);
  expect(config.host).toBe(settings.host.default);
  expect(config.dbPath).toBe(settings.db.default);
  expect(String(config.autoDeclineAfterSec)).toBe(settings.autoDeclineAfterSec.default);
  expect(config.notifier.baseUrl).toBe(settings.notificationApiUrl.default);
  expect(config.logLevel).toBe(settings.logLevel.default);
  expect(parseServeConfig(["--insecure-no-auth"], { METRICS_PORT: "9464" }).metrics.listener?.host).toBe(settings.metricsHost.default);
  // The modules' own defaults, for callers that pass none, agree with the schema.
  expect(String(defaultDecideWithinSec)).toBe(settings.autoDeclineAfterSec.default);
  expect(DEFAULT_NOTIFICATION_API_URL).toBe(settings.notificationApiUrl.default);
  expect(createLogger().level).toBe(settings.logLevel.default);
});

test("every flag of serve is in the schema, and only those", () => {
  const flagged = all.filter((setting) => setting.flag);
  for (const setting of flagged) {
    const args = setting.switch ? ["--insecure-no-auth", setting.flag!] : ["--insecure-no-auth", setting.flag!, "x"];
    // Parsing may refuse the value "x", but never the flag itself.
    try {
      parseServeConfig(args, {});
    } catch (error) {
      expect((error as { code?: string }).code).not.toBe("ERR_PARSE_ARGS_UNKNOWN_OPTION");
    }
  }
  expect(() => parseServeConfig(["--not-a-setting"], {})).toThrow(expect.objectContaining({ code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" }));
});

test("no module reads a variable by name except through the schema, and only the CLI touches process.env, to hand it over", () => {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) sources.push(path);
    }
  };
  walk(join(repoRoot, "src"));
  const offences: string[] = [];
  for (const path of sources) {
    const file = relative(repoRoot, path);
    readFileSync(path, "utf8")
      .split("\n")
      .forEach((line, index) => {
        const where = `${file}:${index + 1}: ${line.trim()}`;
        // A variable read by name (env.PORT, env["PORT"]) belongs in the schema and its readers, nowhere else.
        if (/\benv(\.[A-Z][A-Z0-9_]*\b|\[\s*["'`])/.test(line)) offences.push(where);
        // process.env only as an argument passed on, in the CLI.
        for (const use of line.matchAll(/process\.env\b(.?)/g)) {
          if (file !== join("src", "cli.ts") || !/[,)]/.test(use[1])) offences.push(where);
        }
      });
  }
  expect(offences).toEqual([]);
});
