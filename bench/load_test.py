"""A day of reps, agents and managers against the product, measured: ``bin/load-test``.

``python bench/load_test.py [USERS] [MINUTES]`` (default 50 users for 10 minutes), on the
database in ``DATABASE_URL`` once it holds the demo data (``manage.py seed_demo --scale N``):

1. makes the load users (``bench/load_users.py``: 20 reps, 10 agents, 3 managers by default,
   each rep owning open leads and deals);
2. starts, as a production host runs them, gunicorn (DEBUG off, ``crm.gunicorn_conf``,
   ``WEB_CONCURRENCY`` or 2 × cores + 1 workers), a Celery worker and beat on the same
   database and broker (``REDIS_URL``), and an SMTP sink (``tests/smtp_sink.py``) as the mail
   server;
3. runs locust headless (``bench/locust/locustfile.py``; reps, agents and managers 6:3:1) and
   writes its CSV statistics to ``var/load-test/<time>/``;
4. prints p50/p95 per page, requests per second, the errors (every answer outside 2xx/3xx, and
   every server error the web log shows), the emails delivered, and the CPU time each part
   used (web, worker, the database's server processes for this database) per request;
5. with ``--emails N`` (default 1000, 0 to skip), queues N emails at once and times the worker
   delivering them: emails per second for its concurrency.

The machine's load average is printed before and after, since the figures depend on it.
Exits 1 when any request failed or the web log shows a server error.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import (  # noqa: E402 - after the path
    Process,
    SmtpSink,
    beat_command,
    free_port,
    wait_for_port,
    wait_worker_ready,
    worker_command,
)

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process so far, from ``/proc`` (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    pids = [int(p) for p in found]
    return pids + [grand for p in pids for grand in _children(p)]


class CpuSampler(threading.Thread):
    """Samples the CPU time of every process of each part every second and keeps the last
    value seen per process, so a process that exits mid-run (a database connection closed
    after ``CONN_MAX_AGE``) still counts, up to its last second."""

    def __init__(self, parts: dict, database_pids):
        super().__init__(daemon=True)
        self.parts = parts  # name -> root pid
        self.database_pids = database_pids  # callable -> pids of this database's backends
        self.seen: dict[str, dict[int, float]] = {name: {} for name in [*parts, "database"]}
        self.start_values: dict[str, dict[int, float]] = {}
        self.running = True

    def sample(self) -> None:
        for name, root in self.parts.items():
            for pid in [root, *_children(root)]:
                value = _cpu_seconds(pid)
                if value is not None:
                    self.seen[name][pid] = value
        for pid in self.database_pids():
            value = _cpu_seconds(pid)
            if value is not None:
                self.seen["database"][pid] = value

    def mark(self) -> None:
        """From now on: what processes used before this moment is not counted."""
        self.sample()
        self.start_values = {name: dict(values) for name, values in self.seen.items()}

    def used(self) -> dict[str, float]:
        self.sample()
        return {
            name: sum(
                v - self.start_values.get(name, {}).get(pid, 0.0) for pid, v in values.items()
            )
            for name, values in self.seen.items()
        }

    def run(self):
        while self.running:
            self.sample()
            time.sleep(1)


def _load() -> str:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {one}, {five}, {fifteen} ({os.cpu_count()} cores)"


def _locust_command(explicit: str) -> str:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "locust"
    if beside.exists():
        return str(beside)
    found = shutil.which("locust")
    if not found:
        sys.exit("locust is not installed: `make venv` (requirements-dev.txt) or --locust PATH.")
    return found


def stats_rows(prefix: Path) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def failure_rows(prefix: Path) -> list[dict]:
    try:
        with open(f"{prefix}_failures.csv", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def stats_table(rows: list[dict]) -> str:
    lines = [
        "| page | method | requests | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", r["Type"], r["Name"])):
        lines.append(
            f"| {row['Name'] if row['Name'] != 'Aggregated' else '**all**'} | {row['Type']} "
            f"| {int(row['Request Count']):,} | {int(row['Failure Count']):,} "
            f"| {row['50%']} | {row['95%']} | {row['99%']} | {float(row['Max Response Time']):.0f} |"
        )
    return "\n".join(lines)


def warm_up(base: str, workers: int) -> None:
    """A few sign-in pages per gunicorn worker, in parallel, before the clock starts: each
    worker loads Django's URLs and templates on its first request, which is not the steady
    state a day of work measures."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_):
        with urllib.request.urlopen(base + "/login/", timeout=120) as response:
            response.read()

    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        list(pool.map(fetch, range(6 * workers)))


