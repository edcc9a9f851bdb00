#!/usr/bin/env python3
"""A real local SMTP server that stores what it receives, for the e-mail tests.

    python3 scripts/smtp-sink.py --port N --out DIR [--host 127.0.0.1] [--auth USER:PASSWORD]

Every accepted message is written to DIR as one file, named after a counter
(000001.eml, 000002.eml, ...). The file is the message exactly as received after
DATA, preceded by two trace headers, like a real server's Return-Path/Received:

    X-Sink-Mail-From: <envelope sender>
    X-Sink-Rcpt-To: <envelope recipients, comma separated>

Files are written under a temporary name and renamed, and the server answers 250
only once the file is in place, so a client that got 250 can read it at once.

Prints "ready <port>" on stdout once listening (--port 0 picks a free port, which
avoids races between tests), then runs until killed (SIGTERM/SIGINT exit cleanly).

Test hooks, to get real negative replies from a real server:
  * a recipient whose local part starts with "tempfail" gets
    451 4.3.0 (transient), one starting with "reject" gets 550 5.1.1 (permanent);
  * with --auth, AUTH PLAIN/LOGIN is offered without TLS and only USER:PASSWORD is
    accepted (535 otherwise).

Needs aiosmtpd (PyPI): run scripts/setup-test-deps.sh.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    print(
        "smtp-sink: the Python module aiosmtpd is missing; run scripts/setup-test-deps.sh",
        file=sys.stderr,
    )
    sys.exit(3)


class Sink:
    """aiosmtpd handler: applies the test hooks and stores each message."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.counter = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 Mailbox temporarily unavailable (smtp-sink test hook)"
        if local.startswith("reject"):
            return "550 5.1.1 Mailbox unavailable (smtp-sink test hook)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.counter += 1
        name = f"{self.counter:06d}.eml"
        trace = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        tmp = os.path.join(self.out_dir, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(trace)
            f.write(content)
        os.replace(tmp, os.path.join(self.out_dir, name))
        return "250 Message accepted for delivery"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode("utf-8")
            and auth_data.password == password.encode("utf-8")
        )
        # handled=False: let aiosmtpd answer 535 itself on failure (with the default
        # handled=True it would answer nothing and the client would wait forever).
        return AuthResult(success=ok, handled=False)

    return authenticate


async def serve(args):
    os.makedirs(args.out, exist_ok=True)
    # aiosmtpd warns about its own deprecated internals on every AUTH; keep errors only.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    handler = Sink(args.out)
    smtp_options = {"hostname": "smtp-sink.local", "enable_SMTPUTF8": True}
    if args.auth:
        user, _, password = args.auth.partition(":")
        smtp_options["authenticator"] = authenticator_for(user, password)
        smtp_options["auth_require_tls"] = False

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **smtp_options), host=args.host, port=args.port
    )
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {port}", flush=True)
    async with server:
        await stop.wait()


def main():
    parser = argparse.ArgumentParser(description="Local SMTP sink storing .eml files.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--out", required=True, help="directory for the .eml files")
    parser.add_argument("--auth", help="USER:PASSWORD to require SMTP authentication")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
