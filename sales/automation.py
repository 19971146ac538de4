"""Deals as records rules watch: their stage, amount and probability; their conditions are the
``deal`` segment criteria (``sales.segments``). Registered from ``sales/apps.py``."""


def stage_choices():
    """Every stage of the active pipelines, as "Pipeline · Stage"."""
    from sales.models import Stage

    stages = (
        Stage.objects.filter(pipeline__is_active=True)
        .select_related("pipeline")
        .order_by("pipeline__order", "pipeline__name", "order", "id")
    )
    return [(stage.pk, f"{stage.pipeline.name} · {stage.name}") for stage in stages]


def register() -> None:
    from crm.automation.entities import account_owner
    from crm.automation.registry import automation
    from sales.models import Opportunity

    automation.register_entity(
        "deal", Opportunity, label="deal", stage_field="stage", stage_choices=stage_choices
    )
    automation.register_field("deal", "amount", "Amount")
    automation.register_field("deal", "probability", "Probability (%)")
    automation.register_date_field("deal", "expected_close_date", "Expected close date")
    automation.register_recipient("deal", "account_owner", "The account's owner", account_owner)
