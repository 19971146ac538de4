"""Crediting won deals to marketing campaigns: the snapshot campaign ROI reads.

A touch is a moment a marketing campaign reached an account: one of its campaign emails queued
to a contact of the account, or a lead captured for it (web form, import, by hand) that was
converted into the account. A won deal is credited to a campaign when one of the campaign's
touches on the deal's account fell within ``ATTRIBUTION_DAYS`` before the win: first-touch gives
the whole amount to the earliest such touch, last-touch to the latest (ties go to the lower
campaign id). Every won deal counts, whatever its currency: a credit keeps the deal's amount
and currency, and readers total them in the company currency at the rate of the close date
(``leads.campaigns.selectors``).

``campaign_credits_refresh`` recomputes every credit in one INSERT … SELECT that ranks each won
deal's touches with a window function (nothing loops over touches or deals in Python) and
replaces the previous snapshot in the same transaction, so readers see the old credits or the
new ones, never a half. Running it twice in a row writes the same rows.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.utils import timezone

from leads.campaigns.services.outcomes import ATTRIBUTION_DAYS, REACHED, won_deals_model
from leads.choices import AttributionTouch
from leads.models import Campaign, CampaignCredit, CampaignRecipient, Lead


def _touches():
    emailed = CampaignRecipient.objects.filter(
        status__in=REACHED, queued_at__isnull=False, contact__account__isnull=False
    ).values(
        t_account=F("contact__account_id"),
        t_campaign=F("campaign__campaign_id"),
        t_at=F("queued_at"),
    )
    captured = Lead.objects.filter(campaign__isnull=False, converted_account__isnull=False).values(
        t_account=F("converted_account_id"), t_campaign=F("campaign_id"), t_at=F("created_at")
    )
    return emailed.order_by().union(captured.order_by(), all=True)


def _won_deals(Opportunity):
    return (
        Opportunity.objects.filter(status="won", closed_at__isnull=False)
        .order_by()
        .values(
            d_id=F("id"),
            d_account=F("account_id"),
            d_owner=F("owner_id"),
            d_amount=F("amount"),
            d_currency=F("currency"),
            d_closed=F("closed_at"),
            d_from=ExpressionWrapper(
                F("closed_at") - timedelta(days=ATTRIBUTION_DAYS), output_field=DateTimeField()
            ),
        )
    )


@transaction.atomic
def campaign_credits_refresh(*, now=None) -> int:
    """Recompute every campaign credit; returns how many were written."""
    Opportunity = won_deals_model()
    CampaignCredit.objects.all().delete()
    if Opportunity is None:
        return 0
    computed_at = connection.ops.adapt_datetimefield_value(now or timezone.now())
    deals_sql, deals_params = _won_deals(Opportunity).query.sql_with_params()
    touches_sql, touches_params = _touches().query.sql_with_params()
    credit, campaign = CampaignCredit._meta.db_table, Campaign._meta.db_table
    sql = f"""
        WITH deals AS ({deals_sql}),
        touches AS ({touches_sql}),
        ranked AS (
            SELECT d.d_id, d.d_account, d.d_owner, d.d_amount, d.d_currency, d.d_closed,
                t.t_campaign, t.t_at,
                ROW_NUMBER() OVER (
                    PARTITION BY d.d_id ORDER BY t.t_at ASC, t.t_campaign ASC
                ) AS first_rank,
                ROW_NUMBER() OVER (
                    PARTITION BY d.d_id ORDER BY t.t_at DESC, t.t_campaign DESC
                ) AS last_rank
            FROM deals d
            JOIN touches t
              ON t.t_account = d.d_account AND t.t_at <= d.d_closed AND t.t_at >= d.d_from
        )
        INSERT INTO {credit} (
            campaign_id, touch, opportunity_id, account_id, owner_id, amount, currency, won_at,
            touched_at, computed_at
        )
        SELECT r.t_campaign, %s, r.d_id, r.d_account, r.d_owner, r.d_amount, r.d_currency, r.d_closed,
            r.t_at, %s
        FROM ranked r JOIN {campaign} c ON c.id = r.t_campaign
        WHERE r.first_rank = 1
        UNION ALL
        SELECT r.t_campaign, %s, r.d_id, r.d_account, r.d_owner, r.d_amount, r.d_currency, r.d_closed,
            r.t_at, %s
        FROM ranked r JOIN {campaign} c ON c.id = r.t_campaign
        WHERE r.last_rank = 1
    """  # noqa: S608 - only table names and ORM-compiled SQL are interpolated
    params = [
        *deals_params,
        *touches_params,
        AttributionTouch.FIRST.value,
        computed_at,
        AttributionTouch.LAST.value,
        computed_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    return CampaignCredit.objects.count()
