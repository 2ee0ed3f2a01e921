#!/usr/bin/env bash
# `make run`: imports the demo inventory and serves it on SQLite. Every
# credential not given in the environment is made up now and printed; the
# merchants' demo tokens are kept next to the database so they survive restarts.
set -euo pipefail
db=${BOOKING_DB:-./data/booking.db}
port=${PORT:-8080}
(umask 077 && mkdir -p "$(dirname "$db")")
bin/booking-server import --db "$db" examples/feeds/merchants.json examples/feeds/services.json examples/feeds/availability.json \
  examples/feeds/spa/merchants.json examples/feeds/spa/services.json examples/feeds/spa/availability.json

random() { node -e 'process.stdout.write(require("crypto").randomBytes(12).toString("base64url"))'; }
export BOOKING_AUTH_USERNAME=${BOOKING_AUTH_USERNAME:-demo}
export BOOKING_AUTH_PASSWORD=${BOOKING_AUTH_PASSWORD:-$(random)}
export ADMIN_TOKEN=${ADMIN_TOKEN:-$(random)}
if [[ -z ${MERCHANT_TOKENS_FILE:-} ]]; then
  export MERCHANT_TOKENS_FILE="$(dirname "$db")/demo-merchant-tokens.json"
  if [[ ! -f $MERCHANT_TOKENS_FILE ]]; then
    (umask 077 && printf '{"demo-restaurant": "%s", "demo-salon": "%s"}\n' "$(random)" "$(random)" >"$MERCHANT_TOKENS_FILE")
  fi
fi

cat <<INFO
demo credentials (HTTP Basic, Google's side): $BOOKING_AUTH_USERNAME:$BOOKING_AUTH_PASSWORD
merchant bearer tokens (MerchantService): $(cat "$MERCHANT_TOKENS_FILE")
admin bearer token (AdminService): $ADMIN_TOKEN
try: curl -u '$BOOKING_AUTH_USERNAME:$BOOKING_AUTH_PASSWORD' http://127.0.0.1:$port/v3/HealthCheck
INFO
exec bin/booking-server serve --port "$port" --db "$db"
