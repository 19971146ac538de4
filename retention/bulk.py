"""The subscription list's bulk actions (``crm.bulk``): change the owner, the status (only
along the allowed transitions, with the MRR ledger following), auto-renewal on or off."""

from django import forms

from crm.bulk import BulkAction, BulkKind, optional
from crm.bulk_actions import owner_action
from crm.permissions import may_sell
from retention.choices import SubscriptionStatus


def _status_fields(user) -> dict:
    return {
        "status": forms.ChoiceField(choices=SubscriptionStatus.choices, label="Status"),
        "status_note": optional(forms.CharField(max_length=200, label="Note")),
    }


def _set_status(*, obj, user, data):
    from retention.services.subscriptions import subscription_set_status

    if obj.status == data["status"]:
        return False
    subscription_set_status(
        subscription=obj, status=data["status"], user=user, note=data.get("status_note") or ""
    )
    return True


def _auto_renew_fields(user) -> dict:
    return {
        "auto_renew": forms.TypedChoiceField(
            choices=[("yes", "On"), ("no", "Off")],
            coerce=lambda value: value == "yes",
            label="Auto-renewal",
        )
    }


def _set_auto_renew(*, obj, user, data):
    from retention.services.subscriptions import subscription_update

    if obj.auto_renew == data["auto_renew"]:
        return False
    subscription_update(subscription=obj, user=user, auto_renew=data["auto_renew"])
    return True


def register() -> None:
    from crm import registry
    from retention.selectors import subscription_list
    from retention.services import subscriptions

    registry.bulk.register(
        BulkKind(
            name="subscriptions",
            noun="subscription",
            plural="subscriptions",
            selector=subscription_list,
            list_view="retention.views.subscriptions.SubscriptionListView",
            list_url="retention:subscription_list",
            allowed=may_sell,
            actions=(
                owner_action(subscriptions.subscription_update, "subscription"),
                BulkAction(
                    "status",
                    "Set status to…",
                    apply=_set_status,
                    fields=_status_fields,
                ),
                BulkAction(
                    "auto_renew",
                    "Set auto-renewal…",
                    apply=_set_auto_renew,
                    fields=_auto_renew_fields,
                ),
            ),
        )
    )
