"""Celery tasks of the leads stage. Thin: each takes ids, returns quietly if the row is gone and
calls one idempotent service."""

from celery import shared_task

from crm.retry import transient_retry

_RETRY = transient_retry()


@shared_task(name="leads.tasks.import_run", soft_time_limit=55 * 60, time_limit=60 * 60, **_RETRY)
def import_run(job_id: int) -> str:
    """Run (or resume after a crash) one CSV import; committed chunks are never redone."""
    from leads.services.imports import import_run as run
    from leads.services.imports import summary

    job = run(job_id=job_id)
    return summary(job) if job else "gone"


@shared_task(
    name="leads.tasks.segment_enrolment_run",
    soft_time_limit=55 * 60,
    time_limit=60 * 60,
    **_RETRY,
)
def segment_enrolment_run(job_id: int) -> str:
    """Enrol a segment into a sequence (or resume after a crash); committed chunks are never
    redone. The run leases the job, so a second message for it finds it held and returns; a
    job whose worker died is taken up by the sweep when the lease runs out."""
    from leads.services.segment_enrolments import segment_enrolment_run as run

    job = run(job_id=job_id)
    if job is None:
        return "gone"
    return f"{job.status}: {job.enrolled} of {job.members} enrolled"


@shared_task(
    name="leads.tasks.sequences_run_due", soft_time_limit=4 * 60, time_limit=5 * 60, **_RETRY
)
def sequences_run_due() -> dict:
    """Run every due nurturing step; each step is claimed once, so overlapping runs are safe."""
    from leads.services.sequences import sequences_run_due as run

    return run()


@shared_task(
    name="leads.tasks.sequence_winners_pick", soft_time_limit=4 * 60, time_limit=5 * 60, **_RETRY
)
def sequence_winners_pick() -> int:
    """Make the winning variant of each sequence A/B test whose hours are up the only one sent;
    each step's winner is set by one conditional UPDATE, so it is picked once."""
    from leads.services.sequence_ab import sequence_steps_pick_winners

    return sequence_steps_pick_winners()


@shared_task(
    name="leads.tasks.leads_nightly", soft_time_limit=50 * 60, time_limit=55 * 60, **_RETRY
)
def leads_nightly() -> dict:
    """Daily: follow-up tasks for quiet working leads, rescoring (behaviour points fade), then
    the conversion model refit. Each part is idempotent, so a retried night does no harm."""
    from leads.services.followups import followups_create
    from leads.services.prediction import predictions_refresh
    from leads.services.scoring import leads_rescore

    return {
        "follow_ups": followups_create(),
        "rescored": leads_rescore(),
        "predicted": predictions_refresh(),
    }


@shared_task(
    name="leads.tasks.followups_create", soft_time_limit=20 * 60, time_limit=25 * 60, **_RETRY
)
def followups_create() -> int:
    """Daily: one follow-up task per working lead gone quiet."""
    from leads.services.followups import followups_create as run

    return run()


@shared_task(name="leads.tasks.email_campaigns_run", soft_time_limit=50, time_limit=58, **_RETRY)
def email_campaigns_run() -> dict:
    """Every minute: pick due A/B winners, then queue each sending campaign's next
    ``rate_per_minute`` emails. Recipients are claimed pending → queued, so overlaps are safe."""
    from leads.campaigns.services.sending import (
        email_campaigns_pick_winners,
        email_campaigns_send_due,
    )

    winners = email_campaigns_pick_winners()
    return {"winners": winners, "queued": email_campaigns_send_due()}


@shared_task(
    name="leads.tasks.email_campaigns_outcomes",
    soft_time_limit=10 * 60,
    time_limit=12 * 60,
    **_RETRY,
)
def email_campaigns_outcomes() -> dict:
    """Hourly: mark replies and conversions of recent campaign emails (only empty fields are
    written, so a rerun or retry changes nothing)."""
    from leads.campaigns.services.outcomes import email_campaigns_outcomes_record

    return {str(pk): counts for pk, counts in email_campaigns_outcomes_record().items()}


@shared_task(
    name="leads.tasks.campaign_credits_refresh",
    soft_time_limit=10 * 60,
    time_limit=12 * 60,
    **_RETRY,
)
def campaign_credits_refresh() -> int:
    """Hourly: recompute which campaigns won deals are credited to (first and last touch); the
    snapshot is replaced in one transaction, so a rerun or retry writes the same rows."""
    from leads.campaigns.services.attribution import campaign_credits_refresh as refresh

    return refresh()
