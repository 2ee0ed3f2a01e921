#!/usr/bin/env node
/*
 * Writes the demo inventory feeds next to this script:
 *
 *   merchants.json     2 merchants: "demo-restaurant" (Trattoria Demo) and "demo-salon" (Salon Demo)
 *   services.json      "dinner" at the restaurant (no price), "haircut" (45 min, 35 EUR) at the salon
 *   availability.json  one slot per record, every day from 2026-12-01 through 2027-12-31 (UTC):
 *                      - dinner at 18:00, 19:00 and 20:00 for parties of 2 and 4, 2-4 spots each;
 *                        18:00 and 19:00 confirm synchronously, 20:00 asynchronously
 *                        (the merchant accepts or declines later)
 *                      - haircut every hour from 09:00 to 17:00 with staff "anna" and "ben",
 *                        1 spot each, synchronous
 *
 * Plain Node, no dependencies; the output is deterministic. Run from anywhere:
 *   node examples/feeds/generate-demo-feeds.js
 * then import with the server's `import` command.
 */
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const FIRST_DAY = Date.UTC(2026, 11, 1) / 1000; // 2026-12-01T00:00:00Z
const LAST_DAY = Date.UTC(2027, 11, 31) / 1000; // 2027-12-31T00:00:00Z
const DAY = 86400;
const HOUR = 3600;

/** Fixed so that regenerating gives identical files. */
const metadata = {
  processing_instruction: "PROCESS_AS_COMPLETE",
  shard_number: 0,
  total_shards: 1,
  nonce: "demo-inventory-1",
  generation_timestamp: 1795996800, // 2026-11-30T00:00:00Z
};

const merchants = [
  {
    merchant_id: "demo-restaurant",
    name: "Trattoria Demo",
    telephone: "+39 06 0000 0001",
    url: "https://example.com/trattoria-demo",
    category: "restaurant",
    geo: {
      latitude: 41.8986,
      longitude: 12.4769,
      address: {
        country: "IT",
        locality: "Roma",
        region: "RM",
        postal_code: "00186",
        street_address: "Via Esempio 1",
      },
    },
  },
  {
    merchant_id: "demo-salon",
    name: "Salon Demo",
    telephone: "+39 06 0000 0002",
    url: "https://example.com/salon-demo",
    category: "hair_salon",
    geo: {
      latitude: 41.9009,
      longitude: 12.4833,
      address: {
        country: "IT",
        locality: "Roma",
        region: "RM",
        postal_code: "00187",
        street_address: "Via Esempio 2",
      },
    },
  },
];

const services = [
  {
    merchant_id: "demo-restaurant",
    service_id: "dinner",
    localized_service_name: {
      value: "Dinner",
      localized_value: [
        { locale: "en", value: "Dinner" },
        { locale: "it", value: "Cena" },
      ],
    },
    description: "Dinner table reservation (no prepayment; pay at the restaurant).",
    scheduling_rules: { min_advance_booking: 3600, min_advance_online_canceling: 7200 },
  },
  {
    merchant_id: "demo-salon",
    service_id: "haircut",
    name: "Haircut",
    description: "Wash, cut and blow-dry (45 minutes).",
    price: { price_micros: "35000000", currency_code: "EUR" },
    price_interpretation: "EXACT_AMOUNT",
    scheduling_rules: { min_advance_booking: 3600, min_advance_online_canceling: 86400 },
  },
];

/** Spots per dinner slot by hour and party size (fewer large tables). */
const dinnerSpots = {
  18: { 2: 4, 4: 2 },
  19: { 2: 3, 4: 2 },
  20: { 2: 4, 4: 3 },
};
const dinnerConfirmation = {
  18: "CONFIRMATION_MODE_SYNCHRONOUS",
  19: "CONFIRMATION_MODE_SYNCHRONOUS",
  20: "CONFIRMATION_MODE_ASYNCHRONOUS",
};
const stylists = [
  { staff_id: "anna", staff_name: "Anna" },
  { staff_id: "ben", staff_name: "Ben" },
];

function* availability() {
  for (let day = FIRST_DAY; day <= LAST_DAY; day += DAY) {
    for (const hour of [18, 19, 20]) {
      for (const partySize of [2, 4]) {
        const spots = dinnerSpots[hour][partySize];
        yield {
          merchant_id: "demo-restaurant",
          service_id: "dinner",
          start_sec: day + hour * HOUR,
          duration_sec: 2 * HOUR,
          spots_total: spots,
          spots_open: spots,
          resources: { party_size: partySize },
          confirmation_mode: dinnerConfirmation[hour],
          duration_requirement: "DO_NOT_SHOW_DURATION",
        };
      }
    }
    for (let hour = 9; hour <= 17; hour++) {
      for (const stylist of stylists) {
        yield {
          merchant_id: "demo-salon",
          service_id: "haircut",
          start_sec: day + hour * HOUR,
          duration_sec: 45 * 60,
          spots_total: 1,
          spots_open: 1,
          resources: stylist,
          confirmation_mode: "CONFIRMATION_MODE_SYNCHRONOUS",
        };
      }
    }
  }
}

/** 2-space JSON, except that each record of the feed array takes one line. */
function feedText(key, records) {
  const lines = records.map((record) => `    ${JSON.stringify(record)}`);
  const head = JSON.stringify({ metadata }, null, 2).slice(0, -2); // without the closing "\n}"
  return `${head},\n  "${key}": [\n${lines.join(",\n")}\n  ]\n}\n`;
}

function write(name, text) {
  const file = path.join(__dirname, name);
  fs.writeFileSync(file, text);
  console.log(`${path.relative(process.cwd(), file)}: ${text.length} bytes`);
}

write("merchants.json", JSON.stringify({ metadata, merchant: merchants }, null, 2) + "\n");
write("services.json", JSON.stringify({ metadata, service: services }, null, 2) + "\n");
write("availability.json", feedText("availability", [...availability()]));
