/**
 * The host panel end to end in a real browser: Debian's chromium driven by
 * playwright-core against a real server (real SQLite file) that serves the
 * built panel (`npm run build` writes dist/panel) and MerchantService, with a
 * local stand-in for Google's Notification API. Google books over REST; the
 * merchant decides in the page; the stand-in must receive the PATCH.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { MerchantService } from "../../gen/es/partner/merchant/v1/merchant_service_pb";
import { GoogleStandIn } from "../support/google-stand-in";
import { newUser, slotJson, uniqueId, type Json } from "../support/rest-helpers";
import { futureStartSec, hour, rest, seedSlots, startTestServer, type TestServer } from "../support/test-server";
import {
  acceptedPatchesWithStatus,
  checkPrerequisites,
  containsText,
  hasAttribute,
  hasCount,
  hasText,
  hasValue,
  isFocused,
  isHidden,
  isVisible,
  lacksText,
  launchChromium,
  outputDir,
  panelDir,
  confirmWithKeyboard,
  reveal,
  signInToPanel,
  standInNotifier,
} from "./panel-browser";

jest.setTimeout(90_000);

const PARTNER = "20005678";
const ASYNCHRONOUS = 2;
const BISTRO = { merchantId: "panel-bistro", token: "token-of-the-bistro" };
const SALON = { merchantId: "panel-salon", token: "token-of-the-salon" };
/** Only used for the screenshots, so they show a tidy list. */
const TRATTORIA = { merchantId: "panel-trattoria", token: "token-of-the-trattoria" };
type Merchant = typeof BISTRO;

let google: GoogleStandIn;
let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  checkPrerequisites();
  google = new GoogleStandIn();
  await google.listen();
  server = await startTestServer({
    panelDir,
    merchantAuth: {
      merchantTokens: new Map([BISTRO, SALON, TRATTORIA].map((m) => [m.merchantId, m.token])),
      adminToken: "panel-admin",
    },
    notifier: standInNotifier(google, PARTNER),
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await google?.close();
});

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB", timezoneId: "UTC" });
  page = await context.newPage();
});

afterEach(async () => {
  await context.close();
});

let nextHour = 0;

/** Seeds an ASYNCHRONOUS dinner slot of its own and books it over Google's REST API. */
async function requestTable(
  merchant: Merchant,
  options: { partySize?: number; request?: string; user?: Json; startSec?: number } = {},
): Promise<string> {
  const startSec = options.startSec ?? futureStartSec + ++nextHour * hour;
  const partySize = options.partySize ?? 4;
  await seedSlots(server.store, [
    { merchantId: merchant.merchantId, serviceId: "dinner", startSec, durationSec: 2 * hour, partySize, spotsTotal: 1, confirmationMode: ASYNCHRONOUS },
  ]);
  const response = await rest(server, "CreateBooking", {
    idempotency_token: uniqueId("panel"),
    slot: slotJson({ merchantId: merchant.merchantId, serviceId: "dinner", startSec, durationSec: 2 * hour, partySize }),
    user_information: options.user ?? newUser(),
    additional_request: options.request ?? "",
  });
  expect(response.status).toBe(200);
  expect(response.body.booking?.status).toBe("PENDING_MERCHANT_CONFIRMATION");
  return response.body.booking.booking_id;
}

const signIn = (merchant: Merchant, token = merchant.token) => signInToPanel(page, server.baseUrl, merchant.merchantId, token);

// These requests are 30 days ahead: on a later day, whose group reveal() opens.
const card = (bookingId: string) => page.locator(`li.card[data-booking-id="${bookingId}"]`);
const row = (bookingId: string) => page.locator(`li.row[data-booking-id="${bookingId}"]`);

const patchWithStatus = (bookingId: string, status: string) => acceptedPatchesWithStatus(google, bookingId, status);

