#!/usr/bin/env bash
# Installs what the tests need besides Rust and PostgreSQL. Idempotent: safe to run
# again, it only installs what is missing.
#
# * aiosmtpd (PyPI): the local SMTP server of scripts/smtp-sink.py, used by
#   adapters/tests/mail.rs.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup-test-deps: $PYTHON not found; install Python 3 first" >&2
  exit 1
fi

"$PYTHON" -c 'import aiosmtpd' 2>/dev/null || "$PYTHON" -m pip install --quiet aiosmtpd

"$PYTHON" -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__, "ok")'
