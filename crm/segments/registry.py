"""The criteria a segment can be built from, per target (contact, account, lead…).

``crm`` registers the targets it owns (contacts, accounts) and their firmographic, demographic,
lifecycle and behavioural criteria (``crm/segments/criteria.py``, called from ``crm/apps.py``).
Every later stage adds its own from its ``apps.py`` ``ready()``, so ``crm`` never imports a stage.
A criterion turns ``(value, operator)`` into a ``Q`` over the target model; subqueries are
``Exists``/``OuterRef`` or ``IN`` subqueries (``count_q``), never annotations, so a whole segment is ONE query.

A stage adding a target and criteria (e.g. ``leads/apps.py``)::

    from django.db.models import Exists, OuterRef, Q

    from crm.segments.registry import (
        Column, Criterion, Group, Kind, activity_within_criteria, segment_criteria,
    )

    def ready(self):
        from leads.choices import EnrollmentState, LeadStatus
        from leads.models import Enrollment, Lead

        segment_criteria.register_target(
            "lead", Lead, label="Leads", select_related=("owner",),
            order_by=("-created_at", "-id"),
            columns=(Column("Name", lambda lead: lead.full_name),
                     Column("Email", lambda lead: lead.email),
                     Column("Owner", lambda lead: lead.owner or "")),
        )
        segment_criteria.register("lead", Criterion.for_field(
            "status", "Lead status", group=Group.LIFECYCLE, kind=Kind.MULTI_CHOICE,
            field="status", choices=LeadStatus.choices))
        segment_criteria.register("lead", Criterion(
            "in_sequence", "In an active sequence", Group.BEHAVIOURAL, Kind.BOOLEAN,
            build=lambda value, operator: Q(Exists(Enrollment.objects.filter(
                lead=OuterRef("pk"), state=EnrollmentState.ACTIVE))),
        ))
        for criterion in activity_within_criteria(Lead):  # last activity within / not within
            segment_criteria.register("lead", criterion)

A count compared with N (``sales/apps.py``: number of orders of a contact) is ``count_q``,
one GROUP BY subquery inside the same statement::

        segment_criteria.register("contact", Criterion(
            "orders", "Number of orders", Group.BEHAVIOURAL, Kind.NUMBER,
            build=lambda value, operator: count_q(
                Order.objects.all(), "contact_id", operator, value)))

``activity_within_q(model, days, operator)`` is the "last activity within / not within N days"
condition as a bare ``Q`` for any model with a timeline, for use inside other criteria.

The later stages' criteria (``sales/segments.py``, ``support/segments.py``,
``retention/segments.py``, ``leads/campaigns/segments.py``) are built from a few more blocks:
``exists_q`` (some related row points at the target, or none does: "has an open ticket"),
``aggregate_q`` (a ``Sum`` compared with N like ``count_q``: open deals' value, MRR, with
``in_company_currency`` converting each amount in SQL), ``latest_q`` (the latest related row
meets a condition: the last NPS answer), ``days_ahead_q`` for ``Kind.DAYS_AHEAD`` ("renewal
within the next N days"), and ``target_field`` to reach a target's account (a contact's deals
are its account's). ``usable_by(user)`` keeps a criterion from roles that may not see what it
tests (deal amounts from support agents).

Negated operators (``is_not``, ``not_in``, ``not_contains``, ``not_within``) reach ``build`` as
they are; ``Criterion.for_field`` and the helpers here handle them, a hand-written ``build``
must too (or declare only the operators it handles in ``operators=``). A ``build`` for a
``BOOLEAN`` criterion returns the ``True`` condition; the registry negates it for ``False``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

MAX_TEXT = 200
MAX_DAYS = 3650


class Kind(StrEnum):
    """How a criterion's value is entered, which decides its operators and value parsing."""

    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    TEXT = "text"
    NUMBER = "number"
    DAYS = "days"
    DAYS_AHEAD = "days_ahead"
    BOOLEAN = "boolean"


