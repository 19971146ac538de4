"""Churn risk playbooks and recorded churn."""

import datetime as dt
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm.currencies import company_currency, convert
from crm.models import Team, User
from crm.services.outbox import email_queue
from crm.services.timeline import system_event, task_create
from retention.choices import PAYING_STATUSES, ChurnReason, SubscriptionStatus
from retention.models import ChurnEvent, RiskEpisode, Subscription

logger = logging.getLogger(__name__)

#: (title, due in days) of the tasks a risk episode gives the account owner.
DEFAULT_PLAYBOOK = (
    ("Call {account} about how things are going", 1),
    ("Review {account}'s usage and open tickets", 2),
    ("Agree a success plan with {account}", 7),
)


def playbook_steps() -> tuple[tuple[str, int], ...]:
    return tuple(getattr(settings, "RISK_PLAYBOOK_TASKS", DEFAULT_PLAYBOOK))


def managers_of(user) -> list[User]:
    """Managers of the teams ``user`` belongs to."""
    if user is None:
        return []
    return list(
        User.objects.filter(
            is_active=True, managed_teams__in=Team.objects.filter(members=user)
        ).distinct()
    )


def episodes_needing_playbook():
    return RiskEpisode.objects.filter(
        closed_at__isnull=True, playbook_run_at__isnull=True
    ).values_list("pk", flat=True)


#: An episode younger than this is left to the message the health recompute sent for it.
PLAYBOOK_GRACE = dt.timedelta(seconds=60)


def risk_playbooks_run_due(*, limit: int = 5000) -> int:
    """Run the playbook of every open episode that has none yet (each once: its claim);
    one episode's error is logged and does not stop the others. Returns how many acted."""
    acted = 0
    for episode_id in list(episodes_needing_playbook().order_by("pk")[:limit]):
        try:
            acted += risk_playbook_run(episode_id=episode_id)
        except Exception:
            logger.exception("The playbook of risk episode %s failed", episode_id)
    return acted


def risk_playbook_sweep(*, now=None) -> int:
    """Wake a worker for the playbooks of risk episodes that should have run by now (their
    message was lost with a flushed broker, or the worker died mid-way: a playbook commits
    whole or not at all). Returns 1 when it woke one, else 0."""
    from crm.work import enqueue_quietly
    from retention.tasks import risk_playbooks_due

    now = now or timezone.now()
    due = RiskEpisode.objects.filter(
        closed_at__isnull=True, playbook_run_at__isnull=True, opened_at__lt=now - PLAYBOOK_GRACE
    )
    if not due.exists():
        return 0
    return int(enqueue_quietly(risk_playbooks_due))


def risk_playbook_problems(limit: int):
    """Open episodes whose playbook has not run an hour after they opened."""
    from crm.work import Problem

    late = timezone.now() - dt.timedelta(hours=1)
    episodes = (
        RiskEpisode.objects.filter(
            closed_at__isnull=True, playbook_run_at__isnull=True, opened_at__lt=late
        )
        .select_related("account")
        .order_by("-id")[:limit]
    )
    return [
        Problem(
            pk=episode.pk,
            title=f"At risk: {episode.account.name} ({episode.get_reason_display().lower()})",
            state="Playbook not run",
            detail="",
            since=episode.opened_at,
            url=reverse("account_detail", args=[episode.account_id]),
        )
        for episode in episodes
    ]


def risk_playbook_retry(pk: int) -> bool:
    """Wake a worker for one episode's playbook (it still acts at most once)."""
    from crm.work import enqueue_quietly
    from retention.tasks import risk_playbook

    if not RiskEpisode.objects.filter(
        pk=pk, closed_at__isnull=True, playbook_run_at__isnull=True
    ).exists():
        return False
    transaction.on_commit(lambda: enqueue_quietly(risk_playbook, pk))
    return True


@transaction.atomic
def risk_playbook_run(*, episode_id: int) -> bool:
    """Run the playbook of one risk episode, once: the episode is claimed with a conditional
    UPDATE, so a retry, a second worker or tomorrow's run acts zero times. Tasks go to the
    account's owner; the owner's managers are told by email. Returns whether it acted."""
    now = timezone.now()
    claimed = RiskEpisode.objects.filter(
        pk=episode_id, closed_at__isnull=True, playbook_run_at__isnull=True
    ).update(playbook_run_at=now)
    if not claimed:
        return False
    episode = RiskEpisode.objects.select_related("account", "account__owner").get(pk=episode_id)
    account = episode.account
    owner = account.owner
    if owner is not None:
        for title, days in playbook_steps():
            task_create(
                title=title.format(account=account.name)[:200],
                due_at=now + dt.timedelta(days=days),
                assignee=owner,
                subject=account,
                notes=f"{episode.get_reason_display()} (score {episode.opened_score}).",
            )
    url = getattr(settings, "SITE_URL", "") + reverse("account_detail", args=[account.pk])
    for manager in managers_of(owner):
        email_queue(
            to_email=manager.email,
            subject=f"At risk: {account.name} ({episode.get_reason_display().lower()})",
            body_text=(
                f"{account.name} is at risk: {episode.get_reason_display().lower()}, health "
                f"score {episode.opened_score}. Owner: {owner or 'nobody'}.\n\n{url}\n"
            ),
            related=account,
            idempotency_key=f"retention:risk:{episode.pk}:manager:{manager.pk}",
        )
    system_event(
        subject=account,
        summary=f"At risk ({episode.get_reason_display().lower()}): playbook started",
    )
    return True


