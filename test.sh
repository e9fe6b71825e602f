#!/usr/bin/env bash
# The one test command: installs what is missing, starts a throwaway
# PostgreSQL on loopback, then runs fmt, clippy, unit and integration tests
# on SQLite and PostgreSQL, and the conformance scripts. Fails loudly.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
step() { printf '\n==> %s\n' "$*"; }

# --- 1. Dependencies -------------------------------------------------------
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v certbot >/dev/null || need+=(certbot)
command -v lego >/dev/null || need+=(lego)
command -v scepclient >/dev/null || need+=(scep)
command -v certmonger >/dev/null || need+=(certmonger)
command -v dbus-run-session >/dev/null || need+=(dbus)
command -v jq >/dev/null || need+=(jq)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v curl >/dev/null || need+=(curl)
command -v pkg-config >/dev/null || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
# The dashboard is tested in Debian's chromium; certutil gives it the test root.
command -v chromium >/dev/null || need+=(chromium)
command -v certutil >/dev/null || need+=(libnss3-tools)
# The lifecycle tests mail a real SMTP server: Debian's aiosmtpd.
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
if [ ${#need[@]} -gt 0 ]; then
  step "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- 2. Throwaway PostgreSQL ----------------------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGTMP=$(mktemp -d /tmp/signet-pg.XXXXXX)
PGPORT=${PGPORT:-55432}
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$PGTMP"
cleanup() { as_pg "$PGBIN/pg_ctl -D $PGTMP/data -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$PGTMP"; }
trap cleanup EXIT
step "starting PostgreSQL on 127.0.0.1:$PGPORT"
as_pg "$PGBIN/initdb -D $PGTMP/data -A trust -U postgres" >/dev/null
as_pg "$PGBIN/pg_ctl -D $PGTMP/data -l $PGTMP/log -w -o \"-k $PGTMP -c listen_addresses=127.0.0.1 -p $PGPORT -c fsync=off -c max_connections=400\" start" >/dev/null \
  || { echo "PostgreSQL did not start; its log:" >&2; cat "$PGTMP/log" >&2; exit 1; }
PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

# CI builds once: the incremental cache would only take disk.
export CARGO_INCREMENTAL=0

# --- 3. Lint ---------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# --- 4. Tests --------------------------------------------------------------
step "unit + integration tests (SQLite)"
cargo test --workspace --quiet
step "integration tests (PostgreSQL)"
PG_TEST_URL="$PG_URL" cargo test --quiet --test it

# --- 5. Conformance: real clients against a running server ----------------
for script in conformance/*.sh; do
  [ -e "$script" ] || continue
  # The benchmarks take minutes and measure; loadgen-smoke.sh keeps the tool alive in CI.
  case "$(basename "$script")" in bench.sh | *-bench.sh) continue ;; esac
  step "conformance: $script"
  bash "$script"
done
step "all tests passed"
