"""Segment criteria from email campaigns: received, opened, clicked or bounced a campaign email
within N days, or received, opened or clicked a chosen campaign; on contacts (their own emails)
and accounts (any of their contacts'). Registered from ``leads/apps.py``."""

from django.db.models import Exists, OuterRef

from crm.permissions import may_manage
from crm.segments.registry import Criterion, Group, Kind, days_ago, exists_q, segment_criteria
from leads.campaigns.services.outcomes import REACHED
from leads.choices import EmailCampaignStatus, SuppressionReason
from leads.models import CampaignRecipient, EmailCampaign, Suppression

BOUNCES = (SuppressionReason.BOUNCE, SuppressionReason.COMPLAINT)


def sent_campaign_choices():
    """Email campaigns that have started sending, newest first."""
    campaigns = EmailCampaign.objects.filter(
        status__in=[EmailCampaignStatus.SENDING, EmailCampaignStatus.SENT]
    ).order_by("-started_at", "-id")
    return list(campaigns.values_list("pk", "name"))


def _reached():
    return CampaignRecipient.objects.filter(status__in=REACHED)


def _bounced(since):
    """Reached recipients whose address went on the suppression list for a bounce or a
    complaint after the email was queued, within the window."""
    bounce = Suppression.objects.filter(
        email=OuterRef("email"),
        reason__in=BOUNCES,
        created_at__gte=since,
    ).filter(created_at__gte=OuterRef("queued_at"))
    return _reached().filter(Exists(bounce))


EVENTS = {
    # key: (label, the recipients of the event within ``since``, the recipients of it at all)
    "received": (
        "Received",
        lambda since: _reached().filter(queued_at__gte=since),
        _reached,
    ),
    "opened": (
        "Opened",
        lambda since: _reached().filter(opened_at__gte=since),
        lambda: _reached().filter(opened_at__isnull=False),
    ),
    "clicked": (
        "Clicked",
        lambda since: _reached().filter(clicked_at__gte=since),
        lambda: _reached().filter(clicked_at__isnull=False),
    ),
}


def campaign_criteria(*, key: str, about: str) -> list[Criterion]:
    """Campaign email criteria for a target whose recipients have ``<key> = target.pk``."""

    def within(recipients):
        return lambda value, operator: exists_q(recipients(days_ago(value)), key, operator=operator)

    def of_campaign(recipients):
        return lambda value, operator: exists_q(
            recipients().filter(campaign_id__in=[int(v) for v in value]), key, operator=operator
        )

    criteria = []
    for event, (label, since, ever) in EVENTS.items():
        criteria.append(
            Criterion(
                f"campaign_{event}",
                f"{label} a campaign email",
                Group.CAMPAIGNS,
                Kind.DAYS,
                within(since),
                unit="days",
                help_text=about,
            )
        )
        criteria.append(
            Criterion(
                f"campaign_{event}_of",
                f"{label} email campaign",
                Group.CAMPAIGNS,
                Kind.MULTI_CHOICE,
                of_campaign(ever),
                choices=sent_campaign_choices,
                help_text=about,
                # Email campaigns are the managers' and admins' (their names included).
                usable_by=may_manage,
            )
        )
    criteria.append(
        Criterion(
            "campaign_bounced",
            "Bounced a campaign email",
            Group.CAMPAIGNS,
            Kind.DAYS,
            within(_bounced),
            unit="days",
            help_text=f"{about} The address bounced or complained after a campaign email.",
        )
    )
    return criteria


def register_segment_criteria():
    for criterion in campaign_criteria(key="contact_id", about="The contact's own emails."):
        segment_criteria.register("contact", criterion)
    for criterion in campaign_criteria(
        key="contact__account_id", about="Emails to any contact of the account."
    ):
        segment_criteria.register("account", criterion)
