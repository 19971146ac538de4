"""Celery tasks of the shared core. Thin: each calls one service, which is idempotent.

Only a transient database error (a lock timeout, a dropped connection) is retried here; the
services already handle SMTP failures per message, and beat runs both tasks again soon anyway.
"""

from celery import shared_task

from crm.retry import transient_retry
from crm.services import outbox, reminders
from crm.work import enqueue_quietly

#: Messages one run of the outbox task sends before handing over to the next run.
OUTBOX_BATCH = 100

_RETRY = transient_retry()


@shared_task(
    name="crm.tasks.outbox_send_queued",
    soft_time_limit=4 * 60,
    time_limit=5 * 60,
    **_RETRY,
)
def outbox_send_queued() -> int:
    """Deliver due outbox messages. Enqueued after each commit that queues mail, and by beat
    every minute; overlapping runs are safe because each message is claimed by one run. A run
    that sent a full batch asks for the next one at once, so a large campaign drains at the
    mail server's pace rather than a batch per wake-up."""
    sent = outbox.outbox_send_queued(batch_size=OUTBOX_BATCH)
    if sent >= OUTBOX_BATCH:
        enqueue_quietly(outbox_send_queued)
    return sent


#: Deliveries one run of the webhook task attempts (each at most WEBHOOK_TIMEOUT_SECONDS to
#: connect and per read), well inside its time limit.
WEBHOOK_BATCH = 20


@shared_task(
    name="crm.tasks.webhooks_deliver",
    soft_time_limit=4 * 60,
    time_limit=5 * 60,
    **_RETRY,
)
def webhooks_deliver() -> int:
    """Send due webhook deliveries. Enqueued after each commit that writes one, by retries due
    within a sweep period, by the sweep and by beat every minute; overlapping runs are safe
    because each delivery is leased by one run. A full batch asks for the next one at once."""
    from crm.webhooks.delivery import webhooks_deliver as deliver

    attempted = deliver(batch_size=WEBHOOK_BATCH)
    if attempted >= WEBHOOK_BATCH:
        enqueue_quietly(webhooks_deliver)
    return attempted


@shared_task(
    name="crm.tasks.task_reminders_run",
    soft_time_limit=4 * 60,
    time_limit=5 * 60,
    **_RETRY,
)
def task_reminders_run() -> dict:
    """Remind assignees of tasks due within the hour and of overdue tasks (beat, every 5 min)."""
    return reminders.task_reminders_run()


@shared_task(
    name="crm.tasks.notification_digests_send",
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    **_RETRY,
)
def notification_digests_send() -> dict:
    """Email every user whose notification digest is due (beat, every 5 min); each digest is
    claimed with its user's settings row and sent through the outbox once."""
    from crm.services.notifications import notification_digests_send as send

    return send()


@shared_task(
    name="crm.tasks.segment_snapshots_take",
    soft_time_limit=30 * 60,
    time_limit=32 * 60,
    **_RETRY,
)
def segment_snapshots_take() -> int:
    """Record today's size of every segment (beat, daily); a rerun the same day overwrites
    that day's row, so it never counts a day twice."""
    from crm.segments.services import segment_snapshots_take as take

    return take()


@shared_task(name="crm.tasks.work_sweep", soft_time_limit=50, time_limit=58, **_RETRY)
def work_sweep() -> dict:
    """Wake workers for every durable row that is due or whose lease ran out (beat, every
    ``WORK_SWEEP_SECONDS``): what a killed worker or a flushed broker left is taken up again."""
    from crm.work import work_sweep as sweep

    return sweep()


@shared_task(
    name="crm.tasks.security_history_prune",
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    **_RETRY,
)
def security_history_prune() -> dict:
    """Delete audit lines older than ``AUDIT_RETENTION_DAYS`` and sign-in attempts older than
    ``SIGNIN_HISTORY_DAYS`` (beat, daily); a rerun finds nothing more to delete."""
    from crm.services.audit import audit_prune
    from crm.services.signins import signin_history_prune

    return {"audit": audit_prune(), "signins": signin_history_prune()}


@shared_task(name="crm.tasks.trash_purge", soft_time_limit=10 * 60, time_limit=11 * 60, **_RETRY)
def trash_purge() -> int:
    """Delete trash entries past ``TRASH_RETENTION_DAYS`` (beat, daily), reported as one audit
    line; a rerun, or a second run at the same time, finds nothing more to delete."""
    from crm.services.trash import trash_purge_expired

    return trash_purge_expired()


@shared_task(
    name="crm.tasks.quality_refresh",
    soft_time_limit=55 * 60,
    time_limit=60 * 60,
    **_RETRY,
)
def quality_refresh() -> dict:
    """Rescore the data quality of records whose freshness band changed, or never scored (beat,
    daily). Each batch commits on its own and leaves the condition, so a killed run resumes on
    the next one and a rerun rescores nothing."""
    from crm.services.quality import quality_refresh as refresh

    return refresh()


