"""Fault run: the promises of DESIGN.md ("Automations") measured against real processes.

``make faults`` (arguments in ``FAULTS_ARGS``) builds a throwaway installation under a temporary
folder: its own embedded PostgreSQL (``VAR_DIR``), migrated and loaded with the demo data by
``migrate`` and ``seed_demo``; a Redis on a free port as the broker; an SMTP sink
(``tests/smtp_sink.py``) that records every message it accepts; Celery worker and beat started
as ``bin/dev`` starts them; and the web server. Then five scenarios, each with the figures the
product promises:

1. ``campaign``: an email campaign (2,500 emails) while the worker's process group is killed
   with SIGKILL mid-batch 20 times and restarted: no email lost, none twice except those the
   outbox marks uncertain (re-sent with the same Message-ID).
2. ``flush``: the broker is flushed while an import, an NPS run, a segment enrolment and queued
   emails wait in it: the sweep completes all of them within two sweep periods.
3. ``import``: a 100,000-row lead import whose worker is killed twice finishes by itself, with
   every good row imported once.
4. ``edits``: two people save the same record at the same moment: one conflict message, no
   field lost.
5. ``outage``: the database stops for 30 s under web traffic: 503s while it is down, no 500, and
   every write the web confirmed is there afterwards.

The sweep runs every ``WORK_SWEEP_SECONDS`` (5 here) and leases last ``WORK_LEASE_SECONDS`` (15);
beat uses the production schedule (django-celery-beat copies ``CELERY_BEAT_SCHEDULE``). The
figures are printed as a table and written to ``var/faults.json``.

    python bench/faults.py [--emails 2500] [--kills 20] [--import-rows 100000]
                           [--import-kills 2] [--outage-seconds 30] [--only campaign flush ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import (  # noqa: E402  (the checkout's root is put on the path first)
    HttpSession,
    Process,
    RedisServer,
    SmtpSink,
    beat_command,
    delivery_figures,
    free_port,
    wait_for_port,
    wait_worker_ready,
    web_command,
    worker_command,
)

SCENARIOS = ("campaign", "flush", "import", "edits", "outage")
PASSWORD = "faults-" + secrets.token_hex(4)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def poll(condition, *, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class Stack:
    """The installation under test and its processes."""

    def __init__(self, args):
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="crm-faults-"))
        self.var_dir = self.folder / "var"
        self.var_dir.mkdir()
        self.logs = self.folder / "logs"
        self.logs.mkdir()
        from crm.localdb import EmbeddedServer

        self.database_url = EmbeddedServer(self.var_dir).url()
        self.redis = RedisServer(self.folder / "redis")
        self.sink = SmtpSink(self.folder / "smtp", delay=args.smtp_delay)
        self.web_port = free_port()
        base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env = {
            **base_env,
            "DJANGO_SETTINGS_MODULE": "crm.settings.base",
            "VAR_DIR": str(self.var_dir),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "EMAIL_URL": self.sink.email_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": f"http://127.0.0.1:{self.web_port}",
            "WORK_SWEEP_SECONDS": str(args.sweep_seconds),
            "WORK_LEASE_SECONDS": str(args.lease_seconds),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }
        # The embedded server's own commands read VAR_DIR only (with DATABASE_URL set they
        # would leave the server alone).
        self.localdb_env = {k: v for k, v in self.env.items() if k != "DATABASE_URL"}
        self.worker = Process(
            "worker", worker_command(2), env=self.env, log_path=self.logs / "worker.log"
        )
        self.beat = Process(
            "beat", beat_command(self.var_dir), env=self.env, log_path=self.logs / "beat.log"
        )
        self.web = Process(
            "web", web_command(self.web_port), env=self.env, log_path=self.logs / "web.log"
        )
        self.worker_starts = 0

    # --- the database ---------------------------------------------------------------------

    def localdb(self, action: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "crm.localdb", action],
            cwd=ROOT,
            env=self.localdb_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def setup(self) -> None:
        log(f"installation under {self.folder}")
        self.localdb("start")
        started = time.monotonic()
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("seed_demo", "--force", "--password", PASSWORD)
        log(f"migrated and seeded in {time.monotonic() - started:.0f} s")
        os.environ.update(self.env)
        import django

        django.setup()
        self.redis.start()
        self.sink.start()
        self.beat.start()
        self.web.start()
        self.worker_start()
        wait_for_port(self.web_port, timeout=60, process=self.web)

    # --- the worker -----------------------------------------------------------------------

    def worker_start(self) -> float:
        """Start the worker; returns the seconds until it took messages."""
        self.worker.start()
        self.worker_starts += 1
        return wait_worker_ready(self.worker, self.worker_starts)

    def worker_kill(self) -> None:
        self.worker.kill()

    def worker_stop(self) -> None:
        self.worker.stop()

    def teardown(self) -> None:
        for process in (self.worker, self.beat, self.web, self.sink, self.redis):
            process.stop(timeout=10)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up
            pass
        try:
            self.localdb("stop")
        except subprocess.CalledProcessError:
            log("warning: the embedded PostgreSQL did not stop")
        if self.args.keep:
            log(f"kept {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def session(self, username: str) -> HttpSession:
        session = HttpSession(f"http://127.0.0.1:{self.web_port}")
        session.login(username, PASSWORD)
        return session


def user(username: str):
    from crm.models import User

    return User.objects.get(username=username)


def outbox_rows(queryset) -> list[tuple]:
    """(id, status, uncertain, Message-ID) of outbox rows, for ``delivery_figures``."""
    from crm.services.outbox import outbox_message_id

    has_uncertain = any(f.name == "uncertain" for f in queryset.model._meta.fields)
    rows = []
    for email in queryset.order_by("pk"):
        rows.append(
            (
                email.pk,
                email.status,
                bool(getattr(email, "uncertain", False)) if has_uncertain else False,
                outbox_message_id(email),
            )
        )
    return rows


# --- 1. a campaign under SIGKILLs -------------------------------------------------------------


def scenario_campaign(stack: Stack, rng: random.Random) -> dict:
    from django.db import transaction

    from crm.models import OutboundEmail
    from crm.segments.services import segment_create
    from crm.services.customers import account_create, contact_create
    from leads.campaigns.services.authoring import email_campaign_create
    from leads.campaigns.services.sending import email_campaign_schedule, outbox_key_prefix
    from leads.choices import RecipientStatus
    from leads.models import Campaign, CampaignRecipient

    args = stack.args
    manager = user("manager")
    started = time.monotonic()
    with transaction.atomic():
        account = account_create(user=manager, name="Faults Campaign GmbH", country="DE")
        for n in range(args.emails):
            contact_create(
                user=manager,
                summary=None,
                first_name=f"Ada{n}",
                last_name="Faults",
                email=f"faults-campaign-{n}@example.com",
                title="Faults Campaign VP",
                account=account,
                marketing_consent=True,
            )
        segment = segment_create(
            user=manager,
            name="Faults campaign audience",
            target="contact",
            shared=True,
            definition={
                "op": "and",
                "children": [
                    {"criterion": "title", "operator": "contains", "value": "Faults Campaign VP"}
                ],
            },
        )
        campaign = email_campaign_create(
            user=manager,
            variants=[("News for {{ first_name }}", "Dear {{ full_name }}, https://example.com")],
            name="Faults campaign",
            campaign=Campaign.objects.order_by("pk").first(),
            segment=segment,
            rate_per_minute=args.rate or args.emails,
            track_opens=True,
            test_fraction=1,
            winner_after_hours=None,
        )
    log(f"campaign: {args.emails} contacts made in {time.monotonic() - started:.0f} s")
    outbox = OutboundEmail.objects.filter(
        idempotency_key__startswith=outbox_key_prefix(campaign.pk)
    )
    recipients = CampaignRecipient.objects.filter(campaign=campaign)

    def done() -> bool:
        return (
            not recipients.filter(status=RecipientStatus.PENDING).exists()
            and outbox.count() > 0
            and not outbox.exclude(status="sent").exists()
        )

    sent_before = stack.sink.count()
    began = time.monotonic()
    email_campaign_schedule(campaign=campaign, user=manager)  # "send now"
    kill_times, restart_seconds = [], []
    while len(kill_times) < args.kills and not done():
        if time.monotonic() - began > args.campaign_budget:
            log("campaign: out of time for kills")
            break
        # Mid-batch: the worker is handing messages to the SMTP server right now.
        seen = stack.sink.count()
        if not poll(lambda seen=seen: stack.sink.count() > seen, timeout=args.settle_seconds):
            log("campaign: no email arrived for a while; no more kills")
            break
        time.sleep(rng.uniform(0, args.kill_jitter))
        stack.worker_kill()
        kill_times.append(round(time.monotonic() - began, 1))
        time.sleep(rng.uniform(0, 0.5))
        restart_seconds.append(stack.worker_start())
    log(f"campaign: {len(kill_times)} kills; waiting for the last emails")
    finished = _wait_settled(
        done,
        progress=lambda: (stack.sink.count(), outbox.filter(status="sent").count()),
        stall=args.settle_seconds,
        cap=args.settle_seconds * 3,
    )
    elapsed = time.monotonic() - began
    deliveries = [
        line
        for line in stack.sink.deliveries()[sent_before:]
        if line["to"] and line["to"][0].startswith("faults-campaign-")
    ]
    figures = delivery_figures(outbox_rows(outbox), deliveries).as_dict()
    never_queued = recipients.filter(status=RecipientStatus.PENDING).count()
    return {
        "emails": args.emails,
        "kills": len(kill_times),
        "kill_at_s": kill_times,
        "worker_restart_s": round(sum(restart_seconds) / max(len(restart_seconds), 1), 1),
        "all_delivered": finished,
        "never_queued": never_queued,
        **figures,
        "seconds": round(elapsed, 1),
        "ok": finished
        and figures["lost"] == 0
        and never_queued == 0
        and figures["duplicates_beyond_uncertain"] == 0
        and figures["message_id_mismatches"] == 0,
    }


def _wait_settled(done, *, progress, stall: float, cap: float) -> bool:
    """Wait until ``done()``, or ``progress()`` has not changed for ``stall`` seconds, or
    ``cap`` seconds pass; True when done."""
    deadline = time.monotonic() + cap
    last, since = progress(), time.monotonic()
    while not done():
        now = time.monotonic()
        if now > deadline:
            return False
        current = progress()
        if current != last:
            last, since = current, now
        elif now - since > stall:
            return False
        time.sleep(0.5)
    return True


# --- 2. the broker flushed ---------------------------------------------------------------------


def write_import_csv(path: Path, rows: int, tag: str) -> set[str]:
    """A lead CSV whose good rows are known: every 50th row has a bad email (an error row),
    every 40th repeats the email of the row 100 lines up (a duplicate, skipped). Returns the
    emails of the good rows."""
    good = set()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First name", "Last name", "Email", "Company", "Job title", "Country"])
        kinds = {}
        for n in range(rows):
            kind = "good"
            if n % 50 == 7:
                kind = "bad"
            elif n % 40 == 13 and n >= 100 and kinds.get(n - 100) == "good":
                kind = "duplicate"
            kinds[n] = kind
            email = f"{tag}-{n}@import{n % 900}.example"
            if kind == "bad":
                email = f"not-an-email-{n}"
            elif kind == "duplicate":
                email = f"{tag}-{n - 100}@import{(n - 100) % 900}.example"
            else:
                good.add(email)
            writer.writerow(
                [f"First{n}", f"Faults{n}", email, f"Import Co {n % 900}", "Buyer", "DE"]
            )
    return good


def import_start(path: Path, *, owner):
    from django.core.files import File
    from django.db import transaction

    from leads.services.imports import import_job_create, import_job_queue

    with transaction.atomic(), path.open("rb") as handle:
        job = import_job_create(user=owner, upload=File(handle, name=path.name), owner=owner)
        import_job_queue(job)
    return job


def import_check(tag: str, good: set[str]) -> dict:
    from django.db.models import Count

    from leads.models import Lead

    counts = dict(
        Lead.objects.filter(email__startswith=f"{tag}-")
        .values_list("email")
        .annotate(n=Count("id"))
        .values_list("email", "n")
    )
    return {
        "good_rows": len(good),
        "imported_once": sum(1 for email in good if counts.get(email) == 1),
        "missing": sum(1 for email in good if email not in counts),
        "twice_or_more": sum(1 for n in counts.values() if n > 1),
        "not_good_imported": sum(1 for email in counts if email not in good),
    }


def scenario_flush(stack: Stack, rng: random.Random) -> dict:
    from django.db import transaction

    from crm.models import OutboundEmail
    from crm.segments.services import segment_create
    from crm.services.customers import account_create, contact_create
    from crm.services.outbox import email_queue
    from leads.choices import ImportStatus, SegmentEnrolmentStatus
    from leads.models import ImportJob, SegmentEnrolment, Sequence
    from leads.services.segment_enrolments import segment_enrolment_queue
    from retention.models import NpsSurvey
    from retention.services.nps import nps_run_start

    args = stack.args
    manager, rep = user("manager"), user("rep")
    run_tag = uuid.uuid4().hex[:6]
    nps_contacts = 30
    with transaction.atomic():
        account = account_create(user=manager, name=f"Faults NPS {run_tag}", country="DE")
        for n in range(nps_contacts):
            contact_create(
                user=manager,
                summary=None,
                first_name=f"Nina{n}",
                last_name="Faults",
                email=f"faults-nps-{run_tag}-{n}@example.com",
                title=f"Faults NPS {run_tag}",
                account=account,
                email_consent=True,
            )
        nps_segment = segment_create(
            user=manager,
            name=f"Faults NPS audience {run_tag}",
            target="contact",
            definition={
                "op": "and",
                "children": [
                    {"criterion": "title", "operator": "contains", "value": f"Faults NPS {run_tag}"}
                ],
            },
        )
        lead_segment = segment_create(
            user=manager,
            name=f"Faults VP leads {run_tag}",
            target="lead",
            definition={
                "op": "and",
                "children": [{"criterion": "title", "operator": "contains", "value": "VP"}],
            },
        )
    csv_path = stack.folder / f"flush-import-{run_tag}.csv"
    tag = f"faults-flush-{run_tag}"
    good = write_import_csv(csv_path, args.flush_import_rows, tag)

    # The worker is down while the work is asked for: every wake-up waits in the broker.
    stack.worker_stop()
    job = import_start(csv_path, owner=rep)
    with transaction.atomic():
        run = nps_run_start(name=f"Faults NPS {run_tag}", user=manager, segment=nps_segment)
    with transaction.atomic():
        enrolment = segment_enrolment_queue(
            segment=lead_segment, sequence=Sequence.objects.order_by("pk").first(), user=manager
        )
    with transaction.atomic():
        emails = [
            email_queue(
                to_email=f"faults-flush-{run_tag}-{n}@example.com",
                subject=f"Faults flush {n}",
                body_text="Waiting in the broker when it was flushed.",
                idempotency_key=f"faults:flush:{run_tag}:{n}",
            )
            for n in range(args.flush_emails)
        ]
    waiting = stack.redis.queued_messages()
    stack.redis.flush()
    flushed_at = time.monotonic()
    log(f"flush: {waiting} messages flushed; starting the worker")
    ready = stack.worker_start()

    checks = {
        "import": lambda: ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).exists(),
        "nps_run": lambda: NpsSurvey.objects.filter(run=run).count() >= nps_contacts,
        "enrolment": lambda: SegmentEnrolment.objects.filter(
            pk=enrolment.pk, status=SegmentEnrolmentStatus.DONE
        ).exists(),
        "emails": lambda: (
            not OutboundEmail.objects.filter(pk__in=[e.pk for e in emails])
            .exclude(status="sent")
            .exists()
        ),
    }
    completed: dict[str, float | None] = dict.fromkeys(checks)
    deadline = flushed_at + args.flush_timeout
    while time.monotonic() < deadline and None in completed.values():
        for name, check in checks.items():
            if completed[name] is None and check():
                completed[name] = round(time.monotonic() - flushed_at, 1)
        time.sleep(0.25)
    budget = ready + 2 * args.sweep_seconds
    result = {
        "messages_flushed": waiting,
        "worker_ready_s": round(ready, 1),
        **{f"{name}_done_after_s": seconds for name, seconds in completed.items()},
        "two_sweep_periods_s": 2 * args.sweep_seconds,
        "import_rows_ok": import_check(tag, good)["imported_once"] == len(good),
    }
    result["ok"] = all(
        seconds is not None and seconds <= budget + _work_seconds(name)
        for name, seconds in completed.items()
    )
    result["all_completed"] = None not in completed.values()
    return result


def _work_seconds(name: str) -> float:
    """Time the work itself may take once started (the small import, the NPS emails)."""
    return {"import": 10.0, "nps_run": 5.0, "enrolment": 5.0, "emails": 5.0}[name]


# --- 3. a 100k import killed twice ---------------------------------------------------------------


def scenario_import(stack: Stack, rng: random.Random) -> dict:
    from leads.choices import ImportStatus
    from leads.models import ImportJob

    args = stack.args
    tag = f"faults-import-{uuid.uuid4().hex[:6]}"
    csv_path = stack.folder / f"{tag}.csv"
    good = write_import_csv(csv_path, args.import_rows, tag)
    began = time.monotonic()
    job = import_start(csv_path, owner=user("rep"))

    def processed() -> int:
        return ImportJob.objects.filter(pk=job.pk).values_list("processed_rows", flat=True)[0]

    kills = []
    for k in range(1, args.import_kills + 1):
        mark = args.import_rows * k // (args.import_kills + 1) + rng.randint(0, 2000)
        if not _wait_settled(
            lambda mark=mark: processed() >= mark,
            progress=processed,
            stall=args.settle_seconds,
            cap=args.import_timeout,
        ):
            log("import: it stopped moving before the kill")
            break
        time.sleep(rng.uniform(0, 1.0))  # somewhere inside the next chunk
        stack.worker_kill()
        kills.append({"at_s": round(time.monotonic() - began, 1), "processed_rows": processed()})
        stack.worker_start()
    log(f"import: {len(kills)} kills; waiting for it to finish by itself")
    finished = _wait_settled(
        lambda: ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).exists(),
        progress=processed,
        stall=args.settle_seconds,
        cap=args.import_timeout,
    )
    elapsed = time.monotonic() - began
    job.refresh_from_db()
    check = import_check(tag, good)
    return {
        "rows": args.import_rows,
        "kills": len(kills),
        "killed_at": kills,
        "finished_by_itself": finished,
        "status": job.status,
        "processed_rows": job.processed_rows,
        **check,
        "seconds": round(elapsed, 1),
        "ok": finished
        and check["imported_once"] == check["good_rows"]
        and check["twice_or_more"] == 0
        and check["not_good_imported"] == 0,
    }


# --- 4. two people save the same record at once --------------------------------------------------


def _account_form(account, hidden: dict, **changes) -> dict:
    data = {
        "name": account.name,
        "domain": account.domain,
        "industry": account.industry,
        "size_band": account.size_band,
        "country": str(account.country or ""),
        "owner": account.owner_id,
        "lifecycle_stage": account.lifecycle_stage,
        **hidden,
    }
    data.update(changes)
    return {k: ("" if v is None else v) for k, v in data.items()}


def _opened_form(session: HttpSession, path: str) -> dict:
    """The hidden fields of the edit form as the browser got it: the version it shows and,
    where the page gives one, the form's one-time key."""
    import re

    status, html = session.request(path)
    hidden = dict(re.findall(r'name="(_version|_submission)" value="([^"]*)"', html))
    if status != 200 or "_version" not in hidden:
        raise RuntimeError(f"GET {path} answered {status} without a version")
    return hidden