test("a request Google books appears by itself; Confirm (with its confirmation step) confirms it and Google hears it", async () => {
  await signIn(BISTRO);
  await hasText(page.locator("#who"), "Signed in as panel-bistro");
  await page.locator("#pending li.empty").waitFor();

  // Booked after the page loaded: the panel's polling must bring it in.
  const bookingId = await requestTable(BISTRO, { partySize: 4, request: "Window seat, please", user: { ...newUser(), given_name: "Grace", family_name: "Hopper" } });
  await reveal(card(bookingId));
  const text = await card(bookingId).innerText();
  expect(text).toContain("4 guests");
  expect(text).toContain("Grace Hopper");
  expect(text).toContain("dinner");
  expect(text).toContain("Window seat, please");
  expect(text).toMatch(/declines automatically in 23 h (5\d|4\d) min/);
  await containsText(page.locator("#notice"), "New request: Grace Hopper, 4 guests");

  await card(bookingId).getByRole("button", { name: /^Confirm/ }).click();
  const dialog = page.getByRole("dialog");
  await isVisible(dialog);
  await containsText(dialog, "Confirm this request?");
  expect(google.accepted(bookingId).filter((r) => r.body?.status === "CONFIRMED")).toHaveLength(0); // nothing before the step
  await dialog.getByRole("button", { name: "Yes, confirm" }).click();

  await hasAttribute(row(bookingId), "data-status", "CONFIRMED");
  await hasText(row(bookingId).locator(".badge"), "Confirmed");
  await hasCount(card(bookingId), 0);
  await containsText(page.locator("#notice"), "Confirmed: Grace Hopper");
  const [patch] = await patchWithStatus(bookingId, "CONFIRMED");
  expect(patch.path).toBe(`/v1alpha/notification/partners/${PARTNER}/bookings/${bookingId}`);
  expect(patch.query).toEqual({ updateMask: "status" });
});

test("Decline works with the keyboard alone, and Google hears DECLINED_BY_MERCHANT", async () => {
  const bookingId = await requestTable(BISTRO, { partySize: 2, request: "Allergic to nuts" });
  await signIn(BISTRO);
  await reveal(card(bookingId));

  await confirmWithKeyboard(page, card(bookingId).getByRole("button", { name: /^Decline/ }), "Decline this request?", "Yes, decline");

  await hasAttribute(row(bookingId), "data-status", "DECLINED_BY_MERCHANT");
  await hasText(row(bookingId).locator(".badge"), "Declined");
  await isFocused(row(bookingId)); // the keyboard user keeps their place
  await patchWithStatus(bookingId, "DECLINED_BY_MERCHANT");
});

