"""Quotas: what each rep is expected to close per month or quarter, set by their managers."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.currencies import company_currency, normalize_currency
from crm.permissions import may_manage
from crm.visibility import owner_in_scope
from sales.choices import PeriodKind
from sales.models import Quota
from sales.selectors import period_of


@transaction.atomic
def quota_set(*, user, owner, period_kind: str, period_start, amount: Decimal, currency: str = ""):
    """Set (create or replace) ``owner``'s quota for the period holding ``period_start``.

    Only managers (for their teams) and admins set quotas. A quota is in its own currency
    (ISO 4217; empty: the company currency); attainment counts won deals in it."""
    if not may_manage(user) or not owner_in_scope(user, owner.pk):
        raise ValidationError({"owner": "You can set quotas only for your own team."})
    if period_kind not in PeriodKind.values:
        raise ValidationError({"period_kind": "Month or quarter."})
    if amount is None or amount < 0:
        raise ValidationError({"amount": "A quota cannot be negative."})
    try:
        currency = normalize_currency(currency or company_currency())
    except ValidationError as error:
        raise ValidationError({"currency": error.messages}) from None
    quota, _ = Quota.objects.update_or_create(
        owner=owner,
        period_kind=period_kind,
        period_start=period_of(period_start, period_kind),
        defaults={"amount": amount, "currency": currency},
    )
    return quota
