#!/usr/bin/env node
// A stand-in for Google's Maps Booking API (notifications and availability
// updates) for trying the server locally: prints every request and answers 200.
// It is the tests' stand-in (test/support/google-stand-in.js), answering every
// request with its body echoed back ("{}" when empty).
// Usage: node examples/google-stand-in.js [PORT]   (default 9090), then run the
// server with NOTIFICATION_API_URL=http://127.0.0.1:PORT NOTIFICATION_PARTNER_ID=demo-partner
// NOTIFICATION_BEARER_TOKEN=demo.
"use strict";
const { GoogleStandIn } = require("../test/support/google-stand-in.js");
const port = Number(process.argv[2] ?? process.env.STAND_IN_PORT ?? 9090);
const google = new GoogleStandIn();
google.policy = (request) => ({ status: 200, body: request.text || "{}" });
google.onRequest = (request) => {
  console.log(`${new Date(request.atMs).toISOString()} ${request.method} ${request.url}\n  ${request.text}`);
  google.requests.length = 0; // printed is enough: a long session keeps nothing
};
google.listen(port).then(() => console.log(`Google stand-in listening on ${google.baseUrl}`));
