"""Celery tasks of retention. Thin: each takes ids, calls one idempotent service, and returns
quietly when its row is gone. Only transient database errors are retried."""

import logging

from celery import shared_task

from crm.retry import transient_retry

logger = logging.getLogger(__name__)

_RETRY = transient_retry(backoff_max=300)


@shared_task(name="retention.tasks.nightly", soft_time_limit=5 * 60, time_limit=6 * 60, **_RETRY)
def nightly() -> dict:
    """The daily run (beat): open due renewals, remind owners, recompute health (which opens
    risk episodes and runs their playbooks), mine upsell associations and retrain the churn
    model. Each step is its own idempotent task with its own time limits."""
    renewals_open.delay()
    renewal_reminders.delay()
    health_recompute.delay()
    upsell_mine.delay()
    churn_model.delay()
    return {"enqueued": 5}


@shared_task(
    name="retention.tasks.renewals_open", soft_time_limit=20 * 60, time_limit=25 * 60, **_RETRY
)
def renewals_open() -> int:
    """Open the renewal deal of every subscription that renews within the lead time and has
    none for that date. One transaction per subscription, claimed by a unique row."""
    from retention.services import renewals

    opened = 0
    for subscription_id in list(renewals.renewals_due()):
        try:
            if renewals.renewal_open(subscription_id=subscription_id) is not None:
                opened += 1
        except Exception:
            logger.exception("Could not open the renewal of subscription %s", subscription_id)
    return opened


@shared_task(name="retention.tasks.renewal_open", soft_time_limit=60, time_limit=90, **_RETRY)
def renewal_open(subscription_id: int) -> bool:
    from retention.services import renewals

    return renewals.renewal_open(subscription_id=subscription_id) is not None


@shared_task(
    name="retention.tasks.renewal_reminders", soft_time_limit=10 * 60, time_limit=12 * 60, **_RETRY
)
def renewal_reminders() -> int:
    from retention.services import renewals

    return renewals.renewal_reminders_send()


@shared_task(
    name="retention.tasks.health_recompute", soft_time_limit=15 * 60, time_limit=20 * 60, **_RETRY
)
def health_recompute() -> dict:
    """Recompute every account's health, then start the playbook of each new risk episode."""
    from retention.services import health, risk

    result = health.health_recompute()
    for episode_id in list(risk.episodes_needing_playbook()):
        risk_playbook.delay(episode_id)
    return result


@shared_task(name="retention.tasks.risk_playbook", soft_time_limit=60, time_limit=90, **_RETRY)
def risk_playbook(episode_id: int) -> bool:
    """Tasks for the owner and a note to the manager, once per risk episode."""
    from retention.services import risk

    return risk.risk_playbook_run(episode_id=episode_id)


@shared_task(
    name="retention.tasks.risk_playbooks_due", soft_time_limit=10 * 60, time_limit=12 * 60, **_RETRY
)
def risk_playbooks_due() -> int:
    """The playbooks of every open risk episode that has none yet (woken by the sweep when the
    per-episode messages were lost); each acts once."""
    from retention.services import risk

    return risk.risk_playbooks_run_due()


@shared_task(
    name="retention.tasks.nps_run_send", soft_time_limit=20 * 60, time_limit=25 * 60, **_RETRY
)
def nps_run_send(run_id: int) -> int:
    """Send an NPS run (each contact once per run, throttled across runs). The run is leased:
    a second message for it returns at once; a run whose worker died is taken up by the sweep."""
    from retention.services import nps

    return nps.nps_run_send(run_id=run_id)


@shared_task(
    name="retention.tasks.upsell_mine", soft_time_limit=15 * 60, time_limit=20 * 60, **_RETRY
)
def upsell_mine() -> dict:
    """Mine product associations over all accounts and refresh recommendations."""
    from retention.services import upsell

    return upsell.upsell_refresh()


@shared_task(
    name="retention.tasks.churn_model", soft_time_limit=15 * 60, time_limit=20 * 60, **_RETRY
)
def churn_model() -> str:
    """Train the churn model on labelled history and score accounts (or say why not)."""
    from retention.services import churn_model as service

    return service.churn_model_run().message
