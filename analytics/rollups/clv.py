"""The CLV dashboard's snapshot: the latest fit's customers summed per owner, RFM segment,
alive bucket and first campaign (``ValueSummary``)."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Sum

from analytics.models import ValueSummary


def _value_rows(today: dt.date) -> list[ValueSummary]:
    from django.db.models import Count

    from analytics.dashboards.clv import alive_bucket, first_campaign
    from analytics.models import CustomerValue

    rows = (
        CustomerValue.objects.order_by()
        .annotate(
            owner_id=F("account__owner_id"),
            bucket=alive_bucket(),
            first_campaign=first_campaign(),
        )
        .values("owner_id", "rfm_segment", "bucket", "first_campaign")
        .annotate(
            n=Count("id"),
            historical=Sum("historical_value"),
            predicted=Sum("expected_value_12m"),
            alive=Sum("p_alive"),
        )
    )
    return [
        ValueSummary(
            owner_id=r["owner_id"],
            rfm_segment=r["rfm_segment"],
            alive_bucket=r["bucket"],
            campaign_id=r["first_campaign"],
            customers=r["n"],
            historical_value=r["historical"],
            expected_value_12m=r["predicted"],
            p_alive_sum=r["alive"],
        )  # fmt: skip
        for r in rows
    ]