test("Back in the confirmation step (or Escape) changes nothing", async () => {
  const bookingId = await requestTable(BISTRO);
  await signIn(BISTRO);
  await reveal(card(bookingId));
  await card(bookingId).getByRole("button", { name: /^Confirm/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Back" }).click();
  await card(bookingId).getByRole("button", { name: /^Decline/ }).click();
  await page.keyboard.press("Escape");
  await isHidden(page.getByRole("dialog"));
  await page.waitForTimeout(3500); // one more poll
  await hasAttribute(card(bookingId), "data-status", "PENDING_MERCHANT_CONFIRMATION");
  expect(google.accepted(bookingId).filter((r) => r.method === "PATCH")).toHaveLength(0);
});

test("another merchant's token sees none of the first merchant's bookings", async () => {
  const bistroBooking = await requestTable(BISTRO, { request: "Bistro only" });
  const salonBooking = await requestTable(SALON, { request: "Salon only" });
  await signIn(SALON);
  await reveal(card(salonBooking));
  await page.waitForTimeout(3500); // and after another poll too
  await hasCount(page.locator(`[data-booking-id="${bistroBooking}"]`), 0);
  await lacksText(page.locator("main"), "Bistro only");
  await hasCount(page.locator("li.card"), 1);

  // The salon's token with the bistro's id is refused in words, not shown anything.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(BISTRO, SALON.token);
  await hasText(page.getByRole("alert"), /not accepted|not for that merchant/);
  await isVisible(page.locator("#sign-in"));
  await hasCount(page.locator(`[data-booking-id="${bistroBooking}"]`), 0);
});

test("a wrong token is refused in words and the sign-in form comes back", async () => {
  await signIn(BISTRO, "not-the-token");
  await hasText(page.getByRole("alert"), "Your token was not accepted — sign in again.");
  await isVisible(page.locator("#sign-in"));
  await hasValue(page.getByLabel("Merchant id"), "panel-bistro");
  await isHidden(page.locator("#bookings"));
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  mkdirSync(outputDir, { recursive: true });
  await page.setViewportSize({ width: 375, height: 740 });
  await page.screenshot({ path: join(outputDir, "phone-wrong-token.png") });
});

test("a booking that changed meanwhile says so instead of failing silently", async () => {
  const bookingId = await requestTable(BISTRO, { user: { ...newUser(), given_name: "Alan", family_name: "Turing" } });
  await signIn(BISTRO);
  await reveal(card(bookingId));
  await card(bookingId).getByRole("button", { name: /^Decline/ }).click();
  await isVisible(page.getByRole("dialog"));

  // Meanwhile someone else (another device of the same restaurant) confirms it.
  const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
  await merchant.confirmBooking({ bookingId }, { headers: { authorization: `Bearer ${BISTRO.token}` } });

  await page.getByRole("dialog").getByRole("button", { name: "Yes, decline" }).click();
  await containsText(page.getByRole("alert"), "This booking changed meanwhile: it is now CONFIRMED.");
  await hasAttribute(row(bookingId), "data-status", "CONFIRMED");
  await containsText(row(bookingId), "This booking changed meanwhile: it is now CONFIRMED.");
  await patchWithStatus(bookingId, "CONFIRMED");
  expect(google.accepted(bookingId).filter((r) => r.body?.status === "DECLINED_BY_MERCHANT")).toHaveLength(0);
});

test("when the server cannot be reached the list stays and the page says so, then recovers", async () => {
  const bookingId = await requestTable(BISTRO);
  await signIn(BISTRO);
  await reveal(card(bookingId));
  await page.route("**/partner.merchant.v1.MerchantService/**", (route) => route.abort("connectionrefused"));
  await hasText(page.getByRole("alert"), "The booking server cannot be reached. Retrying…");
  await isVisible(card(bookingId));
  await page.unroute("**/partner.merchant.v1.MerchantService/**");
  await isHidden(page.locator("#problem"));
  await hasText(page.locator("#notice"), "Connected again.");
});

test("the sign-in lasts across a reload (sessionStorage) and Sign out ends it", async () => {
  await signIn(BISTRO);
  await hasText(page.locator("#who"), "Signed in as panel-bistro");
  await page.reload();
  await hasText(page.locator("#who"), "Signed in as panel-bistro");
  await page.getByRole("button", { name: "Sign out" }).click();
  await isVisible(page.locator("#sign-in"));
  await page.reload();
  await isVisible(page.locator("#sign-in"));
});

test("screenshots at desktop and phone width, with nothing wider than the phone", async () => {
  mkdirSync(outputDir, { recursive: true });
  const people = [
    { given_name: "Grace", family_name: "Hopper", request: "Window seat if possible, it's our anniversary", party: 2 },
    { given_name: "Alan", family_name: "Turing", request: "One guest uses a wheelchair", party: 4 },
    { given_name: "Ada", family_name: "Lovelace", request: "", party: 6 },
    { given_name: "Edsger", family_name: "Dijkstra", request: "", party: 3 },
  ];
  const ids: string[] = [];
  for (const person of people) {
    ids.push(
      await requestTable(TRATTORIA, {
        partySize: person.party,
        request: person.request,
        user: { ...newUser(), given_name: person.given_name, family_name: person.family_name },
      }),
    );
  }
  const merchant = createClient(MerchantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
  const asTrattoria = { headers: { authorization: `Bearer ${TRATTORIA.token}` } };
  await merchant.confirmBooking({ bookingId: ids[2] }, asTrattoria);
  await merchant.declineBooking({ bookingId: ids[3] }, asTrattoria);

  await signIn(TRATTORIA);
  await reveal(card(ids[1]));
  await reveal(row(ids[3]));
  await page.screenshot({ path: join(outputDir, "desktop.png"), fullPage: true });

  await page.setViewportSize({ width: 375, height: 740 });
  await page.waitForTimeout(100);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  await page.screenshot({ path: join(outputDir, "phone.png"), fullPage: true });
});
