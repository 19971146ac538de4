"""What retention adds to rules: an account's health score as a trigger field (a health
recompute re-checks the accounts it scored), and the action "start the save playbook".
Registered from ``retention/apps.py``."""

from django.core.exceptions import ValidationError
from django.utils import timezone


def save_playbook_clean(params, entity) -> dict:
    return {"kind": "save_playbook"}


def save_playbook_run(*, record, **kwargs) -> str:
    """Open a risk episode for the account (unless one is open) and run its playbook once: the
    owner's tasks and the managers' email of the churn-risk playbook."""
    from retention.choices import RiskReason
    from retention.models import HealthScore, RiskEpisode
    from retention.services.risk import risk_playbook_run

    episode = RiskEpisode.objects.filter(account=record, closed_at__isnull=True).first()
    if episode is None:
        health = HealthScore.objects.filter(account=record).first()
        if health is None:
            raise ValidationError("The account has no health score yet.")
        episode = RiskEpisode.objects.create(
            account=record,
            reason=RiskReason.RED,
            opened_at=timezone.now(),
            opened_score=health.score,
        )
    if not risk_playbook_run(episode_id=episode.pk):
        return "The save playbook had already run for the account's open risk episode."
    return "Started the save playbook (tasks for the account's owner, email to the managers)."


def register() -> None:
    from crm.automation.registry import automation
    from retention.models import HealthScore

    automation.register_field("account", "health_score", "Health score", path="health__score")
    automation.register_watch(HealthScore, "account", "account_id")
    automation.register_action(
        "save_playbook",
        "Start the save playbook",
        clean=save_playbook_clean,
        run=save_playbook_run,
        entities=["account"],
    )
