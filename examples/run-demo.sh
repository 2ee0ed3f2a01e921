#!/usr/bin/env bash
# `make run`: imports the demo inventory and serves it on SQLite, on 127.0.0.1
# unless HOST says otherwise (HOST=0.0.0.0 for every interface; `serve` itself
# listens on every interface by default, this demo does not).
#
# The demo credentials are made up once and kept next to the database, private
# (0600), so every restart accepts the same ones and the line printed for the
# shell keeps working: demo-basic-credentials holds Google's Basic pair as one
# `username:password` line (the form BOOKING_AUTH_CREDENTIALS_FILE and
# `conformance --credentials` read), demo-admin-token the admin token and
# demo-merchant-tokens.json the merchants' tokens. Credentials given in the
# environment (BOOKING_AUTH_USERNAME, BOOKING_AUTH_PASSWORD or
# BOOKING_AUTH_PASSWORD_FILE, ADMIN_TOKEN, MERCHANT_TOKENS_FILE) win.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
db=${BOOKING_DB:-./data/booking.db}
port=${PORT:-8080}
host=${HOST:-127.0.0.1}
dir=$(dirname "$db")
(umask 077 && mkdir -p "$dir")
feeds=$root/examples/feeds
"$root/bin/booking-server" import --db "$db" "$feeds/merchants.json" "$feeds/services.json" "$feeds/availability.json" \
  "$feeds/spa/merchants.json" "$feeds/spa/services.json" "$feeds/spa/availability.json"

random() { node -e 'process.stdout.write(require("crypto").randomBytes(12).toString("base64url"))'; }
# `keep FILE VALUE`: writes VALUE to FILE, readable by its owner only, unless FILE exists already.
keep() { [[ -f $1 ]] || (umask 077 && printf '%s\n' "$2" >"$1"); }

basic_file=$dir/demo-basic-credentials
keep "$basic_file" "demo:$(random)"
stored_pair=$(<"$basic_file")
export BOOKING_AUTH_USERNAME=${BOOKING_AUTH_USERNAME:-${stored_pair%%:*}}
if [[ -n ${BOOKING_AUTH_PASSWORD_FILE:-} ]]; then
  # The server reads that file instead of BOOKING_AUTH_PASSWORD (trimmed), so the printed pair does too.
  password=$(node -e 'process.stdout.write(require("fs").readFileSync(process.argv[1], "utf8").trim())' "$BOOKING_AUTH_PASSWORD_FILE")
else
  export BOOKING_AUTH_PASSWORD=${BOOKING_AUTH_PASSWORD:-${stored_pair#*:}}
  password=$BOOKING_AUTH_PASSWORD
fi
keep "$dir/demo-admin-token" "$(random)"
export ADMIN_TOKEN=${ADMIN_TOKEN:-$(<"$dir/demo-admin-token")}
if [[ -z ${MERCHANT_TOKENS_FILE:-} ]]; then
  export MERCHANT_TOKENS_FILE=$dir/demo-merchant-tokens.json
  keep "$MERCHANT_TOKENS_FILE" "$(printf '{"demo-restaurant": "%s", "demo-salon": "%s"}' "$(random)" "$(random)")"
fi
merchant_token=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))["demo-restaurant"] ?? ""))' "$MERCHANT_TOKENS_FILE")

# Where a client on this machine reaches the server: a wildcard address is reached on loopback.
case $host in
  0.0.0.0) url_host=127.0.0.1 ;;
  ::) url_host='[::1]' ;;
  *:*) url_host="[$host]" ;;
  *) url_host=$host ;;
esac

cat <<INFO
demo credentials (the same at every restart; kept in $dir/demo-*):
  Basic (Google's side): $BOOKING_AUTH_USERNAME:$password
  merchant bearer tokens (MerchantService): $(cat "$MERCHANT_TOKENS_FILE")
  admin bearer token (AdminService): $ADMIN_TOKEN
paste this into the shell you call the server from (then: curl -u "\$AUTH" \$B/v3/HealthCheck):
INFO
printf 'export B=%q AUTH=%q MERCHANT_TOKEN=%q ADMIN_TOKEN=%q\n\n' \
  "http://$url_host:$port" "$BOOKING_AUTH_USERNAME:$password" "$merchant_token" "$ADMIN_TOKEN"
exec "$root/bin/booking-server" serve --host "$host" --port "$port" --db "$db"
