#!/usr/bin/env bash
# Runs the whole test suite. Tests create their own PostgreSQL databases on
# 127.0.0.1:5432 (user postgres, trust auth) and temporary SQLite files.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
# Drop databases left by earlier test runs (tests name theirs pt_*), only those whose files
# have not changed for 30 minutes: a database another test run (several engineers or CI jobs
# share this server) created a moment ago and has not connected to yet must not vanish under
# it. Each DROP DATABASE forces a checkpoint, so they go through one session.
psql -q -h 127.0.0.1 -U postgres -Atc "SELECT format('DROP DATABASE IF EXISTS %I;', datname) FROM pg_database \
    WHERE datname LIKE 'pt\_%' AND (pg_stat_file('base/' || oid)).modification < now() - interval '30 minutes'" 2>/dev/null \
  | psql -q -h 127.0.0.1 -U postgres >/dev/null 2>&1 || true
# Test-only tools (aiosmtpd for the local SMTP sink).
./scripts/setup-test-deps.sh >/dev/null
export PASSERELLE_TEST_PG="${PASSERELLE_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
# Four test processes at a time, some with several pools or child processes: keep each pool
# small so the server's 100 connections are never exhausted (a refused connection turns into
# retried steps and very slow tests).
export PASSERELLE_PG_POOL="${PASSERELLE_PG_POOL:-6}"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --test-threads 4 "$@"
else
  cargo test --workspace "$@"
fi