def server_errors(log_text: str) -> list[str]:
    """Lines of the web log that report an exception (a 500 the client may also have seen)."""
    marks = ("Traceback (most recent call last)", "Internal Server Error", "[CRITICAL]")
    return [line for line in log_text.splitlines() if any(m in line for m in marks)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", nargs="?", type=int, default=50)
    parser.add_argument("minutes", nargs="?", type=float, default=10)
    parser.add_argument("--spawn-rate", type=float, default=1.0, help="Users started a second.")
    parser.add_argument("--wait", default="2-8", help="Seconds between clicks (min-max).")
    parser.add_argument("--web-workers", type=int, default=0, help="Default: 2 x cores + 1.")
    parser.add_argument("--worker-concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--password", default="demo")
    parser.add_argument(
        "--emails", type=int, default=1000, help="Worker throughput step (0: skip)."
    )
    parser.add_argument(
        "--locust", default="", help="The locust executable (default: beside Python)."
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "load-test"))
    args = parser.parse_args(argv)

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        parser.error("set DATABASE_URL to the seeded PostgreSQL database to load")
    locust = _locust_command(args.locust)
    workers = (
        args.web_workers or int(os.environ.get("WEB_CONCURRENCY", 0)) or 2 * os.cpu_count() + 1
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) / stamp
    out.mkdir(parents=True, exist_ok=True)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DEBUG": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PROMETHEUS_MULTIPROC_DIR": str(out / "metrics"),
    }
    sink = SmtpSink(out, env=env)
    env["EMAIL_URL"] = sink.email_url
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from bench.load_users import load_users_create
    from crm.choices import OutboxStatus
    from crm.models import OutboundEmail, TaskFailureCount
    from crm.seeding.run import demo_data_exists

    if not demo_data_exists():
        sys.exit("No demo data in DATABASE_URL: run `manage.py seed_demo --scale N --force` first.")
    people = load_users_create(
        reps=args.reps, agents=args.agents, managers=args.managers, password=args.password
    )
    connection.close()

    load_before = _load()
    print(f"before: {load_before}", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = Process(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "crm.wsgi:application",
            "--config=python:crm.gunicorn_conf",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            "--timeout=60",
            "--log-level=warning",
        ],
        env=env,
        log_path=out / "web.log",
    )
    worker = Process(
        "worker", worker_command(args.worker_concurrency), env=env, log_path=out / "worker.log"
    )
    beat = Process("beat", beat_command(out), env=env, log_path=out / "beat.log")
    processes = [sink, web, worker, beat]
    failures_before = dict(TaskFailureCount.objects.values_list("task", "count"))
    try:
        sink.start()
        worker.start()
        beat.start()
        web.start()
        wait_for_port(port, timeout=90, process=web)
        wait_worker_ready(worker, 1)

        database = connection.settings_dict["NAME"]

        def database_pids():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                    "pg_backend_pid()",
                    [database],
                )
                return [row[0] for row in cursor.fetchall()]

        warm_up(base, workers)
        sampler = CpuSampler({"web": web.popen.pid, "worker": worker.popen.pid}, database_pids)
        sampler.mark()
        sampler.start()
        sent_before = OutboundEmail.objects.filter(status=OutboxStatus.SENT).count()
        delivered_before = sink.count()
        prefix = out / "locust"
        started = time.monotonic()
        locust_env = {
            **env,
            "LOAD_TEST_USERS": json.dumps(
                {"reps": people.reps, "agents": people.agents, "managers": people.managers}
            ),
            "LOAD_TEST_PASSWORD": args.password,
            "LOAD_TEST_WAIT": args.wait,
        }
        ran = subprocess.run(
            [
                locust,
                "-f",
                str(ROOT / "bench" / "locust" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{int(args.minutes * 60)}s",
                "--host",
                base,
                "--csv",
                str(prefix),
                "--only-summary",
                "--stop-timeout",
                "30",
                "--loglevel",
                "WARNING",
            ],
            env=locust_env,
            cwd=ROOT,
            check=False,
        )
        elapsed = time.monotonic() - started
        if not Path(f"{prefix}_stats.csv").exists():
            print(f"locust exited with {ran.returncode} and wrote no statistics", file=sys.stderr)
            return 2
        used = sampler.used()
        load_after = _load()
        delivered = sink.count() - delivered_before
        sent = OutboundEmail.objects.filter(status=OutboxStatus.SENT).count() - sent_before
        rows = stats_rows(prefix)
        total = next(r for r in rows if r["Name"] == "Aggregated")
        requests = int(total["Request Count"])
        request_errors = int(total["Failure Count"])
        errors_logged = server_errors(web.log_text())
        task_failures = {
            task: count - failures_before.get(task, 0)
            for task, count in TaskFailureCount.objects.values_list("task", "count")
            if count != failures_before.get(task, 0)
        }

        report = [
            f"## Load test: {args.users} users for {args.minutes:g} min",
            "",
            f"{database} ({_contacts()} contacts); gunicorn {workers} workers, Celery worker "
            f"concurrency {args.worker_concurrency}, beat; think time {args.wait} s; reps, "
            f"agents, managers 6:3:1 ({len(people.reps)} reps, {len(people.agents)} agents, "
            f"{len(people.managers)} managers to sign in as).",
            "",
            stats_table(rows),
            "",
            f"- {requests:,} requests in {elapsed:.0f} s: {requests / elapsed:.1f} requests/s",
            f"- errors: {request_errors} requests failed; {len(errors_logged)} server errors "
            f"in the web log; task failures: {task_failures or 'none'}",
            f"- emails: {sent} sent by the outbox, {delivered} delivered to the sink "
            f"({delivered / elapsed:.2f}/s)",
            f"- CPU seconds used: web {used['web']:.0f}, worker "
            f"{used['worker']:.0f}, database (this database's server processes) "
            f"{used['database']:.0f}; per request: web {1000 * used['web'] / max(requests, 1):.1f}"
            f" ms, database {1000 * used['database'] / max(requests, 1):.1f} ms",
            f"- one web core carries about {requests / max(used['web'], 0.001):.0f} requests/s of "
            f"this mix (requests per web CPU second); the database about "
            f"{requests / max(used['database'], 0.001):.0f} per database CPU second",
            f"- before: {load_before}; after: {load_after}",
        ]
        for failure in failure_rows(prefix)[:20]:
            report.append(
                f"- failed {failure['Method']} {failure['Name']}: {failure['Error']} "
                f"({failure['Occurrences']}×)"
            )
        for line in errors_logged[:20]:
            report.append(f"- web log: {line}")

        if args.emails:
            report.append(_email_step(args.emails, sampler, worker))
        sampler.running = False
        text = "\n".join(report)
        (out / "report.md").write_text(text + "\n")
        print(text)
        print(f"\nCSV statistics and logs: {out}")
        return 1 if request_errors or errors_logged else 0
    finally:
        for process in reversed(processes):
            process.stop()


def _contacts() -> str:
    from crm.models import Contact

    return f"{Contact.objects.count():,}"


def _email_step(count: int, sampler: CpuSampler, worker: Process) -> str:
    """Queue ``count`` emails at once and time the worker sending them all (to the sink)."""
    from crm.choices import OutboxStatus
    from crm.models import OutboundEmail
    from crm.services.outbox import OutboxMessage, email_queue_many

    key = "load-test:" + dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    cpu_before = sampler.used()["worker"]
    started = time.monotonic()
    email_queue_many(
        messages=(
            OutboxMessage(
                to_email=f"load-{i}@load.example.com",
                subject=f"Load test {i}",
                body_text="A message of the load test's email step.\n" * 20,
                idempotency_key=f"{key}:{i}",
            )
            for i in range(count)
        )
    )
    mine = OutboundEmail.objects.filter(idempotency_key__startswith=key)
    deadline = started + max(120, count / 2)
    sent = 0
    while time.monotonic() < deadline and worker.running:
        sent = mine.filter(status=OutboxStatus.SENT).count()
        if sent >= count:
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu = sampler.used()["worker"] - cpu_before
    return (
        f"- email step: {sent} of {count} emails queued at once were sent in {elapsed:.1f} s: "
        f"{sent / elapsed:.0f}/s at the worker's concurrency, "
        f"{sent / max(cpu, 0.001):.0f} per worker CPU second"
    )


if __name__ == "__main__":
    sys.exit(main())
