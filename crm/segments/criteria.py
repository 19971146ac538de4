"""The crm core's segment targets (contacts, accounts) and their criteria; ``register()`` runs
from ``crm/apps.py``. ``standard_criteria(model)`` gives any owned, timestamped record with a
timeline (a lead, a deal, a ticket) the owner / created / last-activity criteria in one call::

    for criterion in standard_criteria(Lead):
        segment_criteria.register("lead", criterion)
"""

from django_countries import countries

from crm.choices import Industry, LifecycleStage, SizeBand
from crm.segments.choices import SegmentTarget
from crm.segments.registry import (
    Column,
    Criterion,
    Group,
    Kind,
    activity_within_criteria,
    count_q,
    segment_criteria,
)


def owner_choices():
    """Everyone who can own records (active, with a role)."""
    from crm.models.users import users_with_role

    people = users_with_role()
    return [(u.pk, str(u)) for u in people.order_by("first_name", "last_name", "username")]


def standard_criteria(
    model, *, owner_field: str = "owner", created_field: str = "created_at"
) -> list[Criterion]:
    """Owner, created within N days and last activity within / not within N days, for a model
    with an owner FK, a creation timestamp and a timeline."""
    return [
        Criterion.for_field(
            "owner",
            "Owner",
            group=Group.OWNERSHIP,
            kind=Kind.MULTI_CHOICE,
            field=f"{owner_field}_id",
            choices=owner_choices,
        ),
        Criterion.for_field(
            "created",
            "Created",
            group=Group.LIFECYCLE,
            kind=Kind.DAYS,
            field=created_field,
            unit="days",
        ),
        *activity_within_criteria(model),
    ]


def account_firmographics() -> list[Criterion]:
    """The account's industry and size band, for any record with an ``account``."""
    field = Criterion.for_field
    return [
        field(
            "account_industry",
            "Account industry",
            group=Group.FIRMOGRAPHIC,
            kind=Kind.MULTI_CHOICE,
            field="account__industry",
            choices=Industry.choices,
        ),
        field(
            "account_size",
            "Account size band",
            group=Group.FIRMOGRAPHIC,
            kind=Kind.MULTI_CHOICE,
            field="account__size_band",
            choices=SizeBand.choices,
        ),
    ]


def country_choices():
    return list(countries)


def _country(obj):
    return obj.country.code if obj and obj.country else ""


def register():
    from crm.models import Account, Contact

    contact, account = SegmentTarget.CONTACT, SegmentTarget.ACCOUNT
    segment_criteria.register_target(
        contact,
        Contact,
        label="Contacts",
        select_related=("account", "owner"),
        order_by=("last_name", "first_name", "id"),
        columns=(
            Column("Name", lambda c: c.full_name),
            Column("Email", lambda c: c.email),
            Column("Title", lambda c: c.title),
            Column("Account", lambda c: c.account.name if c.account else ""),
            Column("Country", lambda c: _country(c.account)),
            Column("Owner", lambda c: str(c.owner) if c.owner else ""),
        ),
    )
    segment_criteria.register_target(
        account,
        Account,
        label="Accounts",
        select_related=("owner",),
        order_by=("name", "id"),
        columns=(
            Column("Name", lambda a: a.name),
            Column("Domain", lambda a: a.domain),
            Column("Industry", lambda a: a.get_industry_display()),
            Column("Size", lambda a: a.get_size_band_display()),
            Column("Country", _country),
            Column("Stage", lambda a: a.get_lifecycle_stage_display()),
            Column("Owner", lambda a: str(a.owner) if a.owner else ""),
        ),
    )

    field = Criterion.for_field
    for criterion in (
        field("title", "Job title", group=Group.DEMOGRAPHIC, kind=Kind.TEXT, field="title"),
        *account_firmographics(),
        field(
            "account_country",
            "Country (of account)",
            group=Group.FIRMOGRAPHIC,
            kind=Kind.MULTI_CHOICE,
            field="account__country",
            choices=country_choices,
        ),
        field(
            "account_stage",
            "Account lifecycle stage",
            group=Group.LIFECYCLE,
            kind=Kind.MULTI_CHOICE,
            field="account__lifecycle_stage",
            choices=LifecycleStage.choices,
        ),
        field(
            "owner",
            "Owner",
            group=Group.OWNERSHIP,
            kind=Kind.MULTI_CHOICE,
            field="owner_id",
            choices=owner_choices,
        ),
        field(
            "marketing_consent",
            "Marketing consent",
            group=Group.DEMOGRAPHIC,
            kind=Kind.BOOLEAN,
            field="marketing_consent",
        ),
        *activity_within_criteria(Contact),
        field(
            "created",
            "Created",
            group=Group.LIFECYCLE,
            kind=Kind.DAYS,
            field="created_at",
            unit="days",
        ),
    ):
        segment_criteria.register(contact, criterion)

    for criterion in (
        field(
            "industry",
            "Industry",
            group=Group.FIRMOGRAPHIC,
            kind=Kind.MULTI_CHOICE,
            field="industry",
            choices=Industry.choices,
        ),
        field(
            "size_band",
            "Size band",
            group=Group.FIRMOGRAPHIC,
            kind=Kind.MULTI_CHOICE,
            field="size_band",
            choices=SizeBand.choices,
        ),
        field(
            "country",
            "Country",
            group=Group.FIRMOGRAPHIC,
            kind=Kind.MULTI_CHOICE,
            field="country",
            choices=country_choices,
        ),
        field(
            "lifecycle_stage",
            "Lifecycle stage",
            group=Group.LIFECYCLE,
            kind=Kind.MULTI_CHOICE,
            field="lifecycle_stage",
            choices=LifecycleStage.choices,
        ),
        field(
            "owner",
            "Owner",
            group=Group.OWNERSHIP,
            kind=Kind.MULTI_CHOICE,
            field="owner_id",
            choices=owner_choices,
        ),
        *activity_within_criteria(Account),
        Criterion(
            "contacts",
            "Number of contacts",
            Group.FIRMOGRAPHIC,
            Kind.NUMBER,
            lambda value, operator: count_q(Contact.objects.all(), "account_id", operator, value),
        ),
    ):
        segment_criteria.register(account, criterion)
