/**
 * "Mark no-show" in the host panel, end to end in Debian's chromium: the spa's
 * feeds give `spa-treatment-no-show-fee` a 25.00 USD no-show fee; Google books
 * it over REST with a card token (the sandbox processor keeps the card); once
 * the slot has started the merchant marks the guest as a no-show in the page,
 * the fee is charged on the kept card and Google hears NO_SHOW_PENALIZED.
 *
 * Time: the slot starts earlier today by the real clock, which is what the
 * browser's Date.now() sees, so the page lists it under "Tonight" and offers
 * "Mark no-show". The server runs on a manual clock set two hours before that
 * start, so the booking can be made at all; the test then moves it past the
 * start. While it is still before, the page offers the button (the browser
 * thinks the slot started) and the server refuses in words: that is the
 * clock-disagreement case.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { importFeeds } from "../../src/inventory/feed-import";
import { PaymentDeclinedError, type ChargeStoredRequest } from "../../src/payments/payment-processor";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { GoogleStandIn } from "../support/google-stand-in";
import { uniqueId } from "../support/rest-helpers";
import { hour, manualClock, rest, startTestServer, type TestServer } from "../support/test-server";
import {
  acceptedPatchesWithStatus,
  checkPrerequisites,
  containsText,
  hasAttribute,
  hasCount,
  hasText,
  isFocused,
  isVisible,
  launchChromium,
  outputDir,
  panelDir,
  repo,
  confirmWithKeyboard,
  signInToPanel,
  standInNotifier,
} from "./panel-browser";

jest.setTimeout(90_000);

const PARTNER = "20005678";
const SPA = { merchantId: "demo-spa", token: "token-of-the-spa" };
const SERVICE = "spa-treatment-no-show-fee";

/** The sandbox, except that it refuses the stored-card charge for the bookings listed (a card that no longer pays). */
class SandboxWithRefusals extends SandboxProcessor {
  readonly refuse = new Set<string>();
  override async chargeStored(request: ChargeStoredRequest) {
    if (this.refuse.has(request.bookingId)) throw new PaymentDeclinedError("card_declined", "the card was declined");
    return super.chargeStored(request);
  }
}

// A slot that started earlier in tonight's service day (UTC, the browser's time zone here, the
// merchant's feed naming none; the day turns at 04:00), at most half an hour ago.
const realNowSec = Math.floor(Date.now() / 1000);
const startOfTodaySec = Math.floor((realNowSec - 4 * hour) / 86_400) * 86_400 + 4 * hour;
const slotStartSec = Math.max(startOfTodaySec, Math.floor((realNowSec - 30 * 60) / 60) * 60);
const clock = manualClock(slotStartSec - 2 * hour);

let google: GoogleStandIn;
let server: TestServer;
let sandbox: SandboxWithRefusals;
let feedDir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  checkPrerequisites();
  google = new GoogleStandIn();
  await google.listen();
  server = await startTestServer({
    panelDir,
    clock,
    merchantAuth: { merchantTokens: new Map([[SPA.merchantId, SPA.token]]), adminToken: "panel-admin" },
    payments: (store) => (sandbox = new SandboxWithRefusals(store)),
    notifier: standInNotifier(google, PARTNER),
  });
  // The spa's merchant and services (with the no-show fee) as shipped; availability of our own, today.
  feedDir = mkdtempSync(join(tmpdir(), "panel-no-show-feeds-"));
  const spa = join(repo, "examples", "feeds", "spa");
  copyFileSync(join(spa, "merchants.json"), join(feedDir, "merchants.json"));
  copyFileSync(join(spa, "services.json"), join(feedDir, "services.json"));
  writeFileSync(
    join(feedDir, "availability.json"),
    JSON.stringify({
      metadata: { processing_instruction: "PROCESS_AS_COMPLETE", shard_number: 0, total_shards: 1, nonce: "panel-no-show", generation_timestamp: slotStartSec - 3 * hour },
      availability: [
        { merchant_id: SPA.merchantId, service_id: SERVICE, start_sec: slotStartSec, duration_sec: 3600, spots_total: 4, spots_open: 4, confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS" },
      ],
    }),
  );
  await importFeeds(server.store, ["merchants.json", "services.json", "availability.json"].map((f) => join(feedDir, f)));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await google?.close();
  if (feedDir) rmSync(feedDir, { recursive: true, force: true });
});

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US", timezoneId: "UTC" });
  page = await context.newPage();
});

afterEach(async () => {
  await context.close();
});

