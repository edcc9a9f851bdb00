#!/usr/bin/env bash
# Installs what the tests need besides Rust and PostgreSQL. Idempotent: safe to run
# again, it only installs what is missing.
#
# * aiosmtpd (PyPI): the local SMTP server of scripts/smtp-sink.py, used by
#   adapters/tests/mail.rs.
# * vsftpd and openssl (Debian): the real local FTP/FTPS server of ops/tests/images.rs
#   (started per test from a generated config; the tests fail without it).
# * chromium and chromium-driver (Debian): the headless browser of the console tests
#   (ops/tests/console_browser.rs drives it over WebDriver).
set -euo pipefail

missing=()
command -v vsftpd >/dev/null 2>&1 || [ -x /usr/sbin/vsftpd ] || missing+=(vsftpd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
# The Debian package starts a system-wide instance on port 21; the tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet vsftpd 2>/dev/null; then
  systemctl stop vsftpd || true
fi

PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup-test-deps: $PYTHON not found; install Python 3 first" >&2
  exit 1
fi

"$PYTHON" -c 'import aiosmtpd' 2>/dev/null || "$PYTHON" -m pip install --quiet aiosmtpd

"$PYTHON" -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__, "ok")'
