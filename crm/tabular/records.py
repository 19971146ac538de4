"""The record kinds of the shared core: accounts, contacts and tasks (registered in
``crm.apps``)."""

from django.core.exceptions import ValidationError

from crm import registry
from crm.choices import Industry, LifecycleStage, SizeBand
from crm.forms import assignable_users
from crm.models import Account, Contact, Task
from crm.normalize import normalize_domain, normalize_email
from crm.permissions import may_sell
from crm.selectors import account_list, contact_list, task_list
from crm.services import customers
from crm.tabular import columns as c
from crm.tabular.kinds import RecordKind


def owner_column() -> c.Column:
    return c.user("owner", "Owner", queryset=assignable_users, aliases=("owner username",))


def created_column() -> c.Column:
    return c.readonly("created_at", "Created")


def _visible_accounts(user):
    return Account.objects.visible_to(user)


def account_column(**kw) -> c.Column:
    """An account named by its name (among the accounts the user may see)."""
    return c.record(
        "account", "Account", queryset=_visible_accounts, key="name", noun="account", **kw
    )


ACCOUNTS = RecordKind(
    name="accounts",
    label="Accounts",
    model=Account,
    columns=(
        c.record_id(),
        c.text("name", "Name", max_length=200, required=True, aliases=("account", "company")),
        c.text("domain", "Domain", max_length=253, clean=normalize_domain, aliases=("website",)),
        c.choice("industry", "Industry", Industry),
        c.choice("size_band", "Size", SizeBand, aliases=("size",)),
        c.country("country", "Country"),
        owner_column(),
        c.choice("lifecycle_stage", "Lifecycle stage", LifecycleStage, aliases=("stage",)),
        c.text("currency", "Currency", max_length=3, clean=c.currency_code),
        created_column(),
    ),
    keys=("id", "domain", "name"),
    selector=account_list,
    create=lambda *, user, data: customers.account_create(user=user, **data),
    update=lambda *, record, user, data: customers.account_update(
        account=record, user=user, **data
    ),
    may_import=may_sell,
    list_url="account_list",
)

CONTACTS = RecordKind(
    name="contacts",
    label="Contacts",
    model=Contact,
    columns=(
        c.record_id(),
        c.text("first_name", "First name", max_length=100),
        c.text("last_name", "Last name", max_length=100, required=True),
        c.text("email", "Email", max_length=254, clean=normalize_email, aliases=("e-mail",)),
        c.text("phone", "Phone", max_length=40),
        c.text("title", "Job title", max_length=150),
        account_column(),
        owner_column(),
        c.boolean("email_consent", "Email consent"),
        c.boolean("marketing_consent", "Marketing consent"),
        created_column(),
    ),
    keys=("id", "email"),
    selector=contact_list,
    create=lambda *, user, data: customers.contact_create(user=user, **data),
    update=lambda *, record, user, data: customers.contact_update(
        contact=record, user=user, **data
    ),
    may_import=may_sell,
    list_url="contact_list",
)


def _tasks_are_not_imported(*, record, user, data):
    raise ValidationError("Tasks are exported, not imported: change them on their page")


def _related(task) -> str:
    """What the task is about, as "account #12" (the type and id, read without a query a row)."""
    return f"{task.content_type.model} #{task.object_id}" if task.content_type_id else ""


#: Tasks as files: exported from the task list (its filters and sort); they are added and done
#: on the records they are about, so no file makes or changes one.
TASKS = RecordKind(
    name="tasks",
    label="Tasks",
    model=Task,
    columns=(
        c.record_id(),
        c.readonly("title", "Title"),
        c.readonly("due_at", "Due"),
        c.readonly(
            "assignee",
            "Assignee",
            cell=lambda user: user.username if user is not None else "",
            related=("assignee",),
        ),
        c.readonly("about", "About", read=_related, related=("content_type",)),
        c.readonly("done_at", "Done"),
        c.readonly("notes", "Notes"),
        created_column(),
    ),
    keys=("id",),
    selector=task_list,
    update=_tasks_are_not_imported,
    may_import=lambda user: False,
    list_url="task_list",
)


def register() -> None:
    registry.tabular.register(ACCOUNTS)
    registry.tabular.register(CONTACTS)
    registry.tabular.register(TASKS)