# Operators per kind, in the order the builder offers them: (key, label).
OPERATORS: dict[Kind, tuple[tuple[str, str], ...]] = {
    Kind.CHOICE: (("is", "is"), ("is_not", "is not")),
    Kind.MULTI_CHOICE: (("in", "is any of"), ("not_in", "is none of")),
    Kind.TEXT: (("contains", "contains"), ("not_contains", "does not contain")),
    Kind.NUMBER: (
        ("gte", "at least"),
        ("lte", "at most"),
        ("eq", "exactly"),
        ("lt", "less than"),
        ("gt", "more than"),
    ),
    Kind.DAYS: (("within", "within the last"), ("not_within", "not within the last")),
    Kind.DAYS_AHEAD: (("within", "within the next"), ("not_within", "not within the next")),
    Kind.BOOLEAN: (("is", "is"),),
}
NEGATED = {"is_not", "not_in", "not_contains", "not_within"}
#: The ORM lookup of each NUMBER operator, and the lookup that holds exactly when it does not.
NUMBER_LOOKUPS = {"gte": "gte", "lte": "lte", "eq": "exact", "lt": "lt", "gt": "gt"}
NUMBER_OPPOSITES = {"gte": "lt", "lte": "gt", "lt": "gte", "gt": "lte"}


class Group(StrEnum):
    """The criterion picker's groups: the core's, then one per later stage of the customer's
    life (each stage files its criteria under its own)."""

    FIRMOGRAPHIC = "firmographic"
    DEMOGRAPHIC = "demographic"
    LIFECYCLE = "lifecycle"
    BEHAVIOURAL = "behavioural"
    OWNERSHIP = "ownership"
    SALES = "deals and orders"
    SUPPORT = "support"
    RETENTION = "subscriptions and health"
    CAMPAIGNS = "email campaigns"
    CUSTOM = "custom fields"


Choices = Sequence[tuple[object, str]] | Callable[[], Iterable[tuple[object, str]]]


@dataclass(frozen=True)
class Criterion:
    """One condition a segment can test: ``build(value, operator) -> Q`` over the target model.

    ``choices`` (for the choice kinds) is a list of ``(value, label)`` or a callable returning
    one (evaluated when the builder renders or a definition is validated, e.g. the users).
    ``operators`` narrows the kind's operators; ``unit`` is shown after a number ("days").
    ``usable_by(user)``, when given, says who may build and count with it (e.g. deal amounts
    only for the roles that see deals): others neither see it in the picker nor get a count.
    """

    key: str
    label: str
    group: str
    kind: Kind
    build: Callable[[object, str], Q]
    choices: Choices = ()
    operators: tuple[str, ...] | None = None
    help_text: str = ""
    unit: str = ""
    usable_by: Callable[[object], bool] | None = None

    @classmethod
    def for_field(cls, key, label, *, group, kind, field, choices=(), **kwargs) -> Criterion:
        """A criterion comparing a (possibly related, ``account__industry``) field."""
        return cls(key, label, group, Kind(kind), field_build(field, Kind(kind)), choices, **kwargs)

    def usable(self, user) -> bool:
        return self.usable_by is None or bool(self.usable_by(user))

    def operator_choices(self) -> list[tuple[str, str]]:
        allowed = OPERATORS[self.kind]
        if self.operators is not None:
            allowed = tuple(op for op in allowed if op[0] in self.operators)
        return list(allowed)

    def value_choices(self) -> list[tuple[str, str]]:
        choices = self.choices() if callable(self.choices) else self.choices
        return [(str(value), str(label)) for value, label in choices]

    def clean(self, operator, value, *, value_choices=None):
        """``(operator, value)`` checked and parsed, or a ``ValidationError`` saying why.
        ``value_choices`` saves evaluating the choices again (e.g. the users) per condition."""
        if operator not in dict(self.operator_choices()):
            raise ValidationError(f"“{str(operator)[:20]}” is not an operator of “{self.label}”.")
        return operator, _clean_value(self, value, value_choices)

    def q(self, operator: str, value) -> Q:
        if self.kind == Kind.BOOLEAN:
            condition = self.build(True, operator)
            return condition if value else ~condition
        return self.build(value, operator)