@transaction.atomic
def churn_record(
    *,
    account,
    reason: str,
    user=None,
    on: dt.date | None = None,
    note: str = "",
    subscription: Subscription | None = None,
) -> ChurnEvent:
    """Record that a customer churned: the given subscription (or all its paying ones) churns in
    the MRR ledger, and the lost MRR is kept with the reason."""
    from retention.services.subscriptions import subscription_set_status

    if reason not in ChurnReason.values:
        raise ValidationError({"reason": "Say why the customer left."})
    on = on or timezone.localdate()
    if subscription is not None:
        subscriptions = [subscription]
    else:
        subscriptions = list(
            Subscription.objects.filter(account=account, status__in=PAYING_STATUSES).order_by("id")
        )
    lost = {}
    for sub in subscriptions:
        if sub.status in PAYING_STATUSES:
            lost[sub.currency] = lost.get(sub.currency, 0) + sub.mrr
        if sub.status != SubscriptionStatus.CHURNED:
            subscription_set_status(
                subscription=sub, status=SubscriptionStatus.CHURNED, user=user, on=on, note=reason
            )
    currency, lost_mrr, apart = _lost_in_one_currency(lost, on=on)
    event = ChurnEvent.objects.create(
        account=account,
        subscription=subscription,
        date=on,
        reason=reason,
        note=note,
        lost_mrr=lost_mrr,
        currency=currency,
        recorded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    from crm.choices import LifecycleStage

    if not Subscription.objects.filter(account=account, status__in=PAYING_STATUSES).exists():
        account.lifecycle_stage = LifecycleStage.CHURNED
        account.save(update_fields=["lifecycle_stage", "updated_at"])
    system_event(
        subject=account,
        summary=f"Churned: {event.get_reason_display()} ({currency} {event.lost_mrr:,.2f} MRR lost"
        + "".join(f", and {code} {amount:,.2f} without an exchange rate" for code, amount in apart)
        + ")",
        body=note,
    )
    return event


def _lost_in_one_currency(lost: dict, *, on: dt.date):
    """The MRR lost in subscriptions of several currencies as one amount: in the company
    currency at the rates of ``on`` when they differ (one currency stays as it is). Amounts with
    no rate that day stay out and are named: ``(currency, amount, [(code, amount), ...])``."""
    if len(lost) <= 1:
        currency = next(iter(lost), settings.DEFAULT_CURRENCY)
        return currency, lost.get(currency, 0), []
    total, apart = 0, []
    for code, amount in lost.items():
        converted = convert(amount, code, on=on)
        if converted is None:
            apart.append((code, amount))
        else:
            total += converted.amount
    return company_currency(), total, apart


def winback_sequence_name() -> str:
    return getattr(settings, "RETENTION_WINBACK_SEQUENCE", "Win-back")


@transaction.atomic
def churn_winback_start(*, churn_event: ChurnEvent, user) -> int:
    """Start the win-back sequence (leads' nurturing) for the churned account's contacts who
    accept marketing email: each becomes a lead through leads' services and is enrolled. Once
    per churn event (claimed with a conditional UPDATE). Returns how many were enrolled."""
    from leads.choices import LeadSource
    from leads.models import Sequence
    from leads.services import leads as lead_services
    from leads.services import sequences

    sequence = Sequence.objects.filter(name=winback_sequence_name(), is_active=True).first()
    if sequence is None:
        raise ValidationError(f"There is no active “{winback_sequence_name()}” sequence in leads.")
    claimed = ChurnEvent.objects.filter(pk=churn_event.pk, winback_started_at__isnull=True).update(
        winback_started_at=timezone.now()
    )
    if not claimed:
        return 0
    account = churn_event.account
    enrolled = 0
    contacts = account.contacts.filter(marketing_consent=True).exclude(email="").order_by("pk")
    for contact in contacts[:200]:
        lead = lead_services.lead_create(
            user=user,
            on_duplicate="flag",
            first_name=contact.first_name,
            last_name=contact.last_name,
            email=contact.email,
            phone=contact.phone,
            title=contact.title,
            company_name=account.name,
            source=LeadSource.CAMPAIGN,
            owner=account.owner,
            marketing_consent=True,
            email_consent=contact.email_consent,
        )
        if sequences.lead_enrol(lead=lead, sequence=sequence, user=user) is not None:
            enrolled += 1
    system_event(subject=account, summary=f"Win-back started: {enrolled} contact(s) enrolled")
    return enrolled
