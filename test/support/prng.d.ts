/** The types of prng.js (plain CommonJS, so test/crash/storm-client.js can require it too). */

/** mulberry32: a small seeded PRNG; returns the next number in [0, 1) of the sequence `seed` fixes. */
export declare function mulberry32(seed: number): () => number;
