#!/usr/bin/env node
// A stand-in for Google's Maps Booking API (notifications and availability
// updates) for trying the server locally: prints every request and answers 200.
// Usage: node examples/google-stand-in.js [PORT]   (default 9090), then run the
// server with NOTIFICATION_API_URL=http://127.0.0.1:PORT NOTIFICATION_PARTNER_ID=demo-partner
// NOTIFICATION_BEARER_TOKEN=demo.
"use strict";
const http = require("node:http");
const port = Number(process.argv[2] ?? process.env.STAND_IN_PORT ?? 9090);
http
  .createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      console.log(`${new Date().toISOString()} ${req.method} ${req.url}\n  ${body}`);
      res.writeHead(200, { "Content-Type": "application/json" }).end(body || "{}");
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`Google stand-in listening on http://127.0.0.1:${port}`));
