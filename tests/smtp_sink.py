"""A local SMTP server that accepts every message and records it, for fault runs and tests.

``python -m tests.smtp_sink --port 2525 --log deliveries.jsonl [--delay 0.01]`` appends one JSON
line per accepted message (its Message-ID, recipients, the outbox row it names and the time)
before answering 250, so the log holds every message the server took, also one whose sender was
killed before it read the answer. ``--delay`` makes each hand-off take that long, like a real
server, so a batch is still being sent when a fault is injected.
"""

import argparse
import asyncio
import email.parser
import email.policy
import json
import signal
import time

from aiosmtpd.controller import Controller


class Recorder:
    """aiosmtpd handler: one JSON line per message, flushed before the 250."""

    def __init__(self, log_path: str, delay: float):
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the server's life
        self.delay = delay
        self.parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = self.parser.parsebytes(envelope.content)
        line = {
            "t": time.time(),
            "message_id": (headers.get("Message-ID") or "").strip(),
            "outbox_id": (headers.get("X-CRM-Outbox-Id") or "").strip(),
            "to": list(envelope.rcpt_tos),
            "subject": str(headers.get("Subject") or "")[:200],
        }
        self.log.write(json.dumps(line) + "\n")
        return "250 Message accepted for delivery"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.smtp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="file to append one JSON line a message to")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each message takes")
    args = parser.parse_args(argv)
    controller = Controller(
        Recorder(args.log, args.delay), hostname=args.host, port=args.port, ready_timeout=10
    )
    controller.start()
    print(f"SMTP sink listening on {args.host}:{args.port}, logging to {args.log}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        loop.run_until_complete(stopped.wait())
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