def _clean_value(criterion: Criterion, value, value_choices=None):
    kind = criterion.kind
    if kind in (Kind.CHOICE, Kind.MULTI_CHOICE):
        allowed = dict(value_choices if value_choices is not None else criterion.value_choices())
        values = value if isinstance(value, list | tuple) else [value]
        values = [str(v) for v in values if v not in (None, "")]
        if not values:
            raise ValidationError(f"Choose a value for “{criterion.label}”.")
        if kind == Kind.CHOICE and len(values) > 1:
            raise ValidationError(f"Choose one value for “{criterion.label}”.")
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValidationError(f"“{unknown[0][:50]}” is not a choice of “{criterion.label}”.")
        return values[0] if kind == Kind.CHOICE else list(dict.fromkeys(values))
    if kind == Kind.TEXT:
        text = str(value if value is not None else "").strip()
        if not text:
            raise ValidationError(f"Enter some text for “{criterion.label}”.")
        if len(text) > MAX_TEXT:
            raise ValidationError(f"“{criterion.label}” takes at most {MAX_TEXT} characters.")
        return text
    if kind == Kind.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ValidationError(f"Choose yes or no for “{criterion.label}”.")
    # NUMBER, DAYS and DAYS_AHEAD
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"Enter a number for “{criterion.label}”.") from None
    if not number.is_finite() or abs(number) > Decimal("1e12"):
        raise ValidationError(f"Enter a sensible number for “{criterion.label}”.")
    if kind in (Kind.DAYS, Kind.DAYS_AHEAD):
        if number != number.to_integral_value() or not 1 <= number <= MAX_DAYS:
            raise ValidationError(
                f"“{criterion.label}” takes a whole number of days from 1 to {MAX_DAYS}."
            )
        return int(number)
    if number < 0:
        raise ValidationError(f"“{criterion.label}” cannot be negative.")
    return int(number) if number == number.to_integral_value() else str(number)


# ------------------------------------------------------------------------------------------
# Building blocks for ``build`` functions
# ------------------------------------------------------------------------------------------


def field_build(field_path: str, kind: Kind) -> Callable[[object, str], Q]:
    """A ``build`` comparing ``field_path`` for any operator of ``kind``."""

    def build(value, operator):
        if kind == Kind.CHOICE:
            condition = Q(**{field_path: value})
        elif kind == Kind.MULTI_CHOICE:
            condition = Q(**{f"{field_path}__in": value})
        elif kind == Kind.TEXT:
            condition = Q(**{f"{field_path}__icontains": value})
        elif kind == Kind.NUMBER:
            return number_q(field_path, operator, value)
        elif kind == Kind.DAYS:
            condition = Q(**{f"{field_path}__gte": days_ago(value)})
        elif kind == Kind.DAYS_AHEAD:
            condition = days_ahead_q(field_path, value)
        else:  # BOOLEAN
            return Q(**{field_path: True})
        return ~condition if operator in NEGATED else condition

    return build


def number_q(field_path: str, operator: str, value) -> Q:
    """``field_path`` compared with ``value`` by a NUMBER operator (gte, lte, eq, lt, gt)."""
    return Q(**{f"{field_path}__{NUMBER_LOOKUPS[operator]}": Decimal(str(value))})


def days_ahead_q(date_field: str, days: int) -> Q:
    """A date field falling between today and ``days`` days from today (both included)."""
    today = timezone.localdate()
    return Q(
        **{f"{date_field}__gte": today, f"{date_field}__lte": today + dt.timedelta(days=int(days))}
    )


def exists_q(
    related: models.QuerySet, key: str, *, target_field: str = "pk", operator: str = ""
) -> Q:
    """Some ``related`` row points at the target row (``related.<key> = target.<target_field>``),
    or, for a negated ``operator``, none does. A target row whose ``target_field`` is NULL (a
    contact without an account) has no such row."""
    condition = Q(Exists(related.filter(**{key: OuterRef(target_field)})))
    return ~condition if operator in NEGATED else condition


def days_ago(days: int) -> dt.datetime:
    """The moment ``days`` days before now (a window's start)."""
    return timezone.now() - dt.timedelta(days=int(days))


def activity_exists(model: type[models.Model], *, days: int, pk_field: str = "pk") -> Exists:
    """Rows of ``model`` (or, with ``pk_field``, the record it points to, e.g.
    ``"account_id"``) with a timeline entry in the last ``days`` days. Uses the Activity index
    on (content_type, object_id, occurred_at)."""
    from crm.models import Activity

    return Exists(
        Activity.objects.filter(
            content_type=ContentType.objects.get_for_model(model),
            object_id=OuterRef(pk_field),
            occurred_at__gte=days_ago(days),
        )
    )


def activity_within_q(model: type[models.Model], days: int, operator: str = "within") -> Q:
    """ "Last activity within N days" (``operator="not_within"``: none in that window) as a Q over
    ``model`` itself: reusable for any model carrying a timeline (leads, deals, tickets)."""
    condition = Q(activity_exists(model, days=days))
    return ~condition if operator in NEGATED else condition


