"""The bulk actions of the shared core's lists: accounts, contacts and tasks (``crm.bulk``)."""

from django import forms

from crm.bulk import BulkAction, BulkKind
from crm.choices import Industry, LifecycleStage
from crm.models import Account
from crm.models.users import users_with_role
from crm.permissions import has_role, may_manage, may_sell
from crm.widgets import AutocompleteSelect

TRASH_CONFIRM = "Move the ticked rows to the trash?"


def owner_field(user) -> dict:
    from crm.forms import assignable_users

    return {"owner": forms.ModelChoiceField(queryset=assignable_users(user), label="Owner")}


def owner_action(update, name: str) -> BulkAction:
    """Change the owner, through ``update(<name>=obj, user=, owner=)``: managers and admins,
    to someone they may assign records to."""

    def apply(*, obj, user, data):
        if obj.owner_id == data["owner"].pk:
            return False
        update(**{name: obj}, user=user, owner=data["owner"])
        return True

    return BulkAction(
        "owner", "Change owner to…", apply=apply, fields=owner_field, allowed=may_manage
    )


def set_field_action(update, name: str, attname: str, label: str, field_label: str, choices):
    """Set one choice field of each row, through ``update(<name>=obj, user=, <attname>=)``."""

    def apply(*, obj, user, data):
        if getattr(obj, attname) == data[attname]:
            return False
        update(**{name: obj}, user=user, **{attname: data[attname]})
        return True

    return BulkAction(
        attname,
        label,
        apply=apply,
        fields=lambda user: {attname: forms.ChoiceField(choices=choices, label=field_label)},
        allowed=may_sell,
    )


def trash_action(delete, name: str, allowed=may_sell) -> BulkAction:
    """Move each row to the trash through its ``delete(<name>=obj, user=)`` service (which
    refuses rows the user may not delete, or that other records still need)."""

    def apply(*, obj, user, data):
        delete(**{name: obj}, user=user)

    return BulkAction(
        "trash",
        "Move to the trash",
        apply=apply,
        allowed=allowed,
        confirm=TRASH_CONFIRM,
        done="moved to the trash",
    )


def _contact_account_fields(user) -> dict:
    return {
        "account": forms.ModelChoiceField(
            queryset=Account.objects.visible_to(user),
            label="Account",
            widget=AutocompleteSelect("account_autocomplete"),
        )
    }


def _contact_set_account(*, obj, user, data):
    from crm.services.customers import contact_update

    if obj.account_id == data["account"].pk:
        return False
    contact_update(contact=obj, user=user, account=data["account"])
    return True


def _task_done(*, obj, user, data):
    from crm.services.timeline import task_complete

    if obj.done_at is not None:
        return False
    task_complete(task=obj, user=user)
    return True


def _task_reopen(*, obj, user, data):
    from crm.services.timeline import task_reopen

    if obj.done_at is None:
        return False
    task_reopen(task=obj)
    return True


def _task_change(**changes):
    from crm.services.timeline import task_update

    def apply(*, obj, user, data):
        values = {"title": obj.title, "due_at": obj.due_at, "assignee": obj.assignee}
        new = {key: data[field] for key, field in changes.items()}
        if all(values[key] == value for key, value in new.items()):
            return False
        task_update(task=obj, notes=obj.notes, **{**values, **new})
        return True

    return apply


def _task_assignee_fields(user) -> dict:
    people = users_with_role()
    return {
        "assignee": forms.ModelChoiceField(
            queryset=people, label="Assignee", widget=AutocompleteSelect("user_autocomplete")
        )
    }


def _task_due_fields(user) -> dict:
    return {
        "due_at": forms.DateTimeField(
            label="Due", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
        )
    }


def register() -> None:
    from crm import registry
    from crm.selectors import account_list, contact_list, task_list
    from crm.services import customers

    registry.bulk.register(
        BulkKind(
            name="accounts",
            noun="account",
            plural="accounts",
            selector=account_list,
            list_view="crm.views.customers.AccountListView",
            list_url="account_list",
            allowed=may_sell,
            actions=(
                owner_action(customers.account_update, "account"),
                set_field_action(
                    customers.account_update,
                    "account",
                    "lifecycle_stage",
                    "Set lifecycle stage to…",
                    "Lifecycle stage",
                    LifecycleStage.choices,
                ),
                set_field_action(
                    customers.account_update,
                    "account",
                    "industry",
                    "Set industry to…",
                    "Industry",
                    Industry.choices,
                ),
                trash_action(customers.account_delete, "account"),
            ),
        )
    )
    registry.bulk.register(
        BulkKind(
            name="contacts",
            noun="contact",
            plural="contacts",
            selector=contact_list,
            list_view="crm.views.customers.ContactListView",
            list_url="contact_list",
            allowed=may_sell,
            actions=(
                owner_action(customers.contact_update, "contact"),
                BulkAction(
                    "account",
                    "Move to account…",
                    apply=_contact_set_account,
                    fields=_contact_account_fields,
                ),
                trash_action(customers.contact_delete, "contact"),
            ),
        )
    )
    registry.bulk.register(
        BulkKind(
            name="tasks",
            noun="task",
            plural="tasks",
            selector=task_list,
            list_view="crm.views.timeline.TaskListView",
            list_url="task_list",
            allowed=has_role,
            changed_field="",  # tasks keep no time of their last change
            actions=(
                BulkAction("done", "Mark done", apply=_task_done, done="marked done"),
                BulkAction("reopen", "Reopen", apply=_task_reopen, done="reopened"),
                BulkAction(
                    "due",
                    "Set due time to…",
                    apply=_task_change(due_at="due_at"),
                    fields=_task_due_fields,
                ),
                BulkAction(
                    "assignee",
                    "Assign to…",
                    apply=_task_change(assignee="assignee"),
                    fields=_task_assignee_fields,
                ),
            ),
        )
    )
