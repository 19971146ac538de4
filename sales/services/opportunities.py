"""Creating and working deals: stages, line items, and closing won or lost in one step."""

import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from crm import webhooks
from crm.choices import ActivityKind
from crm.currencies import exchange, missing_rate_message
from crm.db import lock_rows
from crm.models import Team, User
from crm.services.custom_fields import changed_fields_label, custom_fields_apply
from crm.services.customers import account_mark_customer
from crm.services.notifications import notification_row, notifications_insert, notify
from crm.services.timeline import activity_log
from crm.services.trash import trash_delete
from sales.choices import Billing, ForecastCategory, LostReason, StageKind
from sales.models import (
    Opportunity,
    OpportunityLineItem,
    Pipeline,
    Product,
    Stage,
    StageChange,
)
from sales.services.products import product_tax_rate
from sales.signals import opportunity_lost, opportunity_won
from sales.webhooks import stage_ref

logger = logging.getLogger(__name__)

#: Fields a person edits on a deal (stage and status change only through the stage services).
OPPORTUNITY_FIELDS = (
    "name",
    "account",
    "primary_contact",
    "owner",
    "amount",
    "currency",
    "probability",
    "forecast_category",
    "expected_close_date",
    "next_step",
    "source_lead",
    "campaign",
)
CENTS = Decimal("0.01")


def recurring_months() -> int:
    """How many months of recurring revenue a deal's amount counts (its first-year value)."""
    return getattr(settings, "SALES_RECURRING_MONTHS_IN_AMOUNT", 12)


def default_pipeline() -> Pipeline | None:
    active = Pipeline.objects.filter(is_active=True)
    return (
        active.filter(is_default=True).order_by("order", "id").first()
        or active.order_by("order", "id").first()
    )


def first_open_stage(pipeline: Pipeline) -> Stage | None:
    return pipeline.stages.filter(kind=StageKind.OPEN).order_by("order", "id").first()


def closing_stage(pipeline_id: int, kind: str) -> Stage:
    stage = Stage.objects.filter(pipeline_id=pipeline_id, kind=kind).order_by("order", "id").first()
    if stage is None:
        raise ValidationError(f"This pipeline has no {kind} stage.")
    return stage


def _lock(opportunity: Opportunity) -> Opportunity:
    """The deal, its row locked for the change, read with its stage, pipeline and account."""
    lock_rows(Opportunity, opportunity.pk)
    return Opportunity.objects.select_related("stage", "pipeline", "account").get(pk=opportunity.pk)


@transaction.atomic
def opportunity_create(
    *,
    user,
    name: str,
    account,
    stage: Stage | None = None,
    probability: int | None = None,
    **data,
) -> Opportunity:
    """A new open deal, in ``stage`` or the first open stage of the default pipeline; its
    probability is the stage's default unless given."""
    if stage is None:
        pipeline = default_pipeline()
        stage = first_open_stage(pipeline) if pipeline else None
        if stage is None:
            raise ValidationError("There is no active pipeline with an open stage.")
    if stage.kind != StageKind.OPEN:
        raise ValidationError({"stage": "A new deal starts in an open stage."})
    values = {k: v for k, v in data.items() if k in OPPORTUNITY_FIELDS and v is not None}
    values.setdefault("owner", user)
    if not values.get("currency"):
        # The customer's currency: the account's preferred one, else the company's.
        values["currency"] = account.deal_currency
    if not values.get("forecast_category"):
        values["forecast_category"] = ForecastCategory.PIPELINE
    opportunity = Opportunity(
        name=name,
        account=account,
        pipeline_id=stage.pipeline_id,
        stage=stage,
        status=StageKind.OPEN,
        probability=stage.probability if probability is None else probability,
        stage_entered_at=timezone.now(),
        **values,
    )
    custom_fields_apply(opportunity, data, user=user)
    opportunity.save(force_insert=True)
    StageChange.objects.create(
        opportunity=opportunity, from_stage=None, to_stage=stage, changed_by=user
    )
    activity_log(
        subject=opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Opportunity created in {stage.name}",
        actor=user,
    )
    _notify_owner(opportunity, actor=user, event="new")
    webhooks.emit("opportunity.created", opportunity)
    return opportunity