@shared_task(
    name="crm.tasks.retention_rules_run",
    soft_time_limit=55 * 60,
    time_limit=60 * 60,
    **_RETRY,
)
def retention_rules_run() -> dict:
    """Apply every retention rule that is on (beat, daily): each works in locked batches and
    marks what it did, so a rerun, or a run beside another, never acts on a record twice."""
    from crm.retention import retention_rules_run as run

    return {o.rule.name: o.counts for o in run() if o.is_on}


@shared_task(
    name="crm.tasks.tabular_import_run",
    soft_time_limit=55 * 60,
    time_limit=60 * 60,
    **_RETRY,
)
def tabular_import_run(job_id: int) -> str:
    """Run (or resume after a crash) one record import; committed chunks are never redone."""
    from crm.tabular.imports import summary
    from crm.tabular.imports import tabular_import_run as run

    job = run(job_id=job_id)
    return summary(job) if job else "gone"


@shared_task(name="crm.tasks.mailboxes_sync", soft_time_limit=50, time_limit=58, **_RETRY)
def mailboxes_sync() -> int:
    """Wake a sync for every connected mailbox that is due (beat, every ``MAIL_SYNC_SECONDS``)."""
    from crm.mail.sync import mailboxes_sync_due

    return mailboxes_sync_due()


@shared_task(
    name="crm.tasks.mailbox_sync",
    soft_time_limit=14 * 60,
    time_limit=15 * 60,
    **_RETRY,
)
def mailbox_sync(mailbox_id: int) -> str:
    """Import one mailbox's new mail (or resume a sync a killed worker left): one lease per
    mailbox, a checkpoint per folder and batch, so a message is never imported twice."""
    from crm.mail.sync import mailbox_sync as sync

    outcome = sync(mailbox_id=mailbox_id)
    if outcome is None:
        return "busy or gone"
    return f"{outcome.status}: {outcome.fetched} read, {outcome.imported} imported"


#: Messages of the logging mailbox one poll imports before handing over to the next.
MAIL_LOGGING_BATCH = 200


@shared_task(
    name="crm.tasks.mail_logging_poll",
    soft_time_limit=4 * 60,
    time_limit=5 * 60,
    **_RETRY,
)
def mail_logging_poll() -> dict:
    """Import mail BCC'd or forwarded to users' logging addresses from the system mailbox
    (``MAIL_LOGGING_IMAP_URL``; nothing when unset). One run at a time holds the folder's
    checkpoint; a full batch asks for the next one at once."""
    from crm.mail.logging_address import mail_logging_poll as poll

    counts = poll(limit=MAIL_LOGGING_BATCH)
    if sum(counts.values()) >= MAIL_LOGGING_BATCH:
        enqueue_quietly(mail_logging_poll)
    return counts


@shared_task(name="crm.tasks.rules_evaluate", soft_time_limit=10 * 60, time_limit=11 * 60, **_RETRY)
def rules_evaluate(entity=None, pks=None, rule_id=None) -> int:
    """Check records (``pks`` of ``entity``, or all) against the active rules and queue a run
    for each that entered a rule's trigger state. Safe to repeat: a record fires once per
    entry (its match)."""
    from crm.automation.engine import rules_evaluate as evaluate

    return evaluate(entity=entity, pks=pks, rule_id=rule_id)


@shared_task(
    name="crm.tasks.rules_evaluate_all", soft_time_limit=10 * 60, time_limit=11 * 60, **_RETRY
)
def rules_evaluate_all() -> int:
    """Every active rule over all its records: started by the sweep, so changes no save
    announced (bulk writes) fire too."""
    from crm.automation.engine import rules_evaluate as evaluate

    return evaluate()


@shared_task(name="crm.tasks.rule_run", soft_time_limit=4 * 60, time_limit=5 * 60, **_RETRY)
def rule_run(run_id: int) -> bool:
    """Work one rule run (or go on with it where it stopped); a run another worker holds, or
    one already finished, is left alone."""
    from crm.automation.engine import run_execute

    return run_execute(run_id=run_id)


#: Runs one batch task works on before handing over to the next.
RULE_RUN_BATCH = 200


@shared_task(name="crm.tasks.rule_runs_due", soft_time_limit=10 * 60, time_limit=11 * 60, **_RETRY)
def rule_runs_due() -> int:
    """Work through due rule runs one lease at a time; a full batch asks for the next one."""
    from crm.automation.engine import rule_runs_due as work

    worked = work(limit=RULE_RUN_BATCH)
    if worked >= RULE_RUN_BATCH:
        enqueue_quietly(rule_runs_due)
    return worked
