"""Celery tasks of the support desk. Thin: each calls one idempotent service."""

from celery import shared_task

from crm.retry import transient_retry
from support.services import escalations, inbound

_RETRY = transient_retry()


#: The SLA watch takes up no ticket past this long, well within its soft time limit (100 s):
#: a backlog is worked off over several runs, each finishing in time.
SLA_WATCH_BUDGET_SECONDS = 75


@shared_task(name="support.tasks.sla_watch", soft_time_limit=100, time_limit=120, **_RETRY)
def sla_watch() -> dict:
    """Warn at 75% of an SLA target and escalate breaches, each exactly once."""
    return escalations.sla_watch_run(budget_seconds=SLA_WATCH_BUDGET_SECONDS)


@shared_task(name="support.tasks.imap_fetch", soft_time_limit=4 * 60, time_limit=5 * 60, **_RETRY)
def imap_fetch() -> dict:
    """Turn unread mail of the support mailbox into tickets and replies (if configured)."""
    return inbound.imap_fetch_run()
