// The merchant's service day: the evening as the restaurant counts it, in
// the merchant's time zone (from its feed), not the browser's. A day's
// service runs until 04:00 the next morning, so a table at 00:30 belongs
// to the evening before.

const hour = 3600;
/** When one service day hands over to the next, in hours after local midnight. */
const dayTurnsAtHour = 4;

const partsFormats = new Map<string, Intl.DateTimeFormat>();

function localParts(unixSec: number, timeZone: string): { day: string; secondsIntoDay: number } {
  let format = partsFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-CA", {
      timeZone: timeZone || undefined,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    partsFormats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(unixSec * 1000)).map((p) => [p.type, p.value]));
  return {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    secondsIntoDay: Number(parts.hour) * hour + Number(parts.minute) * 60 + Number(parts.second),
  };
}

/** The service day a time belongs to, as "YYYY-MM-DD" of the evening it starts. */
export function serviceDayOf(unixSec: number, timeZone: string): string {
  return localParts(unixSec - dayTurnsAtHour * hour, timeZone).day;
}

/**
 * The service day around `nowSec`: [startSec, endSec) and its key. A day
 * that changes clocks (DST) is taken as 24 h: it starts or ends an hour off,
 * at 03:00 or 05:00, when nobody is booked.
 */
export function serviceDayAround(nowSec: number, timeZone: string): { key: string; startSec: number; endSec: number } {
  const shifted = nowSec - dayTurnsAtHour * hour;
  const { day, secondsIntoDay } = localParts(shifted, timeZone);
  const startSec = shifted - secondsIntoDay + dayTurnsAtHour * hour;
  return { key: day, startSec, endSec: startSec + 24 * hour };
}
