/** Where the domain reads the time from; tests pass a clock they control. */
export interface Clock {
  /** Current Unix time in whole seconds. */
  nowSec(): number;
}

export const systemClock: Clock = {
  nowSec: () => Math.floor(Date.now() / 1000),
};
