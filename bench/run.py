"""Page latency on a big PostgreSQL database: ``make bench`` (``python bench/run.py --help``).

1. Unless ``--no-seed``: creates the database in ``DATABASE_URL`` if missing (default
   ``postgres://postgres@127.0.0.1:5432/crm_bench``), migrates it and runs
   ``seed_demo --scale 1000 --force`` unless it already holds that scale's data (so a re-run is
   fast). ``seed_demo``'s time is printed; a reused database prints the time it took when seeded.
   With ``--contacts N`` the contacts table is then grown to N rows by copying the seeded
   contacts (one ``INSERT … SELECT``, same owners and accounts, names and emails made unique)
   and analysed; the seed record notes it, so a re-run does not copy again.
2. Starts gunicorn on a free local port with DEBUG off, logs in through ``/login/`` like a
   browser, and times each page in ``PAGES`` (warm-ups first): median and p95 in ms.
   Beside it, a second gunicorn serves the bare Django project of ``bench/bare`` over the same
   database: a page with a reference in ``BARE`` is timed alternately with it, request for
   request, and the table gives the reference's median and the ratio product/bare. The page
   list is run ``--repetitions`` times, interleaved the same way.
3. Counts each page's SQL queries in-process (the test client through the full middleware,
   ``CaptureQueriesContext``) against the same database.

Prints a markdown table, then the dashboards' median and p95 in a table of their own, each marked
whether its median is under the goal (``GOAL_MS`` in ``bench/analytics.py``, 150 ms). A page that
does not answer 200 is a failure row, not a crash; the
exit status is 1 if any page failed.

Later apps add their pages to ``PAGES``: ``(name, path)`` or ``(name, callable)`` where the
callable gets a ``BenchData`` (ids and words that exist in the database) and returns the path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import importlib.util
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
SEED_RECORD = ROOT / "var" / "bench-seed.json"


@dataclass
class BenchData:
    """Real ids and words from the benched database, looked up once when a page asks."""

    username: str

    @cached_property
    def user_ids(self) -> dict[str, int]:
        from crm.models import User

        return dict(User.objects.values_list("username", "id"))

    @cached_property
    def surname(self) -> str:
        """A surname a few hundred contacts share (not the commonest, not a one-off)."""
        from django.db.models import Count

        from crm.models import Contact

        owned = Contact.objects.filter(owner_id=self.user_ids.get("rep"))
        names = list(
            owned.values("last_name").annotate(n=Count("id")).order_by("-n", "last_name")[:40]
        )
        return names[len(names) // 2]["last_name"] if names else "Smith"

    def pk(self, model_label: str, **filters) -> int | None:
        """A primary key from the middle of ``model_label``'s rows (e.g. ``"crm.Account"``)."""
        from django.apps import apps

        model = apps.get_model(model_label)
        qs = model._default_manager.filter(**filters).order_by("pk")
        first = qs.values_list("pk", flat=True).first()
        last = qs.order_by("-pk").values_list("pk", flat=True).first()
        if first is None:
            return None
        return qs.filter(pk__gte=(first + last) // 2).values_list("pk", flat=True).first()


# (name, path or callable) pages are opened as ``--user``; a third item names another demo user
# (dashboards as ``manager``, the support desk as ``agent``).
Page = (
    tuple[str, str | Callable[[BenchData], str]] | tuple[str, str | Callable[[BenchData], str], str]
)

PAGES: list[Page] = [
    ("Contact list", "/contacts/"),
    ("Contacts by owner", lambda d: f"/contacts/?owner={d.user_ids['rep']}"),
    ("Contact search", lambda d: f"/contacts/?q={urllib.parse.quote(d.surname)}"),
    ("Account detail", lambda d: f"/accounts/{d.pk('crm.Account')}/"),
    ("Contact detail", lambda d: f"/contacts/{d.pk('crm.Contact')}/"),
    ("Home", "/"),
    # The same page against a bare one reading what it shows (its six blocks, not two lists).
    ("Home, bare with its blocks", "/"),
    ("Global search", lambda d: f"/search/?q={urllib.parse.quote(d.surname)}"),
    ("Lead list", "/leads/"),
    ("Leads by status", "/leads/?status=working"),
    ("Lead search", lambda d: f"/leads/?q={urllib.parse.quote(d.surname)}"),
    ("Lead list (manager)", "/leads/", "manager"),
    ("Lead detail", lambda d: f"/leads/{d.pk('leads.Lead')}/", "admin"),
    ("Opportunity list", "/opportunities/"),
    ("Opportunity list (manager)", "/opportunities/", "manager"),
    ("Board", "/opportunities/board/"),
    ("Board (manager)", "/opportunities/board/", "manager"),
    ("Forecast (manager)", "/opportunities/forecast/", "manager"),
    ("Ticket list (agent)", "/tickets/", "agent"),
    ("My queue (agent)", "/tickets/mine/", "agent"),
    ("Subscriptions (manager)", "/subscriptions/", "manager"),
    ("At-risk accounts (manager)", "/at-risk/", "manager"),
    ("Email campaigns (manager)", "/email-campaigns/", "manager"),
    (
        "Marketing campaign (manager)",
        lambda d: f"/leads/campaigns/{d.pk('leads.Campaign')}/",
        "manager",
    ),
    (
        "Marketing campaign ROI (manager)",
        lambda d: f"/leads/campaigns/{d.pk('leads.Campaign')}/roi/",
        "manager",
    ),
]


def _bench_module(name: str):
    """A module beside this script, loaded by path: ``analytics`` is also a Django app's name."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", Path(__file__).parent / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_analytics = _bench_module("analytics")
PAGES += [(name, path, "manager") for name, path in _analytics.PAGES]
DASHBOARDS = {name for name, _ in _analytics.PAGES}
DASHBOARD_GOAL_MS = _analytics.GOAL_MS

#: Each page's reference in the bare project (``bench/bare``): what a plain Django page over the
#: same rows costs (50 rows with an estimated count for a list; the row and 10 related ones for a
#: detail). Paths as in ``PAGES``.
BARE: dict[str, str | Callable[[BenchData], str]] = {
    "Contact list": "/contacts/",
    "Contacts by owner": lambda d: f"/contacts/?owner={d.user_ids['rep']}",
    "Contact search": lambda d: f"/contacts/?q={urllib.parse.quote(d.surname)}",
    "Contact detail": lambda d: f"/contacts/{d.pk('crm.Contact')}/",
    "Account detail": lambda d: f"/accounts/{d.pk('crm.Account')}/",
    "Lead list (manager)": "/leads/",
    "Opportunity list": "/opportunities/",
    "Ticket list (agent)": "/tickets/",
    "Home": "/",
    "Home, bare with its blocks": "/home-blocks/",
    "Board (manager)": "/opportunities/board/",
}


@dataclass
class Result:
    name: str
    path: str
    user: str = ""
    timings_ms: list[float] = field(default_factory=list)
    status: str = "ok"
    queries: int | str = "—"
    bare_path: str | None = None
    bare_timings_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> str:
        return f"{statistics.median(self.timings_ms):.1f}" if self.timings_ms else "—"

    @property
    def p95(self) -> str:
        return _p95(self.timings_ms)

    @property
    def bare_median(self) -> str:
        return f"{statistics.median(self.bare_timings_ms):.1f}" if self.bare_timings_ms else "—"

    @property
    def bare_p95(self) -> str:
        return _p95(self.bare_timings_ms)

    @property
    def ratio(self) -> str:
        if not (self.timings_ms and self.bare_timings_ms):
            return "—"
        return (
            f"{statistics.median(self.timings_ms) / statistics.median(self.bare_timings_ms):.2f}×"
        )


def _p95(timings: list[float]) -> str:
    if not timings:
        return "—"
    ordered = sorted(timings)
    return f"{ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]:.1f}"


# Database and seed --------------------------------------------------------------------------


def _pg_connect(url: str, dbname: str | None = None):
    import psycopg

    parts = urllib.parse.urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        dbname=dbname or parts.path.lstrip("/"),
        autocommit=True,
    )


def database_prepare(
    url: str, *, scale: float, env: dict, recreate: bool, contacts_total: int | None = None
) -> str:
    """Create, migrate and seed the database unless it already holds ``scale``'s data, then
    grow the contacts to ``contacts_total`` if asked. Returns a line describing the seed time."""
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    record = _seed_record()
    inflated = record.get("contacts") if record.get("database") == name else None
    with _pg_connect(url, "postgres") as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        contacts = _contact_count(url) if exists else 0
        expected = round(1000 * scale)
        grown_from = None
        if exists and inflated and contacts == inflated:
            if record.get("scale") == scale:
                expected = contacts  # seeded at this scale, then grown by ``--contacts``
            else:
                grown_from = record.get("scale")  # copies of another scale's seed
        if exists and (contacts not in (0, expected) or grown_from is not None):
            held = f"{contacts:,} contacts" + (
                f" (--scale {grown_from} grown by copying)" if grown_from is not None else ""
            )
            if not (recreate or "bench" in name):
                sys.exit(
                    f"{name} holds {held}, not --scale {scale}'s; pass --recreate to drop it, "
                    "or --no-seed to bench it as it is."
                )
            print(f"{name} holds {held}, not --scale {scale}'s: recreating it.")
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists, contacts = False, 0
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    _manage(["migrate", "--no-input", "-v", "0"], env)
    if contacts == expected:
        if record.get("database") == name and record.get("scale") == scale:
            line = (
                f"seed_demo --scale {scale}: {record['seconds']:.1f} s "
                f"(measured {record['when']}; database reused)"
            )
        else:
            line = f"seed_demo --scale {scale}: database reused (seed time not recorded)"
            record = {"database": name, "scale": scale, "seconds": 0.0, "when": "unknown"}
    else:
        started = time.monotonic()
        _manage(["seed_demo", "--scale", str(scale), "--force"], env)
        seconds = time.monotonic() - started
        record = {
            "database": name,
            "scale": scale,
            "seconds": round(seconds, 1),
            "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        _seed_record_write(record)
        line = f"seed_demo --scale {scale}: {seconds:.1f} s"
    if contacts_total and _contact_count(url) < contacts_total:
        started = time.monotonic()
        total = contacts_grow(url, contacts_total)
        record.update(contacts=total, contacts_seconds=round(time.monotonic() - started, 1))
        _seed_record_write(record)
    if record.get("contacts"):
        line += (
            f"; contacts grown to {record['contacts']:,} by copying "
            f"({record['contacts_seconds']:.1f} s)"
        )
    return line


def _seed_record_write(record: dict):
    SEED_RECORD.parent.mkdir(parents=True, exist_ok=True)
    SEED_RECORD.write_text(json.dumps(record))


def contacts_grow(url: str, total: int) -> int:
    """Copy the seeded contacts until the table holds ``total`` rows, in one ``INSERT …
    SELECT``: the same owners, accounts, titles and consents, a numbered first name and email
    (``c3.anna@…``) so names and addresses stay unique, a creation time shifted by the copy's
    number of days. Triggers (field history) are off for the copy: they would record a million
    creations nobody made. Returns the new row count."""
    with _pg_connect(url) as conn:
        seeded = conn.execute("SELECT count(*), max(id) FROM crm_contact").fetchone()
        count, last_id = seeded
        missing = total - count
        if missing <= 0 or not count:
            return count
        copies = math.ceil(missing / count)
        print(f"Growing crm_contact from {count:,} to {total:,} rows ({copies} copies)", flush=True)
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = "
                "'crm_contact' AND is_generated = 'NEVER' AND column_name <> 'id' "
                "ORDER BY ordinal_position"
            )
        ]
        changed = {
            "first_name": "left(c.first_name || ' ' || n, 100)",
            "email": "CASE WHEN c.email = '' THEN '' ELSE 'c' || n || '.' || c.email END",
            "match_keys": "'{}'::varchar[]",
            "match_name": "''",
            "created_at": "c.created_at - n * interval '1 day'",
            "updated_at": "c.updated_at - n * interval '1 day'",
        }
        select = ", ".join(changed.get(column, f"c.{column}") for column in columns)
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                f"INSERT INTO crm_contact ({', '.join(columns)}) "
                f"SELECT {select} FROM generate_series(1, %s) AS n "
                "CROSS JOIN crm_contact AS c WHERE c.id <= %s "
                "ORDER BY n, c.id LIMIT %s",
                [copies, last_id, missing],
            )
        conn.execute("VACUUM ANALYZE crm_contact")
        return conn.execute("SELECT count(*) FROM crm_contact").fetchone()[0]


def _contact_count(url: str) -> int:
    import psycopg

    try:
        with _pg_connect(url) as conn:
            return conn.execute("SELECT count(*) FROM crm_contact").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


def _seed_record() -> dict:
    try:
        return json.loads(SEED_RECORD.read_text())
    except (OSError, ValueError):
        return {}


def _manage(args: list[str], env: dict):
    print(f"$ manage.py {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True)


# HTTP timing ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (e.g. to the login page) is a failure, not a page


class HttpSession:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)
        if body is not None:
            req.add_header("Referer", self.base + path)
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def login(self, username: str, password: str):
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


def server_start(env: dict, workers: int, *, app: str = "crm.wsgi:application", cwd: Path = ROOT):
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, base
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start listening within 60 s")


def bare_server_start(env: dict, workers: int) -> tuple[subprocess.Popen, str]:
    """The bare reference project (``bench/bare``) on its own port, over the same database."""
    bare_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "bare.settings",
        "PYTHONPATH": str(ROOT / "bench"),
    }
    return server_start(bare_env, workers, app="bare.wsgi:application", cwd=ROOT / "bench")


def _timed(session: HttpSession, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    status, _ = session.request(path)
    return status, (time.perf_counter() - started) * 1000


def time_pages(
    sessions: dict,
    pages,
    *,
    requests: int,
    warmup: int,
    repetitions: int = 1,
    bare_sessions: dict | None = None,
) -> list[Result]:
    """Each page ``requests`` times after ``warmup`` untimed requests, the whole list
    ``repetitions`` times; a page with a bare reference alternates with it request for
    request, so both see the same machine."""
    results = [Result(name, path, user, bare_path=bare) for name, path, user, bare in pages]
    statuses = {id(result): set() for result in results}
    for repetition in range(repetitions):
        if repetitions > 1:
            print(f"Repetition {repetition + 1} of {repetitions}", flush=True)
        for result in results:
            if result.path is None:
                result.status = "no data"
                continue
            if not result.status.startswith("ok"):
                continue
            session = sessions[result.user]
            bare = bare_sessions.get(result.user) if bare_sessions and result.bare_path else None
            seen = statuses[id(result)]
            for i in range(warmup + requests):
                status, elapsed = _timed(session, result.path)
                seen.add(status)
                if bare is not None:
                    bare_status, bare_elapsed = _timed(bare, result.bare_path)
                    if bare_status != 200:
                        result.status = f"ok (bare reference answered {bare_status})"
                        bare = None
                    elif i >= warmup:
                        result.bare_timings_ms.append(bare_elapsed)
                if i >= warmup:
                    result.timings_ms.append(elapsed)
                if status != 200 and i == 0:
                    break  # one failure is enough to report; do not hammer a broken page
            if seen != {200}:
                result.status = "FAIL " + ",".join(str(s) for s in sorted(seen))
                result.timings_ms = []
            print(
                f"  {result.name:<32} {result.median:>8} ms  bare {result.bare_median:>7} ms  "
                f"{result.ratio:>6}  {result.status}",
                flush=True,
            )
    return results


def count_queries(results: list[Result]):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import User

    clients = {}
    for result in results:
        if result.path is None:
            continue
        if result.user not in clients:
            clients[result.user] = Client(raise_request_exception=False)
            clients[result.user].force_login(User.objects.get(username=result.user))
        client = clients[result.user]
        client.get(result.path)  # warm per-process caches (content types, …)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(result.path)
        result.queries = len(captured) if response.status_code == 200 else "—"


def resolve_pages(
    data: BenchData, default_user: str, only: str | None = None
) -> list[tuple[str, str | None, str, str | None]]:
    """Each page's (name, path, user, bare reference path); ``only`` keeps the pages whose name
    contains it."""
    resolved = []
    for name, target, *user in PAGES:
        if only and only.lower() not in name.lower():
            continue
        path, bare = _resolve(name, target, data), None
        if name in BARE and path is not None:
            bare = _resolve(name, BARE[name], data)
        resolved.append((name, path, user[0] if user else default_user, bare))
    return resolved


def _resolve(name: str, target, data: BenchData) -> str | None:
    try:
        path = target(data) if callable(target) else target
    except Exception as exc:  # a page whose data is missing is a row, not a crash
        print(f"  {name}: cannot build its URL ({type(exc).__name__}: {exc})")
        return None
    return None if path is None or "None" in path else path


def table(results: list[Result]) -> str:
    lines = [
        "| page | user | path | median ms | p95 ms | bare median ms | bare p95 ms | ratio "
        "| queries | status |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.user} | `{r.path or '—'}` | {r.median} | {r.p95} | {r.bare_median} "
            f"| {r.bare_p95} | {r.ratio} | {r.queries} | {r.status} |"
        )
    return "\n".join(lines)


def dashboard_table(results: list[Result]) -> str:
    """The dashboards against their goal: median and p95, and whether the median is under
    ``DASHBOARD_GOAL_MS``. Empty when no dashboard was timed."""
    rows = [r for r in results if r.name in DASHBOARDS]
    if not rows:
        return ""
    goal = f"{DASHBOARD_GOAL_MS:.0f}"
    lines = [
        f"| dashboard | median ms | p95 ms | median under {goal} ms | queries | status |",
        "| --- | ---: | ---: | --- | ---: | --- |",
    ]
    for r in rows:
        if r.timings_ms:
            under = "yes" if statistics.median(r.timings_ms) < DASHBOARD_GOAL_MS else "**NO**"
        else:
            under = "—"
        lines.append(f"| {r.name} | {r.median} | {r.p95} | {under} | {r.queries} | {r.status} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--scale", type=float, default=1000)
    parser.add_argument("--no-seed", action="store_true", help="Bench the database as it is.")
    parser.add_argument(
        "--recreate", action="store_true", help="Drop a database seeded at another scale."
    )
    parser.add_argument("--requests", type=int, default=30, help="Timed requests per page.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed requests per page first.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument(
        "--repetitions", type=int, default=3, help="Times the whole page list is run."
    )
    parser.add_argument(
        "--contacts",
        type=int,
        help="Grow the contacts table to this many rows after seeding (copies of the seeded "
        "ones), e.g. 1000000 on --scale 100.",
    )
    parser.add_argument(
        "--no-bare", action="store_true", help="Time the product pages only, no references."
    )
    parser.add_argument(
        "--compared", action="store_true", help="Time only the pages with a bare reference."
    )
    parser.add_argument("--user", default="rep", help="Demo user to log in as.")
    parser.add_argument("--password", default="demo")
    parser.add_argument(
        "--only", help="Time only the pages whose name contains this (e.g. 'Dashboard')."
    )
    args = parser.parse_args(argv)
    url = args.database_url or DEFAULT_DATABASE_URL
    scale = int(args.scale) if float(args.scale).is_integer() else args.scale
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("the bench needs PostgreSQL: DATABASE_URL=postgres://…")

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DEBUG": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    seed_line = "seed_demo: skipped (--no-seed)"
    if not args.no_seed:
        seed_line = database_prepare(
            url, scale=scale, env=env, recreate=args.recreate, contacts_total=args.contacts
        )
    print(seed_line, flush=True)

    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    data = BenchData(username=args.user)
    pages = resolve_pages(data, args.user, args.only)
    if args.no_bare:
        pages = [(name, path, user, None) for name, path, user, _ in pages]
    elif args.compared:
        pages = [page for page in pages if page[3]]

    servers = []
    try:
        server, base = server_start(env, args.workers)
        servers.append(server)
        users = sorted({user for _, _, user, _ in pages})
        sessions, bare_sessions = {}, {}
        for user in users:
            sessions[user] = HttpSession(base)
            sessions[user].login(user, args.password)
        if any(bare for *_, bare in pages):
            bare_server, bare_base = bare_server_start(env, args.workers)
            servers.append(bare_server)
            for user in users:
                bare_sessions[user] = HttpSession(bare_base)
                status, _ = bare_sessions[user].request(f"/login/?username={user}")
                if status != 200:
                    raise RuntimeError(f"the bare project did not sign {user} in ({status})")
        print(f"Timing {len(pages)} pages as {args.user} ({args.warmup} warm-ups, "
              f"{args.requests} timed requests each, {args.repetitions} repetitions) "
              f"against {base}", flush=True)  # fmt: skip
        results = time_pages(
            sessions,
            pages,
            requests=args.requests,
            warmup=args.warmup,
            repetitions=args.repetitions,
            bare_sessions=bare_sessions,
        )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    count_queries(results)

    print()
    print(seed_line)
    print()
    print(table(results))
    dashboards = dashboard_table(results)
    if dashboards:
        print()
        print(f"Dashboards (goal: a median under {DASHBOARD_GOAL_MS:.0f} ms)")
        print()
        print(dashboards)
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
