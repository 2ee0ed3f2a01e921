# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

PORT ?= 8080
BOOKING_DB ?= ./data/booking.db
DEMO_FEEDS := examples/feeds/merchants.json examples/feeds/services.json examples/feeds/availability.json

.PHONY: run test install build generate check-generated lint typecheck clean

# Installs exactly what package-lock.json pins (this also compiles dist/ via `prepare`).
node_modules/.install-stamp: package.json package-lock.json
	npm ci
	touch $@

install: node_modules/.install-stamp

build: install
	npm run build

generate: install
	buf generate

# gen/ is committed; fail when it is not what proto/ generates.
check-generated: install
	@tmp=$$(mktemp -d) && buf generate --output "$$tmp" && \
	  if diff -r "$$tmp/gen" gen >/dev/null; then echo "gen/ is current"; rm -rf "$$tmp"; \
	  else echo "gen/ differs from what 'buf generate' writes from proto/: run 'make generate' and commit"; diff -r "$$tmp/gen" gen | head -20; rm -rf "$$tmp"; exit 1; fi

lint: install
	buf lint

typecheck: install
	tsc --noEmit -p tsconfig.json

# Serves on SQLite with the demo inventory. Credentials: yours from the
# environment, or a demo pair made up now and printed below.
run: build
	bin/booking-server import --db "$(BOOKING_DB)" $(DEMO_FEEDS)
	@user=$${BOOKING_AUTH_USERNAME:-demo}; pass=$${BOOKING_AUTH_PASSWORD:-$$(node -e 'process.stdout.write(require("crypto").randomBytes(12).toString("base64url"))')}; \
	  echo "demo credentials (HTTP Basic): $$user:$$pass"; \
	  echo "try: curl -u '$$user:$$pass' http://127.0.0.1:$(PORT)/v3/HealthCheck"; \
	  BOOKING_AUTH_USERNAME=$$user BOOKING_AUTH_PASSWORD=$$pass exec bin/booking-server serve --port $(PORT) --db "$(BOOKING_DB)"

# Every test: the contract checks, then jest against real servers.
test: install
	$(MAKE) --no-print-directory check-generated lint typecheck
	npm run build
	jest

clean:
	rm -rf dist data test-output