def activity_within_criteria(
    model: type[models.Model], *, key: str = "last_activity", label: str = "Last activity"
) -> list[Criterion]:
    """The "last activity within / not within N days" criterion for ``model``."""
    return [
        Criterion(
            key,
            label,
            Group.BEHAVIOURAL,
            Kind.DAYS,
            lambda value, operator: activity_within_q(model, value, operator),
            unit="days",
            help_text="Any call, email, meeting, note or system event on the timeline.",
        )
    ]


def count_q(
    related: models.QuerySet, key: str, operator: str, value, *, target_field: str = "pk"
) -> Q:
    """Compare with ``value`` (any NUMBER operator) how many ``related`` rows point at each
    target row through the field ``key`` (e.g. ``Contact.objects.all()``, ``"account_id"``;
    ``related`` may be filtered first, e.g. paid orders only). ``target_field`` is the target's
    field that ``key`` holds (``"account_id"`` to count an account's rows for its contacts).

    One GROUP BY over ``related`` inside the same statement (``pk IN (… HAVING COUNT(*) …)``),
    not a correlated COUNT per target row, which costs a heap visit per related row. Rows with
    no related row count as 0, so "at most 2" and "exactly 0" include them."""
    return aggregate_q(
        related, key, operator, value, aggregate=Count("*"), target_field=target_field
    )


def aggregate_q(
    related: models.QuerySet,
    key: str,
    operator: str,
    value,
    *,
    aggregate,
    target_field: str = "pk",
) -> Q:
    """Compare with ``value`` an aggregate (``Count``, ``Sum``…) of the ``related`` rows that
    point at each target row through ``key``, as ``count_q`` does; a target row with no related
    row has the aggregate 0. One GROUP BY … HAVING subquery, whichever the operator: when 0
    satisfies the comparison, the rows whose aggregate does *not* are excluded instead."""
    if operator not in NUMBER_LOOKUPS:
        raise ValueError(f"aggregate_q has no operator {operator!r}")
    number = Decimal(str(value))
    grouped = (
        related.order_by()
        .filter(**{f"{key}__isnull": False})  # NOT IN over a NULL would match nothing
        .values(key)
        .annotate(_n=aggregate)
    )
    zero_matches = {
        "gte": number <= 0,
        "lte": number >= 0,
        "eq": number == 0,
        "lt": number > 0,
        "gt": number < 0,
    }[operator]
    if not zero_matches:
        keys = grouped.filter(**{f"_n__{NUMBER_LOOKUPS[operator]}": number})
        return Q(**{f"{target_field}__in": keys.values(key)})
    if operator == "eq":
        failing = grouped.exclude(_n=number)
    else:
        failing = grouped.filter(**{f"_n__{NUMBER_OPPOSITES[operator]}": number})
    condition = ~Q(**{f"{target_field}__in": failing.values(key)})
    if target_field != "pk":  # a target row with no parent (a contact without account) has 0
        condition |= Q(**{f"{target_field}__isnull": True})
    return condition


def latest_q(
    related: models.QuerySet,
    key: str,
    condition: Q,
    *,
    order_field: str,
    target_field: str = "pk",
) -> Q:
    """Target rows whose *latest* ``related`` row (by ``order_field``, then id; keyed on the
    target through ``key``) satisfies ``condition``, e.g. "the last NPS answer is 6 or less".
    One uncorrelated subquery: the related rows meeting ``condition`` with no later row for the
    same key (an anti-join), so PostgreSQL hashes it once instead of probing per target row."""
    later = related.filter(
        Q(**{key: OuterRef(key)})
        & (
            Q(**{f"{order_field}__gt": OuterRef(order_field)})
            | Q(**{order_field: OuterRef(order_field), "pk__gt": OuterRef("pk")})
        )
    )
    latest = (
        related.order_by()
        .filter(**{f"{key}__isnull": False})
        .filter(condition)
        .filter(~Exists(later))
        .values(key)
    )
    return Q(**{f"{target_field}__in": latest})


