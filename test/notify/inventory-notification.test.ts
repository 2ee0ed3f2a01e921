import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FeedError, importFeeds } from "../../src/inventory/feed-import.js";
import { Notifier, StaticTokenSource } from "../../src/notify/notifier.js";
import type { Store } from "../../src/store/repositories.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { GoogleStandIn } from "../support/google-stand-in";

/**
 * What a feed import tells Google: the import queues its real-time updates
 * in its final transaction, and the notifier delivers them to the Google
 * stand-in, which records what it receives.
 */

let dir: string;
let store: Store;
let google: GoogleStandIn;
let notifier: Notifier;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "inventory-rtu-"));
  store = openSqliteStore(join(dir, "booking.sqlite"));
  google = new GoogleStandIn();
  await google.listen();
  notifier = new Notifier({ store, partnerId: "p1", baseUrl: google.baseUrl, tokenSource: new StaticTokenSource("t") });
});

afterEach(async () => {
  await notifier.stop();
  await google.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function feed(content: unknown): string {
  const file = join(dir, `feed-${files++}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const start = Date.UTC(2027, 0, 15, 19) / 1000;
const iso = (sec: number) => new Date(sec * 1000).toISOString().replace(".000Z", "Z");

const merchants = (name = "Trattoria Uno") => feed({ merchant: [{ merchant_id: "m1", name, telephone: "+39 06 1234" }] });
const services = (priceMicros = "25000000") =>
  feed({
    service: [
      { merchant_id: "m1", service_id: "dinner", name: "Dinner", price: { price_micros: priceMicros, currency_code: "EUR" } },
      { merchant_id: "m1", service_id: "lunch", name: "Lunch" },
    ],
  });
const availability = (spotsOpen = 4) =>
  feed({
    availability: [
      { merchant_id: "m1", service_id: "dinner", start_sec: start, duration_sec: 5400, spots_total: 4, spots_open: spotsOpen, resources: { party_size: 2 } },
      { merchant_id: "m1", service_id: "dinner", start_sec: start + 3600, duration_sec: 5400, spots_total: 4, spots_open: 4, resources: { party_size: 2 } },
    ],
  });

/** Delivers until every queue is empty (each pass sends one entry per queue), and returns what Google received. */
async function deliverAll(): Promise<string[]> {
  const before = google.requests.length;
  while ((await notifier.deliverDue()).delivered > 0);
  return google.requests.slice(before).map((request) => `${request.method} ${request.url}`);
}

describe("real-time updates queued by a feed import", () => {
  test("when an import adds a merchant, its services and slots, then Google gets the merchant, then the services, then the availability", async () => {
    await importFeeds(store, [merchants(), services(), availability()]);

    const sent = await deliverAll();

    const inventory = "/v1alpha/inventory/partners/p1";
    expect(sent.filter((line) => !line.includes("availability:replace"))).toEqual([
      `POST ${inventory}/merchants?merchantId=m1`,
      `POST ${inventory}/merchants/m1/services?serviceId=dinner`,
      `POST ${inventory}/merchants/m1/services?serviceId=lunch`,
    ]);
    expect(sent.filter((line) => line.includes("availability:replace"))).toEqual([`POST ${inventory}/availability:replace`]);
    const merchant = google.requests.find((request) => request.url.endsWith("merchants?merchantId=m1"))!;
    const dinner = google.requests.find((request) => request.url.endsWith("serviceId=dinner"))!;
    expect(merchant.body).toEqual({ name: "partners/p1/merchants/m1", merchantName: "Trattoria Uno", telephone: "+39 06 1234" });
    expect(dinner.body).toEqual({
      name: "partners/p1/merchants/m1/services/dinner",
      serviceName: "Dinner",
      price: { priceMicros: "25000000", currencyCode: "EUR" },
    });
    const replace = google.requests.find((request) => request.url.endsWith("availability:replace"))!;
    expect(replace.body.extendedServiceAvailability.map((window: any) => [window.serviceId, window.startTimeRestrict])).toEqual([
      ["dinner", iso(start)],
      ["dinner", iso(start + 3600)],
    ]);
    expect(replace.body.extendedServiceAvailability[0].availability).toEqual([
      expect.objectContaining({ startTime: iso(start), duration: "5400s", spotsTotal: "4", spotsOpen: "4", resources: { partySize: "2" } }),
    ]);
  });

  test("when a re-import changes one price and one slot, then Google gets a patch of that field and the changed start time only", async () => {
    await importFeeds(store, [merchants(), services(), availability()]);
    await deliverAll();

    await importFeeds(store, [merchants(), services("27000000"), availability(1)]);
    const sent = await deliverAll();

    // Two queues (the merchant's inventory, the service's availability): sent side by side, in either order.
    expect(sent.sort()).toEqual([
      "PATCH /v1alpha/inventory/partners/p1/merchants/m1/services/dinner?updateMask=price",
      "POST /v1alpha/inventory/partners/p1/availability:replace",
    ]);
    const latest = google.requests.slice(-2);
    const patch = latest.find((request) => request.method === "PATCH")!;
    const replace = latest.find((request) => request.method === "POST")!;
    expect(patch.body.price).toEqual({ priceMicros: "27000000", currencyCode: "EUR" });
    expect(replace.body.extendedServiceAvailability).toHaveLength(1);
    expect(replace.body.extendedServiceAvailability[0]).toMatchObject({ startTimeRestrict: iso(start) });
    expect(replace.body.extendedServiceAvailability[0].availability[0]).toMatchObject({ spotsOpen: "1" });
  });

  test("when a merchant's feed record loses a field, then the patch names it in the mask and leaves it out of the body", async () => {
    await importFeeds(store, [merchants()]);
    await deliverAll();

    await importFeeds(store, [feed({ merchant: [{ merchant_id: "m1", name: "Trattoria Due" }] })]);
    const sent = await deliverAll();

    expect(sent).toEqual(["PATCH /v1alpha/inventory/partners/p1/merchants/m1?updateMask=merchantName%2Ctelephone"]);
    expect(google.requests.at(-1)!.body).toEqual({ name: "partners/p1/merchants/m1", merchantName: "Trattoria Due" });
  });

  test("when the same feeds are imported again, then nothing is queued", async () => {
    const files = [merchants(), services(), availability()];
    await importFeeds(store, files);
    await deliverAll();

    await importFeeds(store, files);

    expect(await store.read.outbox.depth(Math.floor(Date.now() / 1000))).toMatchObject({ pending: 0 });
    expect(await deliverAll()).toEqual([]);
  });

  test("when an import is refused, then nothing is queued either", async () => {
    const bad = feed({ availability: [{ merchant_id: "m1", service_id: "dinner", start_sec: "soon", duration_sec: 60 }] });

    await expect(importFeeds(store, [merchants(), services(), bad])).rejects.toBeInstanceOf(FeedError);

    expect(await store.read.outbox.depth(Math.floor(Date.now() / 1000))).toMatchObject({ pending: 0 });
  });

  test("when Google fails a service create once, then it is retried before anything else of that merchant", async () => {
    await importFeeds(store, [merchants(), services()]);
    let failed = false;
    google.policy = (request) => {
      if (!failed && request.url.includes("serviceId=dinner")) {
        failed = true;
        return { status: 503 };
      }
      return { status: 200 };
    };
    const retrying = new Notifier({ store, partnerId: "p1", baseUrl: google.baseUrl, tokenSource: new StaticTokenSource("t"), baseBackoffMs: 1, random: () => 0 });

    for (let pass = 0; pass < 6; pass++) await retrying.deliverDue();

    expect(google.requests.map((request) => `${request.method} ${request.url.replace("/v1alpha/inventory/partners/p1", "")} ${request.answer}`)).toEqual([
      "POST /merchants?merchantId=m1 200",
      "POST /merchants/m1/services?serviceId=dinner 503",
      "POST /merchants/m1/services?serviceId=dinner 200",
      "POST /merchants/m1/services?serviceId=lunch 200",
    ]);
  });

  test("when Google has the merchant already (409 to its create), then the notifier patches every field instead and the entry is delivered", async () => {
    await importFeeds(store, [merchants()]);
    google.policy = (request) => (request.method === "POST" ? { status: 409, body: '{"error":{"status":"ALREADY_EXISTS"}}' } : { status: 200 });

    const pass = await notifier.deliverDue();

    expect(pass).toEqual({ delivered: 1, retried: 0, dead: 0 });
    expect(google.requests.map((request) => `${request.method} ${request.url} ${request.answer}`)).toEqual([
      "POST /v1alpha/inventory/partners/p1/merchants?merchantId=m1 409",
      "PATCH /v1alpha/inventory/partners/p1/merchants/m1?updateMask=merchantName%2Ctelephone 200",
    ]);
    expect(google.requests[1].body).toEqual(google.requests[0].body);
  });

  test("when Google does not have the service a patch is for (404), then the notifier creates it instead", async () => {
    await importFeeds(store, [merchants(), services()]);
    await deliverAll();
    await importFeeds(store, [services("30000000")]);
    google.policy = (request) => (request.method === "PATCH" ? { status: 404 } : { status: 200 });

    const sent = await deliverAll();

    expect(sent).toEqual([
      "PATCH /v1alpha/inventory/partners/p1/merchants/m1/services/dinner?updateMask=price",
      "POST /v1alpha/inventory/partners/p1/merchants/m1/services?serviceId=dinner",
    ]);
    expect(google.requests.at(-1)!.body).toMatchObject({ serviceName: "Dinner", price: { priceMicros: "30000000" } });
  });

  test("when Google refuses the other operation too, then the entry is dead with its answer", async () => {
    await importFeeds(store, [merchants()]);
    google.policy = () => ({ status: 409 });

    expect(await notifier.deliverDue()).toEqual({ delivered: 0, retried: 0, dead: 1 });
    expect(google.requests).toHaveLength(2);
  });
});
