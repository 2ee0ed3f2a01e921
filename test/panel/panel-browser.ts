/**
 * What the host panel's browser tests share: where the built panel and Debian's
 * chromium are, how chromium is started (never a browser download), retrying
 * checks on the page (playwright-core has no `expect` of its own), signing in,
 * and the notifier that tells the Google stand-in.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { Notifier, StaticTokenSource } from "../../src/notify/notifier";
import type { Store } from "../../src/store/repositories";
import type { GoogleStandIn, RecordedRequest } from "../support/google-stand-in";

export const repo = join(__dirname, "..", "..");
export const panelDir = join(repo, "dist", "panel");
export const outputDir = join(repo, "test-output", "panel");
export const chromiumPath = "/usr/bin/chromium";

/** Fails early, in words, when the panel is not built or chromium is missing. */
export function checkPrerequisites(): void {
  if (!existsSync(join(panelDir, "index.html"))) {
    throw new Error(`The host panel is not built (${panelDir}/index.html is missing): run \`npm run build\` first.`);
  }
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: run \`make browser\` (apt-get install -y chromium).`);
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
export const textOf = (locator: Locator) => locator.innerText({ timeout: 500 });
export const hasText = (locator: Locator, expected: string | RegExp) =>
  eventually(async () => void expect(await textOf(locator)).toMatch(typeof expected === "string" ? new RegExp(`^${escapeRegExp(expected)}$`) : expected));
export const containsText = (locator: Locator, expected: string) => eventually(async () => void expect(await textOf(locator)).toContain(expected));
export const lacksText = (locator: Locator, unexpected: string) => eventually(async () => void expect(await textOf(locator)).not.toContain(unexpected));
export const hasAttribute = (locator: Locator, name: string, value: string) =>
  eventually(async () => void expect(await locator.getAttribute(name, { timeout: 500 })).toBe(value));
export const hasCount = (locator: Locator, count: number) => eventually(async () => void expect(await locator.count()).toBe(count));
export const hasValue = (locator: Locator, value: string) => eventually(async () => void expect(await locator.inputValue({ timeout: 500 })).toBe(value));
export const isFocused = (locator: Locator) =>
  eventually(async () => void expect(await locator.evaluate((node) => node === document.activeElement, undefined, { timeout: 500 })).toBe(true));
export const isVisible = (locator: Locator) => locator.waitFor({ state: "visible", timeout: 10_000 });
export const isHidden = (locator: Locator) => locator.waitFor({ state: "hidden", timeout: 10_000 });

/**
 * Opens an action's confirmation step from the keyboard and accepts it: the
 * dialog asks `question`, focus starts on "Back" (Enter there would change
 * nothing), Tab reaches `accept`, Enter sends it.
 */
export async function confirmWithKeyboard(page: Page, action: Locator, question: string, accept: string): Promise<void> {
  await action.focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await containsText(dialog, question);
  await isFocused(dialog.getByRole("button", { name: "Back" }));
  await page.keyboard.press("Tab");
  await isFocused(dialog.getByRole("button", { name: accept }));
  await page.keyboard.press("Enter");
}

/** The server's notifier for startTestServer: it tells `google` as partner `partnerId`, retrying fast. */
export const standInNotifier = (google: GoogleStandIn, partnerId: string) => (store: Store) =>
  new Notifier({
    store,
    partnerId,
    baseUrl: google.baseUrl,
    tokenSource: new StaticTokenSource("google-token"),
    baseBackoffMs: 20,
    maxBackoffMs: 200,
    requestTimeoutMs: 1000,
    pollIntervalMs: 20,
  });

/** The status PATCHes Google accepted for a booking, once there is one with this status. */
export async function acceptedPatchesWithStatus(google: GoogleStandIn, bookingId: string, status: string): Promise<RecordedRequest[]> {
  await google.waitFor(
    () => google.accepted(bookingId).some((r) => r.method === "PATCH" && r.body?.status === status),
    10_000,
    `a PATCH of ${bookingId} with status ${status}`,
  );
  return google.accepted(bookingId).filter((r) => r.method === "PATCH" && r.body?.status === status);
}

/** Waits for a booking's card or row and opens the later day it is listed under (a collapsed <details>), as a host would. */
export async function reveal(item: Locator): Promise<void> {
  await item.waitFor({ state: "attached", timeout: 10_000 });
  await item.evaluate((node) => {
    const day = node.closest("details");
    if (day && !day.open) day.querySelector("summary")?.click();
  });
  await item.waitFor({ state: "visible", timeout: 10_000 });
}

/** Opens the panel at `baseUrl` and signs in as `merchantId` with `token`. */
export async function signInToPanel(page: Page, baseUrl: string, merchantId: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/panel/`);
  await page.getByLabel("Merchant id").fill(merchantId);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}
