import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { conformanceCommand } from "../../src/conformance/command";
import { conformanceTests } from "../../src/conformance/conformance-tests";
import { ConfigError } from "../../src/config";

/** What `booking-server conformance` says to arguments it cannot run with, before it sends any request. */

let dir: string;
let credentials: string;
const lines: string[] = [];
const io = { write: (line: string) => lines.push(line), clock: { nowSec: () => 1_900_000_000 } };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "conformance-args-"));
  credentials = join(dir, "credentials");
  writeFileSync(credentials, "google:secret\n");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = () => ["--url", "http://127.0.0.1:9", "--credentials", credentials, "--availability-feed", join(dir, "feed.json")];

test("when --help is given, then it prints every test and the default report file, and exits 0", async () => {
  expect(await conformanceCommand(["--help"], io)).toBe(0);
  const help = lines.join("\n");
  for (const test of conformanceTests) expect(help).toContain(`  ${test.name} `);
  expect(help).toContain("(default ./conformance-report.json)");
});

test("when a test name is unknown, then it is refused naming the tests there are", async () => {
  await expect(conformanceCommand([...base(), "bookings"], io)).rejects.toThrow(
    new ConfigError(`no such test: bookings (the tests are ${conformanceTests.map((test) => test.name).join(", ")})`),
  );
});

test("when neither --all nor a test name is given, then it is refused", async () => {
  await expect(conformanceCommand(base(), io)).rejects.toThrow(/^name the tests to run, or --all: health, /);
});

test("when the credentials file is not user:password, then it is refused naming the file", async () => {
  writeFileSync(join(dir, "bad"), "just-a-password\n");
  const args = ["--url", "http://127.0.0.1:9", "--credentials", join(dir, "bad"), "--availability-feed", "x", "--all"];
  await expect(conformanceCommand(args, io)).rejects.toThrow(`--credentials ${join(dir, "bad")} must hold one line "user:password"`);
});

test("when --url is not a URL, then it is refused", async () => {
  await expect(conformanceCommand(["--url", "localhost:8080", ...base().slice(2), "--all"], io)).rejects.toThrow(/--url must be http:\/\/ or https:\/\//);
});
