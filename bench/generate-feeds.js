"use strict";
// Writes a realistic inventory as Google feed files (merchant, service and
// availability feeds), streamed line by line: nothing holds 1M slots in memory.
// Every slot is a pure function of its index, so the scenarios can name slots
// without reading the feeds back.
const fs = require("node:fs");
const path = require("node:path");

const MERCHANTS = 1000;
const SLOTS_PER_MERCHANT = 1000; // 500 start times x 2 resources
const SHARDS = 10;
const BASE_SEC = Date.UTC(2027, 0, 4) / 1000; // a Monday, comfortably in the future
const metadata = (nonce) => ({
  processing_instruction: "PROCESS_AS_COMPLETE", shard_number: 0, total_shards: 1, nonce, generation_timestamp: 1795996800,
});

const merchantId = (m) => `bench-m${String(m).padStart(4, "0")}`;
const isRestaurant = (m) => m % 2 === 0;

/** A deterministic hash of the slot index (spots, confirmation mode). */
function mix(i) {
  let x = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The slot with global index i (0 .. MERCHANTS*SLOTS_PER_MERCHANT-1). */
function slotAt(i) {
  const m = Math.floor(i / SLOTS_PER_MERCHANT);
  const j = i % SLOTS_PER_MERCHANT;
  const time = j >> 1; // 12 hourly starts a day, 10:00-21:00 UTC
  const startSec = BASE_SEC + Math.floor(time / 12) * 86400 + (10 + (time % 12)) * 3600;
  const h = mix(i);
  const restaurant = isRestaurant(m);
  return {
    merchantId: merchantId(m),
    serviceId: restaurant ? "dinner" : "haircut",
    startSec,
    durationSec: restaurant ? 7200 : 2700,
    resources: restaurant ? { party_size: j & 1 ? 4 : 2 } : { staff_id: j & 1 ? "ben" : "anna" },
    spots: 1 + (h % 8),
    async: (h >>> 8) % 5 === 0, // 20% confirmed later by the merchant
  };
}

function slotFeedLine(s) {
  return JSON.stringify({
    merchant_id: s.merchantId, service_id: s.serviceId, start_sec: s.startSec, duration_sec: s.durationSec,
    spots_total: s.spots, spots_open: s.spots, resources: s.resources,
    confirmation_mode: s.async ? "CONFIRMATION_MODE_ASYNCHRONOUS" : "CONFIRMATION_MODE_SYNCHRONOUS",
  });
}

/** Writes `{"metadata":..., key: [ lines ]}` to file, pulling lines from next() until it returns null. */
function writeFeed(file, key, nonce, next) {
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, `{"metadata":${JSON.stringify(metadata(nonce))},\n"${key}":[\n`);
  let chunk = [];
  let first = true;
  for (let line = next(); line !== null; line = next()) {
    chunk.push(line);
    if (chunk.length === 2000) {
      fs.writeSync(fd, (first ? "" : ",\n") + chunk.join(",\n"));
      first = false;
      chunk = [];
    }
  }
  if (chunk.length) fs.writeSync(fd, (first ? "" : ",\n") + chunk.join(",\n"));
  fs.writeSync(fd, "\n]}\n");
  fs.closeSync(fd);
}

/**
 * Writes the feeds of merchants firstMerchant .. firstMerchant+merchants-1 into dir (firstMerchant past
 * another inventory's merchants: an inventory of new slots to import next to it); returns the file paths
 * (merchants, services, availability shards).
 */
function generateFeeds(dir, { merchants = MERCHANTS, firstMerchant = 0 } = {}) {
  const files = [];
  const merchantsFile = path.join(dir, "merchants.json");
  const endMerchant = firstMerchant + merchants;
  let m = firstMerchant;
  writeFeed(merchantsFile, "merchant", "bench-merchants", () => {
    if (m >= endMerchant) return null;
    const id = merchantId(m);
    const r = isRestaurant(m++);
    return JSON.stringify({
      merchant_id: id, name: `${r ? "Trattoria" : "Salon"} ${id}`, telephone: "+39 06 0000 0001",
      category: r ? "restaurant" : "hair_salon",
      geo: { latitude: 41.9, longitude: 12.48, address: { country: "IT", locality: "Roma", postal_code: "00186", street_address: `Via Bench ${m}` } },
    });
  });
  files.push(merchantsFile);

  const servicesFile = path.join(dir, "services.json");
  m = firstMerchant;
  writeFeed(servicesFile, "service", "bench-services", () => {
    if (m >= endMerchant) return null;
    const r = isRestaurant(m);
    return JSON.stringify({
      merchant_id: merchantId(m++), service_id: r ? "dinner" : "haircut", name: r ? "Dinner" : "Haircut",
      description: r ? "Table reservation, pay at the restaurant." : "Wash, cut and blow-dry.",
    });
  });
  files.push(servicesFile);

  const total = merchants * SLOTS_PER_MERCHANT;
  const firstSlot = firstMerchant * SLOTS_PER_MERCHANT;
  const perShard = Math.ceil(total / SHARDS);
  for (let shard = 0; shard < SHARDS; shard++) {
    const file = path.join(dir, `availability-${shard}.json`);
    let i = firstSlot + shard * perShard;
    const end = Math.min(firstSlot + total, i + perShard);
    writeFeed(file, "availability", `bench-availability-${shard}`, () => (i < end ? slotFeedLine(slotAt(i++)) : null));
    files.push(file);
  }
  return { files, slots: total };
}

module.exports = { generateFeeds, slotAt, MERCHANTS, SLOTS_PER_MERCHANT };

if (require.main === module) {
  const dir = process.argv[2] || fs.mkdtempSync(path.join(require("node:os").tmpdir(), "bench-feeds-"));
  console.time("generate");
  const { files, slots } = generateFeeds(dir);
  console.timeEnd("generate");
  console.log(`${slots} slots in ${files.length} files under ${dir}`);
}