/** Books the spa treatment over Google's REST API with a card token (before the slot, by the server's clock). */
async function bookTreatment(givenName: string, familyName: string): Promise<string> {
  const response = await rest(server, "CreateBooking", {
    idempotency_token: uniqueId("no-show"),
    slot: { merchant_id: SPA.merchantId, service_id: SERVICE, start_sec: String(slotStartSec), duration_sec: "3600" },
    user_information: { user_id: uniqueId("user"), given_name: givenName, family_name: familyName, telephone: "+1 415 555 0101", email: `${uniqueId("u")}@example.com` },
    payment_information: { payment_processed_by: "PROCESSED_BY_PARTNER" },
    payment_processing_parameters: { unparsed_payment_method_token: '{"id":"tok_visa"}' },
  });
  expect(response.status).toBe(200);
  expect(response.body.booking?.status).toBe("CONFIRMED");
  expect(response.body.booking.payment_information?.no_show_fee?.fee).toEqual({ price_micros: "25000000", currency_code: "USD" });
  return response.body.booking.booking_id;
}

const signIn = () => signInToPanel(page, server.baseUrl, SPA.merchantId, SPA.token);

const row = (bookingId: string) => page.locator(`#today li.row[data-booking-id="${bookingId}"]`);
const noShowButton = (bookingId: string) => row(bookingId).getByRole("button", { name: /^Mark .* as a no-show/ });

const patchWithStatus = (bookingId: string, status: string) => acceptedPatchesWithStatus(google, bookingId, status);

// In order: the first runs while the server's clock is still before the slot.
let charged: string;
let refused: string;

test("before the start by the server's clock, the server's refusal is said in words and nothing is charged", async () => {
  charged = await bookTreatment("Grace", "Hopper");
  refused = await bookTreatment("Alan", "Turing");
  await signIn();
  // Started earlier tonight: listed under Tonight, with the button and the fee.
  await isVisible(row(charged));
  await containsText(row(charged), "No-show fee: 25.00 USD");
  await noShowButton(charged).click();
  const dialog = page.getByRole("dialog");
  await containsText(dialog, "Charge the no-show fee of 25.00 USD?");
  await dialog.getByRole("button", { name: "Yes, mark no-show" }).click();
  await containsText(page.getByRole("alert"), "This booking cannot be marked as a no-show yet:");
  await containsText(page.getByRole("alert"), "has not started yet");
  await hasAttribute(row(charged), "data-status", "CONFIRMED");
  expect((await sandbox.ledgerFor(charged)).map((e) => e.operation)).toEqual(["store_card"]);
});

test("Mark no-show (with its confirmation step) charges the fee on the kept card and Google hears NO_SHOW_PENALIZED", async () => {
  clock.advance(2 * hour + 60); // the slot has started for the server too
  await signIn();
  await isVisible(noShowButton(charged));
  await noShowButton(charged).click();
  const dialog = page.getByRole("dialog");
  await isVisible(dialog);
  await containsText(dialog, "Charge the no-show fee of 25.00 USD?");
  await containsText(dialog, "Grace Hopper");
  expect((await sandbox.ledgerFor(charged)).map((e) => e.operation)).toEqual(["store_card"]); // nothing before the step
  await dialog.getByRole("button", { name: "Yes, mark no-show" }).click();

  await hasAttribute(row(charged), "data-status", "NO_SHOW_PENALIZED");
  await hasText(row(charged).locator(".badge"), "No-show (fee charged)");
  await hasCount(noShowButton(charged), 0);
  await containsText(page.locator("#notice"), "Marked as a no-show: Grace Hopper");
  await containsText(page.locator("#notice"), "The fee of 25.00 USD was charged.");
  const ledger = await sandbox.ledgerFor(charged);
  expect(ledger.map((e) => e.operation)).toEqual(["store_card", "charge_stored"]);
  expect(ledger[1].amount).toEqual({ micros: 25_000_000n, currency: "USD" });
  await patchWithStatus(charged, "NO_SHOW_PENALIZED");
});

test("at phone width, with the keyboard alone; a card that refuses the fee leaves a plain No-show and says why", async () => {
  sandbox.refuse.add(refused);
  await signIn();
  await isVisible(noShowButton(refused));
  mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: join(outputDir, "no-show-desktop.png"), fullPage: true });
  await page.setViewportSize({ width: 375, height: 740 });
  await page.waitForTimeout(100);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  await page.screenshot({ path: join(outputDir, "no-show-phone.png"), fullPage: true });

  await confirmWithKeyboard(page, noShowButton(refused), "Charge the no-show fee of 25.00 USD?", "Yes, mark no-show");

  await hasAttribute(row(refused), "data-status", "NO_SHOW");
  await hasText(row(refused).locator(".badge"), "No-show");
  await containsText(row(refused), "The no-show fee of 25.00 USD could not be charged: the card was declined.");
  await containsText(page.locator("#notice"), "Marked as a no-show: Alan Turing");
  await isFocused(row(refused)); // the keyboard user keeps their place
  expect((await sandbox.ledgerFor(refused)).map((e) => e.operation)).toEqual(["store_card"]);
  await patchWithStatus(refused, "NO_SHOW");
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  await page.screenshot({ path: join(outputDir, "no-show-phone-fee-refused.png"), fullPage: true });
});
