"""Scale check: two workers and two beats against one database, with a worker and the leading
beat killed (SIGKILL) mid-way and restarted. ``bin/scale-check [MINUTES]`` (default 10).

The run gets a database of its own on DATABASE_URL's server (``<name>_scale_check``, made
afresh, migrated, dropped at the end unless ``--keep``), or ``--database-url`` names one to use
as it is. The broker is Redis when REDIS_URL is set, otherwise the filesystem broker under a
temporary folder; email goes to an SMTP sink (``tests/smtp_sink.py``) that records every message
it accepts. Besides the product's own schedule (the sweep every ``WORK_SWEEP_SECONDS``, the
minute's outbox and webhook passes), three periodic jobs run every 3, 5 and 7 seconds
(Celery's built-in ``celery.accumulate``, which does nothing but name itself in the worker's
log), and this process queues emails through the outbox service at a steady rate.

At the end it checks, from what the processes logged and the sink received:

- every periodic job with an interval of at most a third of the run was sent once per due
  time: no two sends of a job closer than half its interval (sent twice), no gap longer than
  its interval plus 1.5 s except one (one beat killed) of at most the lease
  (``BEAT_LEASE_SECONDS``) plus the follower's tick plus the interval (the documented
  take-over), and the sends plus the due times that gap skipped make every due time from the
  first send to the last;
- every email queued was delivered exactly once, by Message-ID at the sink (a copy with the
  same Message-ID of a row the outbox marked uncertain, a worker killed in the middle of the
  SMTP hand-off, is counted apart).

It prints a summary and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import (  # noqa: E402  (the checkout's root is put on the path first)
    Process,
    SmtpSink,
    beat_command,
    delivery_figures,
    wait_worker_ready,
    worker_command,
)

#: The periodic jobs the check adds, by interval in seconds.
PROBE_INTERVALS = (3, 5, 7)
PROBE_TASK = "celery.accumulate"
SEND_LINE = re.compile(
    r"^\[(?P<at>[\d-]+ [\d:,]+): INFO/MainProcess\] Scheduler: Sending due task "
    r"(?P<name>\S+) \((?P<task>[^)]+)\)",
    re.MULTILINE,
)
#: Slack on a job's gap: beat wakes a little after a task falls due.
GAP_SLACK_SECONDS = 1.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def admin_connection(database_url: str):
    import psycopg

    parts = urllib.parse.urlsplit(database_url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        dbname="postgres",
        autocommit=True,
    )


def own_database_url(configured: str) -> str:
    parts = urllib.parse.urlsplit(configured)
    name = f"{parts.path.lstrip('/') or 'crm'}_scale_check"
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))


def recreate_database(url: str) -> None:
    name = database_name(url)
    with admin_connection(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    with admin_connection(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


class Run:
    def __init__(self, args):
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="crm-scale-check-"))
        self.logs = self.folder / "logs"
        self.logs.mkdir()
        self.var_dir = self.folder / "var"
        self.var_dir.mkdir()
        configured = os.environ.get("DATABASE_URL", "")
        if args.database_url:
            self.database_url, self.own_database = args.database_url, False
        elif configured.startswith("postgres"):
            self.database_url, self.own_database = own_database_url(configured), True
        else:
            raise SystemExit("error: set DATABASE_URL (a PostgreSQL server) or --database-url")
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.sink = SmtpSink(self.folder / "smtp")
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DJANGO_SETTINGS_MODULE": "crm.settings.base",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "VAR_DIR": str(self.var_dir),
            "EMAIL_URL": self.sink.email_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "WORK_SWEEP_SECONDS": str(args.sweep_seconds),
            "WORK_LEASE_SECONDS": str(args.work_lease_seconds),
            "BEAT_LEASE_SECONDS": str(args.beat_lease_seconds),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "text",
        }
        self.workers = [
            Process(
                f"worker-{n}",
                worker_command(2),
                env=self.env,
                log_path=self.logs / f"worker-{n}.log",
            )
            for n in (1, 2)
        ]
        self.beats = []
        for n in (1, 2):
            folder = self.folder / f"beat-{n}"
            folder.mkdir()
            env = {**self.env, "BEAT_HEARTBEAT_FILE": str(folder / "heartbeat")}
            self.beats.append(
                Process(
                    f"beat-{n}", beat_command(folder), env=env, log_path=self.logs / f"beat-{n}.log"
                )
            )
        self.worker_ready = {w.name: 0 for w in self.workers}
        self.queued: list[int] = []
        self.stop_queuing = threading.Event()
        self.events: list[str] = []

    # --- set up and tear down -------------------------------------------------------------

    def setup(self) -> None:
        log(f"folder {self.folder}")
        if self.own_database:
            recreate_database(self.database_url)
        log(
            f"database {database_name(self.database_url)}; broker "
            + ("Redis " + self.redis_url if self.redis_url else "filesystem (no REDIS_URL)")
        )
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.add_probes()
        if self.redis_url:
            self.flush_queue()
        self.sink.start()

    def flush_queue(self) -> None:
        """Messages left in the queue by an earlier run would be counted as this run's."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        client.delete("celery", "unacked", "unacked_index")

    def add_probes(self) -> None:
        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        for seconds in PROBE_INTERVALS:
            every, _ = IntervalSchedule.objects.get_or_create(
                every=seconds, period=IntervalSchedule.SECONDS
            )
            name = f"scale-check-{seconds}s"
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={"task": PROBE_TASK, "interval": every, "args": json.dumps([name])},
            )

    def teardown(self) -> None:
        self.stop_queuing.set()
        for process in (*self.beats, *self.workers, self.sink):
            process.stop(timeout=20)
        from django.db import connections

        connections.close_all()
        if self.own_database and not self.args.keep:
            drop_database(self.database_url)
        if self.args.keep:
            log(
                f"kept {self.folder}"
                + (f" and database {database_name(self.database_url)}" if self.own_database else "")
            )
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- processes ---------------------------------------------------------------------------

    def start_worker(self, worker: Process) -> None:
        worker.start()
        self.worker_ready[worker.name] += 1
        wait_worker_ready(worker, self.worker_ready[worker.name])

    def leading_beat(self) -> Process | None:
        from crm.models import BeatLeader

        row = BeatLeader.objects.filter(pk=1).first()
        if row is None:
            return None
        pid = row.owner.split(":")[1] if row.owner.count(":") >= 2 else ""
        return next((b for b in self.beats if b.popen and str(b.popen.pid) == pid), None)

    def event(self, text: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {text}")
        log(text)

    # --- emails ------------------------------------------------------------------------------

    def queue_emails(self) -> None:
        from django.db import connection, transaction

        from crm.services.outbox import email_queue

        interval = 1.0 / self.args.emails_per_second
        n = 0
        try:
            while not self.stop_queuing.is_set():
                n += 1
                with transaction.atomic():
                    email = email_queue(
                        to_email=f"scale-check-{n}@example.com",
                        subject=f"Scale check {n}",
                        body_text=f"Message {n} of the scale check.",
                        idempotency_key=f"scale-check-{n}",
                    )
                self.queued.append(email.pk)
                self.stop_queuing.wait(interval)
        finally:
            connection.close()

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> dict:
        args = self.args
        duration = args.minutes * 60
        for worker in self.workers:
            self.start_worker(worker)
        began = time.monotonic()
        beats_started = time.time()
        for beat in self.beats:
            beat.start()
        self.event("two workers and two beats started")
        queuer = threading.Thread(target=self.queue_emails, daemon=True)
        queuer.start()

        time.sleep(duration / 2)
        leader = self.leading_beat() or self.beats[0]
        victim = self.workers[0]
        victim.kill()
        leader.kill()
        self.event(f"SIGKILL to {victim.name} and to {leader.name} (the leading beat)")
        time.sleep(args.restart_after)
        self.start_worker(victim)
        leader.start()
        self.event(f"{victim.name} and {leader.name} restarted")

        time.sleep(max(duration - (time.monotonic() - began), 0))
        self.stop_queuing.set()
        queuer.join()
        self.event(f"stopped queuing emails ({len(self.queued)} queued)")
        settled = self.wait_emails()
        self.event("emails settled" if settled else "emails did not all arrive in time")
        for beat in self.beats:
            beat.stop(timeout=20)
        beats_stopped = time.time()
        self.event("beats stopped")
        # What a worker still holds is done by now; the workers' logs are complete.
        for worker in self.workers:
            worker.stop(timeout=30)
        return {
            "jobs": self.check_jobs(beats_started, beats_stopped),
            "emails": self.check_emails(),
            "kills": {"workers": 1, "beats": 1},
            "leader_changes": self.leader_changes(),
        }

    def wait_emails(self) -> bool:
        from crm.models import OutboundEmail

        rows = OutboundEmail.objects.filter(pk__in=self.queued)
        deadline = time.monotonic() + self.args.settle_seconds
        while time.monotonic() < deadline:
            if not rows.exclude(status="sent").exists():
                return True
            time.sleep(1)
        return False

    # --- the checks ------------------------------------------------------------------------------

    def sends(self) -> dict[str, list[tuple[float, str]]]:
        """(time, beat) of every send of every periodic job, from both beats' logs."""
        found: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for beat in self.beats:
            for match in SEND_LINE.finditer(beat.log_text()):
                at = dt.datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found[match["name"]].append((at, beat.name))
        for times in found.values():
            times.sort()
        return found

    def executed(self) -> dict[str, int]:
        """Distinct runs of each probe job the workers finished (a message is one run however
        often it is delivered)."""
        pattern = re.compile(
            r"Task " + re.escape(PROBE_TASK) + r"\[(?P<id>[0-9a-f-]+)\] succeeded in [\d.e-]+s: "
            r"\('(?P<name>[^']+)',\)"
        )
        ids: dict[str, set[str]] = defaultdict(set)
        for worker in self.workers:
            for match in pattern.finditer(worker.log_text()):
                ids[match["name"]].add(match["id"])
        return {name: len(found) for name, found in ids.items()}

    def check_jobs(self, started: float, stopped: float) -> dict:
        from django_celery_beat.models import PeriodicTask

        sends = self.sends()
        executed = self.executed()
        take_over = self.args.beat_lease_seconds + max(
            1.0, min(5.0, self.args.beat_lease_seconds / 3)
        )
        results = {}
        span = stopped - started
        # A take-over gap: the lease, the follower's next try, then the job's own interval.
        for task in PeriodicTask.objects.filter(enabled=True, interval__isnull=False):
            seconds = task.interval.schedule.run_every.total_seconds()
            if seconds > span / 3:
                continue  # too rare to check in this run
            times = [at for at, _ in sends.get(task.name, [])]
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            twice = sum(1 for gap in gaps if gap < seconds / 2)
            late = [gap for gap in gaps if gap > seconds + GAP_SLACK_SECONDS]
            allowed = seconds + take_over + GAP_SLACK_SECONDS
            beyond = [gap for gap in late if gap > allowed]
            # Every due time from the first send to the last, less those a take-over skipped.
            due = 1 + round((times[-1] - times[0]) / seconds) if times else 0
            skipped = sum(round(gap / seconds) - 1 for gap in late)
            result = {
                "every_s": seconds,
                "sent": len(times),
                "due_times": due,
                "skipped_in_take_over": skipped,
                "by_beat": dict(_count(beat for _, beat in sends.get(task.name, []))),
                "sent_twice": twice,
                "late_gaps": [round(g, 1) for g in late],
                "max_gap_s": round(max(gaps), 1) if gaps else None,
                "ok": bool(times)
                and twice == 0
                and not beyond
                and len(late) <= 1  # one beat killed: one take-over gap
                and abs(len(times) + skipped - due) <= 1,
            }
            if task.task == PROBE_TASK:
                result["executed_by_workers"] = executed.get(task.name, 0)
            results[task.name] = result
        return results

    def check_emails(self) -> dict:
        from crm.models import OutboundEmail
        from crm.services.outbox import outbox_message_id

        rows = []
        for email in OutboundEmail.objects.filter(pk__in=self.queued).order_by("pk"):
            rows.append(
                (
                    email.pk,
                    email.status,
                    bool(getattr(email, "uncertain", False)),
                    outbox_message_id(email),
                )
            )
        deliveries = [
            line
            for line in self.sink.deliveries()
            if line["to"] and line["to"][0].startswith("scale-check-")
        ]
        figures = delivery_figures(rows, deliveries).as_dict()
        figures["ok"] = (
            figures["emails"] > 0
            and figures["lost"] == 0
            and figures["duplicates_beyond_uncertain"] == 0
            and figures["message_id_mismatches"] == 0
            and not figures["unsent"]
        )
        return figures

    def leader_changes(self) -> list[str]:
        lines = []
        for beat in self.beats:
            for line in beat.log_text().splitlines():
                if (
                    "beat: leading" in line
                    or "beat: standing by" in line
                    or "gave the lead" in line
                ):
                    lines.append(f"{line[12:24]} {beat.name}: {line.split('] ', 1)[-1]}")
        return sorted(lines)


def _count(items):
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def summary(run: Run, results: dict, seconds: float) -> str:
    lines = [
        "",
        f"scale check: {run.args.minutes:g} min, two workers, two beats, "
        f"BEAT_LEASE_SECONDS={run.args.beat_lease_seconds}",
        "",
    ]
    lines.append("events:")
    lines += [f"  {event}" for event in run.events]
    lines.append("leadership (from the beats' logs):")
    lines += [f"  {line}" for line in results["leader_changes"]]
    lines.append("")
    lines.append(
        f"{'periodic job':<26} {'every':>6} {'due':>5} {'sent':>5} {'skipped':>8} {'twice':>6} "
        f"{'max gap':>8}  {'ok':<4} sent by / late gaps / run by workers"
    )
    for name, job in sorted(results["jobs"].items(), key=lambda kv: kv[1]["every_s"]):
        extra = f"{job['by_beat']} late={job['late_gaps']}"
        if "executed_by_workers" in job:
            extra += f" run={job['executed_by_workers']}"
        lines.append(
            f"{name:<26} {job['every_s']:>5g}s {job['due_times']:>5} {job['sent']:>5} "
            f"{job['skipped_in_take_over']:>8} {job['sent_twice']:>6} {job['max_gap_s'] or 0:>7}s  "
            f"{'yes' if job['ok'] else 'NO':<4} {extra}"
        )
    e = results["emails"]
    lines.append("")
    lines.append(
        f"emails: {e['emails']} queued, {e['delivered_once']} delivered once, {e['lost']} missing, "
        f"{e['duplicates_beyond_uncertain']} sent twice, {e['uncertain_copies']} copies of "
        f"uncertain rows (same Message-ID), {e['message_id_mismatches']} Message-ID mismatches, "
        f"unsent {e['unsent'] or 0}  -> {'ok' if e['ok'] else 'FAILED'}"
    )
    ok = all(j["ok"] for j in results["jobs"].values()) and e["ok"]
    lines.append("")
    lines.append(f"{'PASSED' if ok else 'FAILED'} in {seconds:.0f} s")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("minutes", nargs="?", type=float, default=10.0)
    parser.add_argument("--database-url", default="", help="use this database as it is")
    parser.add_argument("--emails-per-second", type=float, default=2.0)
    parser.add_argument("--beat-lease-seconds", type=int, default=30)
    parser.add_argument("--sweep-seconds", type=int, default=5)
    parser.add_argument("--work-lease-seconds", type=int, default=15)
    parser.add_argument(
        "--restart-after",
        type=float,
        default=5.0,
        help="seconds between the kills and the restarts",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=120,
        help="how long the last emails may take after queuing stops",
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder and the database")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Run(args)
    began = time.monotonic()
    try:
        run.setup()
        results = run.run()
    finally:
        run.teardown()
    print(summary(run, results, time.monotonic() - began))
    ok = all(j["ok"] for j in results["jobs"].values()) and results["emails"]["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