def _post_at_once(sessions: dict, path: str, forms: dict) -> dict[str, tuple[int, str]]:
    """Each session posts its form to ``path`` at the same moment (released by a barrier)."""
    answers: dict[str, tuple[int, str]] = {}
    barrier = threading.Barrier(len(sessions))

    def save(who):
        barrier.wait()
        answers[who] = sessions[who].request(path, forms[who])

    threads = [threading.Thread(target=save, args=(who,)) for who in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def scenario_edits(stack: Stack, rng: random.Random) -> dict:
    from django.urls import reverse

    from crm.models import Account
    from crm.services.customers import account_create

    rep = user("rep")
    sessions = {"rep": stack.session("rep"), "manager": stack.session("manager")}
    statuses = Counter()
    pairs_one_conflict = 0
    pairs_both_saved = 0
    lost_fields = 0
    resaved = 0
    for n in range(stack.args.edit_pairs):
        account = account_create(
            user=rep, name=f"Faults Edit {n} {uuid.uuid4().hex[:4]}", owner=rep, country="DE"
        )
        path = reverse("account_edit", args=[account.pk])
        opened = {who: _opened_form(s, path) for who, s in sessions.items()}
        changes = {
            "rep": {"name": account.name + " (renamed)"},
            "manager": {"domain": f"faults-edit-{n}.example"},
        }
        forms = {who: _account_form(account, opened[who], **changes[who]) for who in sessions}
        answers = _post_at_once(sessions, path, forms)
        for status, _ in answers.values():
            statuses[status] += 1
        saved = [who for who, (status, _) in answers.items() if status == 302]
        conflicted = [
            who
            for who, (status, body) in answers.items()
            if status == 200 and "nothing was saved" in body
        ]
        if len(saved) == 1 and len(conflicted) == 1:
            pairs_one_conflict += 1
            # The one told of the conflict opens the record again and saves their change.
            loser = conflicted[0]
            account.refresh_from_db()
            hidden = _opened_form(sessions[loser], path)
            status, _ = sessions[loser].request(
                path, _account_form(account, hidden, **changes[loser])
            )
            resaved += status == 302
        elif len(saved) == 2:
            pairs_both_saved += 1
        final = Account.objects.get(pk=account.pk)
        for who in saved + conflicted:
            for name, value in changes[who].items():
                if getattr(final, name) != value:
                    lost_fields += 1
    return {
        "pairs": stack.args.edit_pairs,
        "one_conflict_message": pairs_one_conflict,
        "both_saved": pairs_both_saved,
        "resaved_after_conflict": resaved,
        "lost_fields": lost_fields,
        "statuses": dict(statuses),
        "ok": pairs_one_conflict == stack.args.edit_pairs
        and lost_fields == 0
        and statuses.get(500, 0) == 0,
    }


# --- 5. the database stops for 30 s -----------------------------------------------------------------


def scenario_outage(stack: Stack, rng: random.Random) -> dict:
    from django.db import connections
    from django.urls import reverse

    from crm.models import Activity
    from crm.services.customers import account_create

    args = stack.args
    rep = user("rep")
    account = account_create(user=rep, name=f"Faults Outage {uuid.uuid4().hex[:4]}", owner=rep)
    write_path = reverse("activity_create", args=["crm.account", account.pk])
    read_paths = ["/accounts/", "/leads/", "/", "/healthz"]
    writers = [stack.session("rep") for _ in range(2)]
    reader = stack.session("manager")
    phase = {"name": "before"}
    answers: list[tuple[str, str, int]] = []  # (phase, kind, status)
    confirmed: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def write_loop(session: HttpSession):
        while not stop.is_set():
            summary = f"faults-outage-{uuid.uuid4().hex}"
            current = phase["name"]
            status, _ = session.request(
                write_path,
                {
                    "activity-kind": "note",
                    "activity-summary": summary,
                    "activity-body": "",
                    # A fresh one-time key, as each newly opened form carries.
                    "_submission": uuid.uuid4().hex,
                },
            )
            with lock:
                answers.append((current, "write", status))
                if status == 302:
                    confirmed.append(summary)
            time.sleep(0.1)

    def read_loop():
        n = 0
        while not stop.is_set():
            path = read_paths[n % len(read_paths)]
            n += 1
            current = phase["name"]
            status, _ = reader.request(path)
            with lock:
                answers.append((current, "read", status))
            time.sleep(0.1)

    # Daemons: a run stopped by a signal midway does not wait for them.
    threads = [threading.Thread(target=write_loop, args=(s,), daemon=True) for s in writers]
    threads.append(threading.Thread(target=read_loop, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(5)
    connections.close_all()
    # Requests answered while the server shuts down or starts count apart: some of them still
    # (or already) reach it.
    phase["name"] = "stopping"
    stopped_at = time.monotonic()
    stack.localdb("stop")
    phase["name"] = "down"
    log(f"outage: database stopped for {args.outage_seconds} s")
    time.sleep(max(args.outage_seconds - (time.monotonic() - stopped_at), 0))
    phase["name"] = "starting"
    stack.localdb("start")
    phase["name"] = "after"
    back_at = time.monotonic()
    first_ok_after = None
    while time.monotonic() - back_at < 15:
        with lock:
            ok = [s for p, _, s in answers if p == "after" and 200 <= s < 400]
        if ok and first_ok_after is None:
            first_ok_after = round(time.monotonic() - back_at, 1)
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    connections.close_all()
    stored = set(
        Activity.objects.filter(summary__startswith="faults-outage-").values_list(
            "summary", flat=True
        )
    )
    lost = [s for s in confirmed if s not in stored]
    by_phase = {p: Counter() for p in ("before", "stopping", "down", "starting", "after")}
    for p, _, status in answers:
        by_phase[p][status] += 1
    alive = {p.name: p.running for p in (stack.worker, stack.beat, stack.web)}
    # What a process that exited said last: the reason is the figure an operator needs.
    exits = {
        p.name: {"code": p.popen.returncode, "log_tail": p.log_tail(2500)}
        for p in (stack.worker, stack.beat, stack.web)
        if not p.running
    }
    # A process that exited is restarted, as a supervisor would, so later runs go on.
    for process in (stack.worker, stack.beat, stack.web):
        if not process.running:
            if process is stack.worker:
                stack.worker_start()
            else:
                process.start()
    down = by_phase["down"]
    return {
        "outage_s": args.outage_seconds,
        "requests_while_down": sum(down.values()),
        "503_while_down": down.get(503, 0),
        "500_total": sum(c.get(500, 0) for c in by_phase.values()),
        "statuses": {p: dict(c) for p, c in by_phase.items()},
        "first_success_after_restart_s": first_ok_after,
        "confirmed_writes": len(confirmed),
        "lost_confirmed_writes": len(lost),
        "processes_alive_after": alive,
        "exited": exits,
        "ok": down.get(503, 0) > 0
        and sum(c.get(500, 0) for c in by_phase.values()) == 0
        and not lost
        and all(alive.values()),
    }


# --- the run ------------------------------------------------------------------------------------


def table(results: dict) -> str:
    lines = ["", "scenario  ok     seconds  figures", "-" * 100]
    for name, result in results.items():
        figures = {
            k: v
            for k, v in result.items()
            if k not in ("ok", "seconds_total", "kill_at_s", "killed_at", "lost_ids", "exited")
        }
        text = ", ".join(f"{k}={v}" for k, v in figures.items())
        lines.append(
            f"{name:<9} {'yes' if result.get('ok') else 'NO':<6} "
            f"{result.get('seconds_total', 0):>7.1f}  {text}"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies emails and rows")
    parser.add_argument("--emails", type=int, default=2500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=int, default=0, help="campaign emails a minute (0: all)")
    parser.add_argument("--smtp-delay", type=float, default=0.02, help="seconds a hand-off takes")
    parser.add_argument("--kill-jitter", type=float, default=1.0)
    parser.add_argument(
        "--campaign-budget", type=float, default=300, help="seconds for the campaign's kills"
    )
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--import-kills", type=int, default=2)
    parser.add_argument("--import-timeout", type=float, default=600)
    parser.add_argument("--flush-emails", type=int, default=50)
    parser.add_argument("--flush-import-rows", type=int, default=2000)
    parser.add_argument("--flush-timeout", type=float, default=120)
    parser.add_argument("--edit-pairs", type=int, default=20)
    parser.add_argument("--outage-seconds", type=float, default=30)
    parser.add_argument("--sweep-seconds", type=int, default=5)
    parser.add_argument("--lease-seconds", type=int, default=15)
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=0,
        help="no progress for this long ends a wait (default: 4 leases + 6 sweeps, at least 90)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default=str(ROOT / "var" / "faults.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary installation")
    args = parser.parse_args(argv)
    args.emails = max(int(args.emails * args.scale), 10)
    args.import_rows = max(int(args.import_rows * args.scale), 1000)
    if not args.settle_seconds:
        args.settle_seconds = max(90, 4 * args.lease_seconds + 6 * args.sweep_seconds)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        print("error: redis-server is needed (apt-get install redis-server)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    # A stop by signal (a CI timeout, kill) still stops every process and the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stack = Stack(args)
    results: dict[str, dict] = {}
    sweep: dict = {}
    began = time.monotonic()
    try:
        stack.setup()
        scenarios = {
            "campaign": scenario_campaign,
            "flush": scenario_flush,
            "import": scenario_import,
            "edits": scenario_edits,
            "outage": scenario_outage,
        }
        for name in SCENARIOS:
            if name not in args.only:
                continue
            log(f"scenario {name}")
            started = time.monotonic()
            try:
                results[name] = scenarios[name](stack, rng)
            except Exception as error:  # noqa: BLE001 - one scenario's failure is a figure too
                import traceback

                traceback.print_exc()
                results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            results[name]["seconds_total"] = round(time.monotonic() - started, 1)
            log(f"scenario {name}: {json.dumps(results[name])}")
        try:
            sweep = sweep_schedule(stack)
        except Exception as error:  # noqa: BLE001 - a figure, not a reason to lose the others
            sweep = {"error": f"{type(error).__name__}: {error}"}
    finally:
        stack.teardown()
    report = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "leases": _has_leases(),
        "sweep": sweep,
        "arguments": {k: v for k, v in vars(args).items() if k != "json"},
        "seconds": round(time.monotonic() - began, 1),
        "results": results,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(table(results))
    print(f"\nsweep: {json.dumps(sweep)}")
    print(f"\nTotal {report['seconds']:.0f} s; figures in {path}")
    return 0 if results and all(r.get("ok") for r in results.values()) else 1


def sweep_schedule(stack: Stack) -> dict:
    """The sweep's interval as beat holds it (django-celery-beat's copy of
    ``CELERY_BEAT_SCHEDULE``) and as it ran (the gaps between beat's sends, from its log)."""
    import re
    import statistics

    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.filter(task="crm.tasks.work_sweep").select_related("interval")
    stored = [f"{t.interval.every} {t.interval.period}" for t in task if t.interval]
    stamps = [
        dt.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f")
        for m in re.finditer(
            r"^\[([\d-]+ [\d:,]+): INFO/MainProcess\] Scheduler: Sending due task .*"
            r"\(crm\.tasks\.work_sweep\)",
            stack.beat.log_text(),
            re.MULTILINE,
        )
    ]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)]
    return {
        "WORK_SWEEP_SECONDS": stack.args.sweep_seconds,
        "WORK_LEASE_SECONDS": stack.args.lease_seconds,
        "beat_schedule": stored,
        "runs": len(stamps),
        "median_gap_s": round(statistics.median(gaps), 2) if gaps else None,
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""


def _has_leases() -> bool:
    from crm.models import OutboundEmail

    return any(f.name == "lease_until" for f in OutboundEmail._meta.fields)


if __name__ == "__main__":
    sys.exit(main())
