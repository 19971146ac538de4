"""What became of a campaign email after it was sent: did the person reply, did they buy?

The rules, in words a marketer can check by hand:

- **Replied**: an email entry on the contact's timeline (the conversation with the person,
  logged by a rep or by the inbox; the campaign email itself is not logged there) within
  ``REPLY_DAYS`` days after our email was queued.
- **Converted**: within ``ATTRIBUTION_DAYS`` days after the send, the contact's account won a
  deal, or a lead that became this contact was converted.

Both are written to the recipient rows by set-based UPDATEs (a subquery per rule, no loop over
recipients), only where still empty, so a rerun changes nothing and the variant table is a
plain GROUP BY. Won deals are read from the model a later stage registers in ``won_deals``
(sales registers its Opportunity), as leads does not import sales.
"""

from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from crm.choices import ActivityKind
from crm.models import Activity, Contact
from leads.choices import EmailCampaignStatus, RecipientStatus
from leads.models import CampaignRecipient, EmailCampaign, Lead

REPLY_DAYS = 14
ATTRIBUTION_DAYS = 90
REACHED = (RecipientStatus.QUEUED, RecipientStatus.SENT)


def _first(queryset, field):
    return Subquery(queryset.order_by(field).values(field)[:1])


class WonDealsRegistry:
    """Where a later stage tells leads which model holds its deals (``sales`` registers
    ``Opportunity`` in its ``apps.py``), so conversions and campaign credit can count won deals
    without leads importing that stage. The model is read with: ``account`` (with the account's
    ``contacts``), ``status == "won"``, ``closed_at``, ``amount``, ``currency``, ``owner`` and
    ``objects.visible_to(user)``. ``scope(queryset, user, field)`` is the deals' visibility rule
    applied to other rows that carry a deal's owner in ``field`` (the campaign credits)."""

    def __init__(self):
        self._model = None
        self._scope = None

    def register(self, model, *, scope) -> None:
        self._model, self._scope = model, scope

    def model(self):
        return self._model

    def scope(self, queryset, user, *, field: str):
        return self._scope(queryset, user, field=field)


won_deals = WonDealsRegistry()


def won_deals_model():
    """The registered deals model, or None when no installed stage registered one."""
    return won_deals.model()


def email_campaign_outcomes_record(*, campaign_id: int) -> dict[str, int]:
    """Mark replies and conversions of one campaign's reached recipients; returns how many rows
    each rule newly marked. Idempotent: only empty ``replied_at`` / ``converted_at`` are set."""
    reached = CampaignRecipient.objects.filter(
        campaign_id=campaign_id, status__in=REACHED, queued_at__isnull=False
    )
    reply_window = timedelta(days=REPLY_DAYS)
    window = timedelta(days=ATTRIBUTION_DAYS)

    replies = Activity.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=OuterRef("contact_id"),
        kind=ActivityKind.EMAIL,
        occurred_at__gt=OuterRef("queued_at"),
        occurred_at__lte=OuterRef("queued_at") + reply_window,
    )
    replied = reached.filter(replied_at__isnull=True).filter(Exists(replies))
    result = {"replied": replied.update(replied_at=_first(replies, "occurred_at"))}

    converted = 0
    Opportunity = won_deals_model()
    if Opportunity is not None:
        wins = Opportunity.objects.filter(
            account__contacts=OuterRef("contact_id"),
            status="won",
            closed_at__gt=OuterRef("queued_at"),
            closed_at__lte=OuterRef("queued_at") + window,
        )
        converted += (
            reached.filter(converted_at__isnull=True)
            .filter(Exists(wins))
            .update(converted_at=_first(wins, "closed_at"))
        )
    lead_conversions = Lead.objects.filter(
        converted_contact=OuterRef("contact_id"),
        converted_at__gt=OuterRef("queued_at"),
        converted_at__lte=OuterRef("queued_at") + window,
    )
    converted += (
        reached.filter(converted_at__isnull=True)
        .filter(Exists(lead_conversions))
        .update(converted_at=_first(lead_conversions, "converted_at"))
    )
    result["converted"] = converted
    return result


def email_campaigns_outcomes_record(*, now=None) -> dict[int, dict[str, int]]:
    """Beat: record outcomes for every campaign whose sends are still inside the attribution
    window (older ones can gain nothing more)."""
    now = now or timezone.now()
    since = now - timedelta(days=ATTRIBUTION_DAYS + 1)
    ids = EmailCampaign.objects.filter(
        status__in=[
            EmailCampaignStatus.SENDING,
            EmailCampaignStatus.SENT,
            EmailCampaignStatus.CANCELLED,
        ],
        started_at__gte=since,
    ).values_list("pk", flat=True)
    return {pk: email_campaign_outcomes_record(campaign_id=pk) for pk in list(ids)}
