# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

PORT ?= 8080
BOOKING_DB ?= ./data/booking.db

.PHONY: sftp-server run google-stand-in test test-long install build browser generate check-generated lint typecheck clean bench

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
	tsc -p panel/tsconfig.json

# Serves the demo inventory on SQLite at 127.0.0.1:8080 (PORT=..., HOST=0.0.0.0 for every interface).
# Credentials not given in the environment are made up once, kept next to the database and
# printed as one `export B=... AUTH=... MERCHANT_TOKEN=... ADMIN_TOKEN=...` line (examples/run-demo.sh).
run: dist/.build-stamp
	PORT=$(PORT) BOOKING_DB="$(BOOKING_DB)" HOST="$(HOST)" examples/run-demo.sh

# dist/ as `npm run build` makes it, built again only when a source changed since: restarting
# `make run` takes seconds instead of a build (about a minute on two shared cores).
dist/.build-stamp: node_modules/.install-stamp tsconfig.json tsconfig.build.json $(shell find src gen panel -type f)
	npm run build
	touch $@

# A local stand-in for Google's notification API on 127.0.0.1:9090 (STAND_IN_PORT) that prints what
# it receives; STAND_IN_FAIL=503 (or 400) [STAND_IN_FAIL_FOR_SEC=60] makes it fail (examples/google-stand-in.js).
google-stand-in:
	node examples/google-stand-in.js

# Debian's chromium for the host panel's browser tests (never a browser download).
browser:
	@command -v chromium >/dev/null || ( \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  else sudo apt-get update && sudo apt-get install -y chromium; fi )

# Debian's OpenSSH server for the SFTP feed-upload test (a local stand-in for Google's dropbox).
sftp-server:
	@[ -x /usr/sbin/sshd ] && [ -e /usr/lib/openssh/sftp-server ] || ( \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y openssh-server openssh-sftp-server; \
	  else sudo apt-get update && sudo apt-get install -y openssh-server openssh-sftp-server; fi )

# Every test: the contract checks, then jest against real servers (and a real browser).
test: install browser sftp-server
	$(MAKE) --no-print-directory check-generated lint typecheck
	npm run build
	jest

# The long variants: a longer kill -9 storm (20 kills over 5 minutes) and more hostile inputs.
test-long: install
	npm run build
	CRASH_STORM_KILLS=20 CRASH_STORM_SECONDS=300 jest test/crash
	HOSTILE_RUNS_FACTOR=10 jest test/hostile

# The benchmark, not part of `make test` (about 9 minutes, plus `npm ci` on a fresh clone): 1M-slot import, the machine's
# limits and the server side by side, then PostgreSQL (one and two instances, a throwaway cluster) against SQLite;
# prints the table, writes bench/results/latest.json.
# BENCH_SECONDS (per scenario, default 12) and BENCH_CONNECTIONS (default 50) tune it; BENCH_ONLY=postgres runs only the PostgreSQL rows.
bench: install
	@if [ ! -f dist/src/cli.js ] || [ -n "$$(find src gen -newer dist/src/cli.js -print -quit)" ]; then npm run build; fi
	node bench/run.js

clean:
	rm -rf dist data test-output
