"""The deal list's bulk actions (``crm.bulk``): change the owner, move to a stage (a won or
lost stage closes each deal as closing it on its page does), move to the trash."""

from django import forms
from django.core.exceptions import ValidationError

from crm.bulk import BulkAction, BulkKind, optional
from crm.bulk_actions import owner_action, trash_action
from crm.permissions import may_delete_deals_and_tickets, may_sell
from sales.choices import LostReason, StageKind
from sales.forms import StageField
from sales.models import Stage


def _stage_fields(user) -> dict:
    stages = (
        Stage.objects.select_related("pipeline")
        .filter(pipeline__is_active=True)
        .order_by("pipeline__order", "pipeline_id", "order", "id")
    )
    return {
        "stage": StageField(queryset=stages, label="Stage"),
        "lost_reason": optional(
            forms.ChoiceField(
                choices=[("", "—"), *LostReason.choices], label="Lost reason (for a lost stage)"
            )
        ),
    }


def _stage_check(data: dict) -> None:
    stage = data.get("stage")
    if stage is not None and stage.kind == StageKind.LOST and not data.get("lost_reason"):
        raise ValidationError({"lost_reason": "Say why the deals were lost."})


def _move_stage(*, obj, user, data):
    from sales.services.opportunities import opportunity_move_stage

    if obj.stage_id == data["stage"].pk:
        return False
    opportunity_move_stage(
        opportunity=obj, stage=data["stage"], user=user, lost_reason=data.get("lost_reason") or ""
    )
    return True


def register() -> None:
    from crm import registry
    from sales.selectors import opportunity_list
    from sales.services import opportunities

    registry.bulk.register(
        BulkKind(
            name="deals",
            noun="deal",
            plural="deals",
            selector=opportunity_list,
            list_view="sales.views.opportunities.OpportunityListView",
            list_url="sales:opportunity_list",
            allowed=may_sell,
            actions=(
                owner_action(opportunities.opportunity_update, "opportunity"),
                BulkAction(
                    "stage",
                    "Move to stage…",
                    apply=_move_stage,
                    fields=_stage_fields,
                    check=_stage_check,
                ),
                trash_action(
                    opportunities.opportunity_delete,
                    "opportunity",
                    allowed=may_delete_deals_and_tickets,
                ),
            ),
        )
    )
