"""The kit of fault runs (``bench/faults.py``, ``tests/crm/test_faults.py``): real processes
killed and restarted, a broker flushed, and the figures read back from what arrived.

Every process runs in a session of its own (its id is its process group's), so a Celery worker
is killed with SIGKILL together with its pool's children, as a crashed machine or an OOM kill
would leave it; nothing here signals a process it did not start. The SMTP sink
(``tests/smtp_sink.py``) logs every message it accepts, so lost and duplicated emails are
counted from the receiving side, not from the database's opinion of itself.

No Django or pytest at import: the fault script loads this before configuring Django.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 60, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.running:
            raise RuntimeError(f"{process.name} exited ({process.log_tail()})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


# --- processes ---------------------------------------------------------------------------------


def worker_command(concurrency: int = 2) -> list[str]:
    """A Celery worker as ``bin/dev`` (``make run``) starts it: the prefork pool, two children."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "crm",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
    ]


def beat_command(var_dir) -> list[str]:
    """Celery beat as ``bin/dev`` starts it: the database scheduler (``crm.beat``, on
    django-celery-beat), which copies ``CELERY_BEAT_SCHEDULE`` into its tables on start."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "crm",
        "beat",
        "--loglevel",
        "INFO",
        "--scheduler",
        "crm.beat:DatabaseScheduler",
        "--pidfile",
        str(Path(var_dir) / "celerybeat.pid"),
    ]


def web_command(port: int) -> list[str]:
    """The web server as ``bin/dev`` starts it (without the code reloader, a second process)."""
    return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]


class Process:
    """A process started in a session of its own, its output appended to ``log_path``."""

    def __init__(self, name: str, command: list[str], *, env: dict, log_path, cwd=ROOT):
        self.name, self.command, self.env, self.cwd = name, command, env, cwd
        self.log_path = Path(log_path)
        self.popen: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _signal_group(self, sig) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole process group (the worker and its pool's children), at once."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        self.popen.wait()
        self.kills += 1

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the group (Celery's warm shutdown), SIGKILL after ``timeout`` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait()
        # Children of a killed parent may outlive it for a moment; none must stay behind.
        self._signal_group(signal.SIGKILL)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


def celery_ready_count(process: Process) -> int:
    """How many times the worker's log says it became ready (once per start)."""
    return sum(1 for line in process.log_text().splitlines() if line.rstrip().endswith("ready."))


def wait_worker_ready(process: Process, starts: int, *, timeout: float = 90) -> float:
    """Wait until the worker's ``starts``-th start is ready to take messages; returns seconds."""
    began = time.monotonic()
    while celery_ready_count(process) < starts:
        if not process.running:
            raise RuntimeError(f"the worker exited while starting:\n{process.log_tail()}")
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"the worker was not ready after {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - began


class RedisServer(Process):
    """A Redis of our own on a free port, in memory only (``--save "" --appendonly no``)."""

    def __init__(self, folder, *, env: dict | None = None):
        self.port = free_port()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ]
        super().__init__(
            "redis", command, env=env or dict(os.environ), log_path=folder / "redis.log"
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        super().start()
        wait_for_port(self.port, timeout=20, process=self)
        return self

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=0)

    def queued_messages(self) -> int:
        """Messages waiting in Celery's queue plus those taken and not acknowledged."""
        client = self.client()
        return int(client.llen("celery") or 0) + int(client.hlen("unacked") or 0)

    def flush(self) -> None:
        self.client().flushall()


class SmtpSink(Process):
    """``tests/smtp_sink.py`` on a free port: records every message it accepts."""

    def __init__(self, folder, *, delay: float = 0.0, env: dict | None = None):
        self.port = free_port()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.deliveries_path = folder / "deliveries.jsonl"
        self.deliveries_path.touch()
        command = [
            sys.executable,
            "-m",
            "tests.smtp_sink",
            "--port",
            str(self.port),
            "--log",
            str(self.deliveries_path),
            "--delay",
            str(delay),
        ]
        super().__init__(
            "smtp-sink", command, env=env or dict(os.environ), log_path=folder / "smtp-sink.log"
        )

    @property
    def email_url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        super().start()
        wait_for_port(self.port, timeout=20, process=self)
        return self

    def deliveries(self) -> list[dict]:
        lines = []
        for line in self.deliveries_path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a concurrent read
                continue
        return lines

    def count(self) -> int:
        with open(self.deliveries_path, "rb") as handle:
            return sum(1 for _ in handle)


# --- what arrived ------------------------------------------------------------------------------


@dataclass
class DeliveryFigures:
    """What the sink received for a set of outbox rows, told from the receiving side.

    ``lost``: rows the sink never received. ``duplicates``: extra copies beyond the first;
    ``uncertain_copies`` are those of rows the outbox marked uncertain, every copy carrying the
    row's one Message-ID (a receiver drops them); ``duplicates_beyond_uncertain`` the rest,
    which must be none. ``unsent`` counts rows by status that never reached ``sent``."""

    emails: int = 0
    delivered_once: int = 0
    lost: int = 0
    duplicates: int = 0
    uncertain_rows: int = 0
    uncertain_copies: int = 0
    duplicates_beyond_uncertain: int = 0
    message_id_mismatches: int = 0
    unsent: dict = field(default_factory=dict)
    lost_ids: list = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["lost_ids"] = data["lost_ids"][:20]
        return data


def delivery_figures(rows, deliveries) -> DeliveryFigures:
    """``rows``: (outbox id, status, uncertain, expected Message-ID) of every row the run
    queued; ``deliveries``: the sink's lines."""
    copies: dict[str, list[str]] = defaultdict(list)
    for line in deliveries:
        copies[line.get("outbox_id", "")].append(line.get("message_id", ""))
    figures = DeliveryFigures(emails=len(rows))
    unsent = Counter()
    for pk, status, uncertain, message_id in rows:
        received = copies.get(str(pk), [])
        if status != "sent":
            unsent[status] += 1
        if uncertain:
            figures.uncertain_rows += 1
        if not received:
            figures.lost += 1
            figures.lost_ids.append(pk)
            continue
        if any(m != message_id for m in received):
            figures.message_id_mismatches += 1
        extra = len(received) - 1
        if extra == 0:
            figures.delivered_once += 1
            continue
        figures.duplicates += extra
        if uncertain and all(m == message_id for m in received):
            figures.uncertain_copies += extra
        else:
            figures.duplicates_beyond_uncertain += extra
    figures.unsent = dict(unsent)
    return figures


# --- the web, as a browser uses it -------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to record, not a page to follow


class HttpSession:
    """A logged-in browser: cookies, the CSRF token, no redirects followed."""

    def __init__(self, base: str, *, timeout: float = 30):
        self.base = base
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        """(status, body); a connection that fails or times out is status 0."""
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)
        if body is not None:
            req.add_header("Referer", self.base + path)
            token = self.csrf_token()
            if token:
                req.add_header("X-CSRFToken", token)
        try:
            with self.opener.open(req, timeout=self.timeout) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (OSError, urllib.error.URLError) as exc:
            return 0, str(exc)

    def csrf_token(self) -> str:
        return next((c.value for c in self.cookies if c.name == "csrftoken"), "")

    def login(self, username: str, password: str) -> None:
        status, html = self.request("/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if status != 200 or not match:
            raise RuntimeError(f"GET /login/ answered {status} without a CSRF token")
        status, _ = self.request(
            "/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": match[1]},
        )
        if status != 302:
            raise RuntimeError(f"logging in as {username} failed (status {status})")