def in_company_currency(amount_field: str, currency_field: str = "currency", *, on=None):
    """``amount_field`` converted into the company currency at the rate in force ``on`` (today
    by default), in SQL: as is for the company currency, times the latest ``ExchangeRate`` valid
    on that day otherwise, NULL when no rate is known (``Sum`` then leaves the row out)."""
    from crm.currencies import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS, company_currency
    from crm.models import ExchangeRate

    on = on or timezone.localdate()
    money = models.DecimalField(max_digits=RATE_MAX_DIGITS + 14, decimal_places=RATE_DECIMAL_PLACES)
    rate = (
        ExchangeRate.objects.filter(currency=OuterRef(currency_field), valid_from__lte=on)
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    return models.Case(
        models.When(**{currency_field: company_currency()}, then=models.F(amount_field)),
        default=models.ExpressionWrapper(
            models.F(amount_field) * models.Subquery(rate), output_field=money
        ),
        output_field=money,
    )


# ------------------------------------------------------------------------------------------
# The registry
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of the preview list and the CSV export: ``value(row)`` gives the cell."""

    label: str
    value: Callable[[models.Model], object]


@dataclass
class Target:
    """A kind of record a segment can hold: its model (``visible_to(user)`` scopes members)."""

    key: str
    model: type[models.Model]
    label: str
    columns: tuple[Column, ...] = ()
    select_related: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ("-pk",)
    criteria: dict[str, Criterion] = field(default_factory=dict)


class SegmentCriteriaRegistry:
    def __init__(self):
        self._targets: dict[str, Target] = {}
        # target key → functions returning criteria computed at use time (custom fields)
        self._providers: dict[str, list[Callable[[], Iterable[Criterion]]]] = {}

    def register_provider(self, target_key: str, provider: Callable[[], Iterable[Criterion]]):
        """Add criteria that are read when used, not at start-up: ``provider()`` returns the
        target's current ones (e.g. one per active custom field). A static criterion wins
        over a provided one of the same key."""
        self._providers.setdefault(target_key, []).append(provider)

    def provided(self, target_key: str) -> dict[str, Criterion]:
        found: dict[str, Criterion] = {}
        for provider in self._providers.get(target_key, ()):
            found.update((c.key, c) for c in provider())
        return found

    def _provided_once(self, target_key: str, cache=None) -> dict[str, Criterion]:
        """``provided(target_key)``, read once per ``cache`` (a dict kept by the caller)."""
        if cache is None:
            return self.provided(target_key)
        slot = ("provided", target_key)
        if slot not in cache:
            cache[slot] = self.provided(target_key)
        return cache[slot]

    def register_target(
        self, key, model, *, label, columns=(), select_related=(), order_by=("-pk",)
    ) -> Target:
        """Make ``key`` a segment target (a key of ``crm.choices.SegmentTarget``); registering
        again updates the target and keeps the criteria already added."""
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = Target(key, model, label)
        target.model, target.label = model, label
        target.columns = tuple(columns) or (Column(label, str),)
        target.select_related = tuple(select_related)
        target.order_by = tuple(order_by)
        return target

    def register(self, target_key: str, criterion: Criterion):
        """Add (or replace, by key) ``criterion`` on target ``target_key``. The target may be
        registered later; criteria wait for it."""
        target = self._targets.get(target_key)
        if target is None:
            target = self._targets[target_key] = Target(target_key, None, target_key)
        target.criteria[criterion.key] = criterion

    def unregister_target(self, key: str):
        self._targets.pop(key, None)

    def unregister(self, target_key: str, criterion_key: str):
        self._targets.get(target_key, Target("", None, "")).criteria.pop(criterion_key, None)

    def target(self, key: str) -> Target | None:
        """The registered target ``key`` (with a model), or None."""
        target = self._targets.get(key)
        return target if target is not None and target.model is not None else None

    def targets(self) -> list[Target]:
        return [t for t in self._targets.values() if t.model is not None]

    def criterion(self, target_key: str, criterion_key: str, cache=None) -> Criterion | None:
        """``cache`` (a dict, per definition or page) keeps the provided criteria between
        lookups, so a definition reads them once."""
        target = self.target(target_key)
        if target is None:
            return None
        found = target.criteria.get(criterion_key)
        if found is None and self._providers.get(target_key):
            found = self._provided_once(target_key, cache).get(criterion_key)
        return found

    def grouped(self, target_key: str, user=None, cache=None) -> list[tuple[str, list[Criterion]]]:
        """The target's criteria by group, for the builder's criterion picker (with ``user``:
        those they may use; ``cache`` as for ``criterion``)."""
        target = self.target(target_key)
        groups: dict[str, list[Criterion]] = {}
        criteria = dict(target.criteria) if target else {}
        if target is not None:
            for key, criterion in self._provided_once(target_key, cache).items():
                criteria.setdefault(key, criterion)
        for criterion in criteria.values():
            if user is not None and not criterion.usable(user):
                continue
            groups.setdefault(str(criterion.group), []).append(criterion)
        return [(name, sorted(items, key=lambda c: c.label)) for name, items in groups.items()]


segment_criteria = SegmentCriteriaRegistry()
