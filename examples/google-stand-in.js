#!/usr/bin/env node
// A stand-in for Google's Maps Booking API (booking notifications and
// availability updates) for trying the server locally: prints every request
// and what it answered. It is the tests' stand-in
// (test/support/google-stand-in.js), answering 200 with the body echoed back
// ("{}" when empty), as Google does.
//
// Usage: node examples/google-stand-in.js [PORT]   (or `make google-stand-in`)
//   PORT or STAND_IN_PORT: where it listens on 127.0.0.1 (default 9090); run the server with
//     NOTIFICATION_API_URL=http://127.0.0.1:PORT NOTIFICATION_PARTNER_ID=demo-partner NOTIFICATION_BEARER_TOKEN=demo
//   STAND_IN_FAIL=STATUS: answer every request with that HTTP status instead, to watch the
//     outbox cope: 500, 503 or 429 are retried with backoff (pending, see GetOutboxStatus),
//     any other 4xx is kept as dead (ListDeadNotifications, RequeueNotification)
//   STAND_IN_FAIL_FOR_SEC=N: fail only for the first N seconds after start, then answer 200 again
"use strict";
const { GoogleStandIn } = require("../test/support/google-stand-in.js");

const port = Number(process.argv[2] ?? process.env.STAND_IN_PORT ?? 9090);
const failStatus = numberFrom("STAND_IN_FAIL", (n) => n >= 400 && n <= 599, "an HTTP status from 400 to 599");
const failForSec = numberFrom("STAND_IN_FAIL_FOR_SEC", (n) => n > 0, "a positive number of seconds");
const failUntilMs = failForSec === undefined ? Infinity : Date.now() + failForSec * 1000;
if (!Number.isInteger(port) || port < 0 || port > 65535) refuse(`not a port: ${process.argv[2] ?? process.env.STAND_IN_PORT}`);

const google = new GoogleStandIn();
// The stand-in asks its policy how to answer each request it has recorded.
google.policy = (request) => {
  const failing = failStatus !== undefined && request.atMs < failUntilMs;
  const action = failing
    ? { status: failStatus, body: JSON.stringify({ error: { code: failStatus, message: "failing on purpose (STAND_IN_FAIL)" } }) }
    : { status: 200, body: request.text || "{}" };
  console.log(`${new Date(request.atMs).toISOString()} ${request.method} ${request.url} -> ${action.status}\n  ${request.text}`);
  google.requests.length = 0; // printed is enough: a long session keeps nothing
  return action;
};
google.listen(port).then(
  () => {
    console.log(`Google stand-in listening on ${google.baseUrl}`);
    if (failStatus !== undefined) {
      console.log(`  answering ${failStatus} to every request` + (failForSec === undefined ? "" : ` for the first ${failForSec} s, then 200`));
    }
  },
  (error) => {
    if (error.code === "EADDRINUSE") {
      refuse(`port ${port} is in use by another process: stop it (another stand-in?) or pick another port (STAND_IN_PORT=9091 or an argument)`);
    }
    refuse(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
  },
);

/** An optional numeric variable; a value that is not one is refused, naming it. */
function numberFrom(name, valid, what) {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || !valid(value)) refuse(`${name} must be ${what}, got ${JSON.stringify(text)}`);
  return value;
}

function refuse(sentence) {
  console.error(`google-stand-in: ${sentence}`);
  process.exit(2);
}
