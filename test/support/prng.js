/**
 * mulberry32: a small seeded PRNG, so a run that fails can be replayed from its
 * seed. Plain CommonJS because test/crash/storm-client.js (a child process on
 * plain Node) requires it as well as the TypeScript tests (types: prng.d.ts).
 */
"use strict";

/**
 * @param {number} seed
 * @returns {() => number} the next number in [0, 1) of the sequence the seed fixes
 */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { mulberry32 };