def _notify_owner(opportunity: Opportunity, *, actor, event: str) -> None:
    """Tell the deal's owner it was given to them (not when they took it themselves)."""
    if opportunity.owner_id is None:
        return
    notify(
        recipient=opportunity.owner_id,
        kind="assigned",
        verb=f"Deal assigned to you: {opportunity.name}",
        dedupe_key=f"deal-owner:{opportunity.pk}:{event}",
        target=opportunity,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _notify_team_of_win(opportunity: Opportunity, *, user) -> None:
    """Tell the owner's teams (members and managers) a deal was won, except whoever won it.
    The link is given only to those who may open the deal."""
    owner_id = opportunity.owner_id
    if owner_id is None:
        return
    teams = Team.objects.filter(Q(members=owner_id) | Q(managers=owner_id)).values("pk")
    recipients = (
        User.objects.filter(Q(teams__in=teams) | Q(managed_teams__in=teams), is_active=True)
        .exclude(pk__in={owner_id, getattr(user, "pk", None)} - {None})
        .distinct()
    )
    winner = opportunity.owner
    key = f"deal-won:{opportunity.pk}:{int(opportunity.closed_at.timestamp())}"
    rows = []
    for member in recipients:
        sees = Opportunity.objects.visible_to(member).filter(pk=opportunity.pk).exists()
        rows.append(
            notification_row(
                recipient=member,
                kind="deal_won",
                verb=f"{winner} won {opportunity.name} ({opportunity.account})",
                dedupe_key=key,
                target=opportunity,
                url=opportunity.get_absolute_url() if sees else "",
                actor=user if getattr(user, "is_authenticated", False) else None,
            )
        )
    notifications_insert(rows)


@transaction.atomic
def opportunity_update(*, opportunity: Opportunity, user, stage: Stage | None = None, **data):
    """Change a deal's fields; a different ``stage`` moves it (and may close it)."""
    opportunity = _lock(opportunity)
    if data.get("amount") is None:
        data.pop("amount", None)
    if data.get("probability") is None:
        data.pop("probability", None)  # empty in a form: keep what it is
    if not data.get("currency", True):
        data.pop("currency")  # empty in a form: keep what it is
    changed = [f for f in OPPORTUNITY_FIELDS if f in data and getattr(opportunity, f) != data[f]]
    old_currency = opportunity.currency
    for field in changed:
        setattr(opportunity, field, data[field])
    if "currency" in changed:
        _reprice(opportunity, old_currency, amount_given="amount" in changed, user=user)
    custom_before = opportunity.custom
    if custom_fields_apply(opportunity, data, user=user):
        changed.append("custom")
    if "amount" in changed and opportunity.line_items.exists():
        # A person overrode the lines' value: keep their amount until they reset it.
        manual = opportunity.amount != opportunity.lines_value
        if manual != opportunity.amount_is_manual:
            opportunity.amount_is_manual = manual
            changed.append("amount_is_manual")
    if changed:
        opportunity.save(update_fields=[*changed, "updated_at"])
        labels = changed_fields_label(opportunity, changed, custom_before)
        entry = activity_log(
            subject=opportunity, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user
        )
        if "owner" in changed:
            _notify_owner(opportunity, actor=user, event=f"change-{entry.pk}")
    if stage is not None and stage.pk != opportunity.stage_id:
        opportunity = opportunity_move_stage(opportunity=opportunity, stage=stage, user=user)
    return opportunity


def _reprice(opportunity: Opportunity, old_currency: str, *, amount_given: bool, user) -> None:
    """A deal's currency changes: each line item is re-priced in the new currency at today's
    rates, from the price it was entered at (a product's list price in its own currency, or the
    price a person typed in the old deal currency), and a manual amount the person did not
    change with it is converted too. Refused, with nothing changed, for a closed deal with line
    items or when a rate is missing."""
    items = list(opportunity.line_items.order_by("id"))
    if not items and not (opportunity.amount_is_manual and not amount_given):
        return
    new = opportunity.currency
    if opportunity.is_closed and items:
        raise ValidationError(
            {"currency": "The deal is closed; its line items keep the currency they were in."}
        )
    today = timezone.localdate()
    for item in items:
        price, currency = (
            (item.source_price, item.source_currency)
            if item.is_converted
            else (item.unit_price, old_currency)
        )
        moved = exchange(price, currency, new, on=today)
        if moved is None:
            raise ValidationError({"currency": _reprice_refusal(currency, new, today)})
        item.unit_price = moved.amount
        if currency == new:
            item.source_price, item.source_currency = None, ""
            item.exchange_rate, item.converted_on = None, None
        else:
            item.source_price, item.source_currency = price, currency
            item.exchange_rate, item.converted_on = moved.rate, today
        item.total = item.compute_total()
    OpportunityLineItem.objects.bulk_update(
        items,
        ["unit_price", "total", "source_price", "source_currency", "exchange_rate", "converted_on"],
    )
    if opportunity.amount_is_manual and not amount_given:
        moved = exchange(opportunity.amount, old_currency, new, on=today)
        if moved is None:
            raise ValidationError({"currency": _reprice_refusal(old_currency, new, today)})
        opportunity.amount = moved.amount
        opportunity.save(update_fields=["amount"])
    if items:
        opportunity_recalculate(opportunity=opportunity)
        activity_log(
            subject=opportunity,
            kind=ActivityKind.SYSTEM,
            summary=f"Line items re-priced from {old_currency} in {new} at the rates of "
            f"{today:%Y-%m-%d}",
            actor=user,
        )


def _reprice_refusal(source: str, target: str, on) -> str:
    return (
        f"{missing_rate_message(source, target, on)} Changing the currency re-prices the line "
        "items at today's rates, so it was not changed."
    )


def _record_stage_change(opportunity: Opportunity, stage: Stage, user, now) -> None:
    StageChange.objects.create(
        opportunity=opportunity,
        from_stage_id=opportunity.stage_id,
        to_stage=stage,
        changed_at=now,
        changed_by=user,
        seconds_in_from_stage=max(0, int((now - opportunity.stage_entered_at).total_seconds())),
    )


@transaction.atomic
def opportunity_move_stage(
    *, opportunity: Opportunity, stage: Stage, user, lost_reason: str = "", lost_note: str = ""
) -> Opportunity:
    """Move a deal to ``stage`` (of any pipeline). Into a won or lost stage it closes the deal
    (lost needs a reason); a lost deal moved back to an open stage is reopened. A won deal is
    final: its order is recorded."""
    if stage.kind == StageKind.WON:
        return opportunity_close_won(opportunity=opportunity, user=user, stage=stage)
    if stage.kind == StageKind.LOST:
        return opportunity_close_lost(
            opportunity=opportunity, user=user, reason=lost_reason, note=lost_note, stage=stage
        )
    opportunity = _lock(opportunity)
    if opportunity.stage_id == stage.pk:
        return opportunity
    if opportunity.is_won:
        raise ValidationError("A won deal is final; its order has been recorded.")
    now = timezone.now()
    reopened = opportunity.is_lost
    old_stage = opportunity.stage
    old_name = old_stage.name
    _record_stage_change(opportunity, stage, user, now)
    opportunity.stage = stage
    opportunity.pipeline_id = stage.pipeline_id
    opportunity.status = StageKind.OPEN
    # Probability follows the stage; a person may override it again on the deal.
    opportunity.probability = stage.probability
    opportunity.stage_entered_at = now
    fields = ["stage", "pipeline", "status", "probability", "stage_entered_at", "updated_at"]
    if reopened:
        opportunity.closed_at = None
        opportunity.lost_reason = ""
        opportunity.forecast_category = ForecastCategory.PIPELINE
        fields += ["closed_at", "lost_reason", "forecast_category"]
    opportunity.save(update_fields=fields)
    activity_log(
        subject=opportunity,
        kind=ActivityKind.SYSTEM,
        summary=("Reopened: " if reopened else "Stage: ") + f"{old_name} → {stage.name}",
        actor=user,
    )
    webhooks.emit("opportunity.stage_changed", opportunity, from_stage=stage_ref(old_stage))
    return opportunity


def _close(opportunity: Opportunity, stage: Stage, user, now) -> None:
    _record_stage_change(opportunity, stage, user, now)
    opportunity.stage = stage
    opportunity.pipeline_id = stage.pipeline_id
    opportunity.status = stage.kind
    opportunity.probability = 100 if stage.kind == StageKind.WON else 0
    opportunity.forecast_category = ForecastCategory.CLOSED
    opportunity.stage_entered_at = now
    opportunity.closed_at = now
    # The close date says when the deal closed, as in Salesforce and HubSpot: a deal won today
    # but expected next quarter would count in the wrong period everywhere that reads it.
    opportunity.expected_close_date = timezone.localdate(now)


@transaction.atomic
def opportunity_close_won(*, opportunity: Opportunity, user, stage: Stage | None = None):
    """Win a deal in one step: won stage, order recorded, onboarding started after commit,
    ``opportunity_won`` sent. Winning a won deal again (double click, retry) does nothing."""
    from sales.services.orders import order_record_for_opportunity

    opportunity = _lock(opportunity)
    if opportunity.is_won:
        return opportunity
    stage = stage or closing_stage(opportunity.pipeline_id, StageKind.WON)
    now = timezone.now()
    old_stage = opportunity.stage
    _close(opportunity, stage, user, now)
    opportunity.lost_reason = ""
    opportunity.save(
        update_fields=[
            "stage",
            "pipeline",
            "status",
            "probability",
            "forecast_category",
            "stage_entered_at",
            "closed_at",
            "expected_close_date",
            "lost_reason",
            "updated_at",
        ]
    )
    account_mark_customer(
        account=opportunity.account, user=user, reason=f"deal won ({opportunity.name})"
    )
    order = order_record_for_opportunity(opportunity=opportunity, user=user)
    activity_log(
        subject=opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Won: {opportunity.currency} {opportunity.amount:,.2f}",
        actor=user,
    )
    activity_log(
        subject=opportunity.account,
        kind=ActivityKind.SYSTEM,
        summary=f"Deal won: {opportunity.name}",
        actor=user,
    )
    _notify_team_of_win(opportunity, user=user)
    opportunity_won.send(sender=Opportunity, opportunity=opportunity, order=order, user=user)
    webhooks.emit("opportunity.stage_changed", opportunity, from_stage=stage_ref(old_stage))
    webhooks.emit("opportunity.won", opportunity)
    pk = opportunity.pk
    transaction.on_commit(lambda: _enqueue_onboarding(pk))
    return opportunity


def _enqueue_onboarding(opportunity_id: int) -> None:
    from sales.tasks import onboarding_start

    try:
        onboarding_start.delay(opportunity_id)
    except Exception:
        # The reconcile task creates plans for won deals without one, so nothing is lost.
        logger.exception("Could not enqueue onboarding for opportunity %s", opportunity_id)


@transaction.atomic
def opportunity_close_lost(
    *, opportunity: Opportunity, user, reason: str, note: str = "", stage: Stage | None = None
):
    """Lose a deal with a reason, in one step; losing a lost deal again does nothing."""
    if reason not in LostReason.values:
        raise ValidationError({"lost_reason": "Say why the deal was lost."})
    opportunity = _lock(opportunity)
    if opportunity.is_lost:
        return opportunity
    if opportunity.is_won:
        raise ValidationError("A won deal is final; its order has been recorded.")
    stage = stage or closing_stage(opportunity.pipeline_id, StageKind.LOST)
    old_stage = opportunity.stage
    _close(opportunity, stage, user, timezone.now())
    opportunity.lost_reason = reason
    opportunity.lost_note = note
    opportunity.save(
        update_fields=[
            "stage",
            "pipeline",
            "status",
            "probability",
            "forecast_category",
            "stage_entered_at",
            "closed_at",
            "expected_close_date",
            "lost_reason",
            "lost_note",
            "updated_at",
        ]
    )
    activity_log(
        subject=opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Lost: {opportunity.get_lost_reason_display()}",
        body=note,
        actor=user,
    )
    opportunity_lost.send(sender=Opportunity, opportunity=opportunity, user=user)
    webhooks.emit("opportunity.stage_changed", opportunity, from_stage=stage_ref(old_stage))
    webhooks.emit("opportunity.lost", opportunity)
    return opportunity


# Line items ---------------------------------------------------------------------------------


def opportunity_recalculate(*, opportunity: Opportunity) -> Opportunity:
    """One-off value, MRR and (when it has line items) the amount, from the line items."""
    totals = opportunity.line_items.aggregate(
        one_off=Sum("total", filter=Q(billing=Billing.ONE_OFF)),
        monthly=Sum("total", filter=Q(billing=Billing.MONTHLY)),
        lines=Sum("quantity"),
    )
    opportunity.one_off_amount = totals["one_off"] or Decimal("0")
    opportunity.mrr = totals["monthly"] or Decimal("0")
    fields = ["one_off_amount", "mrr", "updated_at"]
    if totals["lines"] is None:
        # No lines left: the amount is the person's again (it keeps its last value).
        if opportunity.amount_is_manual:
            opportunity.amount_is_manual = False
            fields.append("amount_is_manual")
    elif not opportunity.amount_is_manual:
        opportunity.amount = (
            opportunity.one_off_amount + opportunity.mrr * recurring_months()
        ).quantize(CENTS)
        fields.append("amount")
    opportunity.save(update_fields=fields)
    return opportunity


@transaction.atomic
def opportunity_amount_from_lines(*, opportunity: Opportunity, user) -> Opportunity:
    """End a manual amount: the deal's amount is its line items' value again, and follows them."""
    opportunity = _lock(opportunity)
    if not opportunity.amount_is_manual:
        return opportunity
    opportunity.amount_is_manual = False
    opportunity.save(update_fields=["amount_is_manual", "updated_at"])
    opportunity = opportunity_recalculate(opportunity=opportunity)
    activity_log(
        subject=opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Amount set to the lines' total ({opportunity.currency} "
        f"{opportunity.amount:,.2f})",
        actor=user,
    )
    return opportunity


def _check_line(
    opportunity: Opportunity, product: Product, quantity, unit_price, discount, tax_rate=0
):
    errors = {}
    if opportunity.is_closed:
        raise ValidationError("The deal is closed; its line items can no longer change.")
    if quantity is None or quantity < 1:
        errors["quantity"] = "At least one."
    if unit_price is None or unit_price < 0:
        errors["unit_price"] = "A price cannot be negative."
    if discount is None or not (0 <= discount <= 100):
        errors["discount_percent"] = "Between 0 and 100."
    if tax_rate is None or not (0 <= tax_rate <= 100):
        errors["tax_rate"] = "Between 0 and 100."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def line_item_add(
    *,
    opportunity: Opportunity,
    user,
    product: Product,
    quantity: int = 1,
    unit_price: Decimal | None = None,
    discount_percent: Decimal = Decimal("0"),
    tax_rate: Decimal | None = None,
    billing: str = "",
    description: str = "",
) -> OpportunityLineItem:
    """A product on the deal; without a price, discount or tax rate it takes the product's list
    price, no discount, and the product's tax rate (else the seller's default rate).

    A given price is in the deal's currency. A list price in another currency is converted into
    the deal's at today's rates, and the line says so; without a rate for today the line is
    refused."""
    opportunity = _lock(opportunity)
    conversion = {}
    if unit_price is None and product.currency != opportunity.currency:
        today = timezone.localdate()
        moved = exchange(product.price, product.currency, opportunity.currency, on=today)
        if moved is None:
            raise ValidationError(
                {
                    "product": f"{product.name} is priced in {product.currency}; this deal is "
                    f"in {opportunity.currency}. "
                    + missing_rate_message(product.currency, opportunity.currency, today)
                }
            )
        unit_price = moved.amount
        conversion = {
            "source_price": product.price,
            "source_currency": product.currency,
            "exchange_rate": moved.rate,
            "converted_on": today,
        }
    unit_price = product.price if unit_price is None else unit_price
    discount_percent = discount_percent or Decimal("0")
    if tax_rate is None:
        tax_rate = product_tax_rate(product)
    _check_line(opportunity, product, quantity, unit_price, discount_percent, tax_rate)
    item = OpportunityLineItem(
        opportunity=opportunity,
        product=product,
        description=description or product.name,
        unit_price=unit_price,
        quantity=quantity,
        discount_percent=discount_percent,
        tax_rate=tax_rate,
        billing=billing or product.billing,
        **conversion,
    )
    item.total = item.compute_total()
    item.save()
    opportunity_recalculate(opportunity=opportunity)
    activity_log(subject=opportunity, kind=ActivityKind.SYSTEM, summary=f"Added {item}", actor=user)
    return item


@transaction.atomic
def line_item_update(*, item: OpportunityLineItem, user, **data) -> OpportunityLineItem:
    opportunity = _lock(item.opportunity)
    item = OpportunityLineItem.objects.select_related("product").get(pk=item.pk)
    conversion_fields = []
    if data.get("unit_price") is not None and data["unit_price"] != item.unit_price:
        # A price a person typed is in the deal's currency: the line is no longer converted.
        item.source_price, item.source_currency = None, ""
        item.exchange_rate, item.converted_on = None, None
        conversion_fields = ["source_price", "source_currency", "exchange_rate", "converted_on"]
    for field in (
        "quantity",
        "unit_price",
        "discount_percent",
        "tax_rate",
        "billing",
        "description",
    ):
        if field in data and data[field] is not None:
            setattr(item, field, data[field])
    _check_line(
        opportunity,
        item.product,
        item.quantity,
        item.unit_price,
        item.discount_percent,
        item.tax_rate,
    )
    item.total = item.compute_total()
    item.save(
        update_fields=[
            "quantity",
            "unit_price",
            "discount_percent",
            "tax_rate",
            "billing",
            "description",
            "total",
            *conversion_fields,
        ]
    )
    opportunity_recalculate(opportunity=opportunity)
    activity_log(
        subject=opportunity, kind=ActivityKind.SYSTEM, summary=f"Changed {item}", actor=user
    )
    return item


@transaction.atomic
def line_item_remove(*, item: OpportunityLineItem, user) -> Opportunity:
    opportunity = _lock(item.opportunity)
    if opportunity.is_closed:
        raise ValidationError("The deal is closed; its line items can no longer change.")
    label = str(item)
    item.delete()
    opportunity_recalculate(opportunity=opportunity)
    activity_log(
        subject=opportunity, kind=ActivityKind.SYSTEM, summary=f"Removed {label}", actor=user
    )
    return opportunity


# Lead conversion ------------------------------------------------------------------------------


def on_lead_converted(sender, *, lead, account, contact, user, create_opportunity=False, **kwargs):
    """Receiver of ``leads.signals.lead_converted``: the converted lead's deal, in the first open
    stage of the default pipeline, attributed to the lead and its campaign."""
    if not create_opportunity:
        return
    name = (kwargs.get("opportunity_name") or "").strip() or f"{account.name} – new business"
    amount = kwargs.get("opportunity_amount")
    opportunity = opportunity_create(
        user=user,
        name=name[:200],
        account=account,
        primary_contact=contact,
        owner=lead.owner or user,
        amount=amount if amount is not None else Decimal("0"),
        currency=getattr(lead, "budget_currency", "") or account.deal_currency,
        expected_close_date=getattr(lead, "timeline", None),
        source_lead=lead,
        campaign=lead.campaign,
    )
    created = kwargs.get("created")
    if created is not None:
        created.append(opportunity)


@transaction.atomic
def opportunity_delete(*, opportunity: Opportunity, user) -> None:
    """Move the deal to the trash, with its line items, stage changes, quotes, onboarding plan,
    timeline and tasks; an order recorded for it stays, unlinked until it is restored."""
    trash_delete(obj=opportunity, user=user)
