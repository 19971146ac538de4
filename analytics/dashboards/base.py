"""The small framework every dashboard is made of.

A dashboard is a list of ``Figure``s and a ``DashboardView`` subclass. A figure is a function
that takes the request's ``Scope`` (who is asking, the date range, the owners filtered on) and
returns a few rows from SQL aggregates (GROUP BY, never a loop over records), mostly over the
small per-day rollups of ``analytics.rollups``. The view renders each figure as a Chart.js chart
with its data table and a line saying how it is computed (and, for a rollup, how fresh it is),
and answers ``?export=<figure>`` with that figure's rows as CSV.

A saved segment chosen in the filter bar restricts every figure to its records. The rollups
cannot know an arbitrary segment, so such a figure computes ``live`` from the records instead,
through ``Scope.in_segment`` (same definition, same final computation, slower); a figure that
cannot be restricted (e.g. quota per rep) says so and shows its unrestricted value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.views.generic import TemplateView

from analytics.rollups import rollup_freshness
from crm.choices import Role
from crm.csvfiles import csv_response
from crm.models import Segment, Team, User
from crm.replica import lagging_reads
from crm.segments.choices import SegmentTarget
from crm.segments.selectors import segment_queryset, segments_usable_by
from crm.widgets import read_choices_plainly

DEFAULT_DAYS = 90
SELLERS = frozenset({Role.SALES_REP, Role.MANAGER, Role.ADMIN})
EVERY_ROLE = frozenset(Role.values)
ACCOUNT_SEGMENTS = (SegmentTarget.ACCOUNT, SegmentTarget.CONTACT)


# Scope: who asks, for which dates and people ---------------------------------------------------


@dataclass
class Scope:
    """What every figure function receives.

    ``owner_ids`` is None when no team or owner is chosen: the rows are then all the user may
    see (``visible_to``); else the figures keep only rows owned by these users."""

    user: User
    start: dt.date
    end: dt.date
    owner_ids: frozenset[int] | None = None
    pinned: bool = False  # the user sees only their own numbers (no team/owner choice)
    today: dt.date = field(default_factory=timezone.localdate)
    segment: Segment | None = None  # figures keep only this segment's records (computed live)
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_before(self) -> dt.datetime:
        """The first moment after the range (ranges are inclusive of their end day)."""
        return timezone.make_aware(
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)
        )

    def owned(self, queryset, field: str = "owner"):
        """``queryset`` narrowed to the chosen owners (it is already visibility-scoped)."""
        if self.owner_ids is None:
            return queryset
        return queryset.filter(**{f"{field}_id__in": self.owner_ids})

    def segment_accounts(self):
        """The ids of the accounts of the segment, as a subquery: an account segment's accounts,
        a contact segment's contacts' accounts, a lead segment's leads' converted accounts.
        Checking the definition may read (e.g. the owners offered), so it is done once."""
        return self.memo("segment_accounts", self._segment_accounts)

    def _segment_accounts(self):
        members = segment_queryset(self.segment, user=self.user).order_by()
        if self.segment.target == SegmentTarget.ACCOUNT:
            return members.values("pk")
        if self.segment.target == SegmentTarget.CONTACT:
            return members.filter(account__isnull=False).values("account_id")
        return members.filter(converted_account__isnull=False).values("converted_account_id")

    def in_segment(self, queryset, field: str = "account"):
        """``queryset`` narrowed to the records whose ``field`` (an account) is in the chosen
        segment; unchanged when none is chosen."""
        if self.segment is None:
            return queryset
        return queryset.filter(**{f"{field}_id__in": self.segment_accounts()})

    def between(self, queryset, field: str):
        """Rows whose datetime ``field`` falls in the range."""
        return queryset.filter(**{f"{field}__gte": self.start_at, f"{field}__lt": self.end_before})

    def memo(self, key, compute: Callable):
        """Share one query between figures of the same request."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


class SegmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.get_target_display().lower()})"


class DashboardFilterForm(forms.Form):
    """Date range, team, owner and segment. Teams and owners offered follow the role: admins
    any, managers the teams they manage and their members, everybody else is pinned to
    themself. Segments offered are those the user may use (``segments_usable_by``) holding one
    of ``segment_targets``; any other id is a field error that says nothing of the segment."""

    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, empty_label="All teams"
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Everybody"
    )
    segment = SegmentChoiceField(
        queryset=Segment.objects.none(),
        required=False,
        empty_label="No segment",
        error_messages={"invalid_choice": "Choose one of the segments offered."},
    )

    def __init__(
        self, *args, user, people_roles, pinned: bool, segment_targets=ACCOUNT_SEGMENTS, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.user, self.pinned = user, pinned
        if segment_targets:
            self.fields["segment"].queryset = segments_usable_by(user).filter(
                target__in=segment_targets
            )
        else:
            del self.fields["segment"]
        if pinned:
            del self.fields["team"], self.fields["owner"]
            self._read_choices_plainly()
            return
        if user.is_admin_role:
            teams = Team.objects.all()
            people = User.objects.filter(is_active=True, groups__name__in=people_roles).distinct()
        elif user.is_manager:
            teams = Team.objects.filter(managers=user)
            people = User.objects.filter(pk__in=user.managed_user_ids)
        else:  # e.g. support agents on the support dashboard: all their colleagues
            teams = Team.objects.all()
            people = User.objects.filter(is_active=True, groups__name__in=people_roles).distinct()
        self.fields["team"].queryset = teams.order_by("name")
        self.fields["owner"].queryset = people.order_by("username")
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
        self._read_choices_plainly()

    def _read_choices_plainly(self):
        """Each select's options in one plain query, not a count and a server-side cursor."""
        for form_field in self.fields.values():
            read_choices_plainly(form_field)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end is before the start.")
        return data

    def clean_segment(self):
        segment = self.cleaned_data.get("segment")
        if segment is not None:
            try:
                segment_queryset(segment, user=self.user)
            except ValidationError:
                raise ValidationError(
                    "This segment's conditions no longer check out; edit the segment."
                ) from None
        return segment

    def scope(self) -> Scope:
        """The scope asked for; fields with errors fall back to their defaults."""
        data = self.cleaned_data if self.is_bound else {}
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            start, end = end - dt.timedelta(days=DEFAULT_DAYS - 1), end
        if self.pinned:
            owner_ids = frozenset({self.user.pk})
        elif data.get("owner"):
            owner_ids = frozenset({data["owner"].pk})
        elif data.get("team"):
            owner_ids = frozenset(data["team"].members.values_list("pk", flat=True))
        else:
            owner_ids = None
        return Scope(
            user=self.user,
            start=start,
            end=end,
            owner_ids=owner_ids,
            pinned=self.pinned,
            today=today,
            segment=data.get("segment"),
        )


# Figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A column of a figure's rows: ``fmt`` is one of "", "int", "money", "percent", "number",
    "hours", "days" (how the table shows it; the CSV has the raw value)."""

    key: str
    label: str
    fmt: str = ""


@dataclass(frozen=True)
class Figure:
    """One chart with its table. ``compute(scope)`` returns a list of dicts keyed by the
    columns; ``label`` is the column along the chart's axis and ``series`` the plotted ones."""

    key: str
    title: str
    how: str
    compute: Callable[[Scope], list[dict]]
    columns: tuple[Col, ...]
    label: str
    series: tuple[str, ...]
    chart: str = "bar"  # bar, line, doughnut, hbar, or "" for a table only
    stacked: bool = False
    heat: bool = False  # shade percent cells by value (a heatmap table)
    rollups: tuple[str, ...] = ()  # the rollups (analytics.rollups) it reads, if any
    # With a segment chosen: ``live(scope)`` computes from the records (a figure reading the
    # rollups needs one); a figure without it reads records and applies the segment in
    # ``compute``; ``segmentable=False`` marks one the segment cannot restrict.
    live: Callable[[Scope], list[dict]] | None = None
    segmentable: bool = True
    # ``note(scope, figure)``: more of how it is computed that depends on the data (the
    # exchange rates its amounts were converted at).
    note: Callable[[Scope, Figure], str] | None = None

    def run(self, scope: Scope) -> list[dict]:
        if scope.segment is None:
            return self.compute(scope)
        if not self.segmentable:  # shows its value for all the records, and says so
            return self.compute(replace(scope, segment=None, _memo={}))
        return (self.live or self.compute)(scope)

    def reads_rollups(self, scope: Scope) -> bool:
        return bool(self.rollups) and (scope.segment is None or self.live is None)


def _number(value):
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def format_cell(value, fmt: str) -> str:
    if value is None or value == "":
        return "—"
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "money":
        return f"{Decimal(value):,.2f}"
    if fmt == "percent":
        return f"{float(value):.1f} %"
    if fmt in ("number", "hours", "days"):
        return f"{float(value):,.1f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass
class RenderedFigure:
    figure: Figure
    rows: list[dict]
    as_of: dt.datetime | None = None  # when the oldest rollup it reads was last refreshed
    from_rollups: bool = False
    segment_ignored: bool = False  # a segment is chosen but cannot restrict this figure
    note: str = ""

    @property
    def chart_id(self) -> str:
        return f"figure-{self.figure.key}-data"

    def table(self) -> list[list[tuple[str, str]]]:
        """Rows of (text, CSS class) cells; the class shades heatmap cells (``heat-1`` to
        ``heat-10``, a tenth of the percent range a step)."""
        return [[self._cell(row.get(c.key), c) for c in self.figure.columns] for row in self.rows]

    def table_rows_html(self) -> str:
        """The table's body rows (``table``) as HTML, built here rather than by two nested
        template loops: a dashboard shows a few hundred cells, which the template engine took
        longer to render than the figures took to read. Numbers are right-aligned (every column
        but the first), heatmap cells carry their class."""
        rows = []
        for row in self.table():
            cells = []
            for i, (text, css) in enumerate(row):
                classes = ("text-end" if i else "") + (f" {css}" if css else "")
                cells.append(
                    f'<td class="{classes}">{escape(text)}</td>'
                    if classes
                    else f"<td>{escape(text)}</td>"
                )
            rows.append(f"<tr>{''.join(cells)}</tr>")
        return mark_safe("".join(rows))  # every text is escaped above

    def _cell(self, value, column: Col) -> tuple[str, str]:
        css = ""
        if self.figure.heat and column.fmt == "percent" and value is not None:
            level = round(max(0.0, min(float(value), 100.0)) / 10)
            css = f"heat-{level}" if level else ""
        return format_cell(value, column.fmt), css

    def chart(self) -> dict:
        by_key = {c.key: c for c in self.figure.columns}
        return {
            "type": self.figure.chart,
            "stacked": self.figure.stacked,
            "labels": [format_cell(row.get(self.figure.label), "") for row in self.rows],
            "datasets": [
                {"label": by_key[key].label, "data": [_number(row.get(key)) for row in self.rows]}
                for key in self.figure.series
            ],
        }


def percent(part, whole) -> float | None:
    """``part / whole`` in percent, or None when there is no whole."""
    if not whole:
        return None
    return round(float(part or 0) * 100 / float(whole), 1)


def ratio(part, whole, digits: int = 2):
    if not whole:
        return None
    return round(float(part or 0) / float(whole), digits)


# Amounts in the company currency: what the "how computed" notes say --------------------------

RATES_SHOWN = 12  # rates (and groups left out) a note lists; it says how many more


def rates_used_text(used) -> str:
    """ " Rates used: USD 0.9 (valid from 2026-01-01), …." for the distinct (currency, day the
    rate is valid from, rate) triples a figure's amounts were converted at; "" without any."""
    rates = sorted(used)
    if not rates:
        return ""
    shown = ", ".join(
        f"{currency} {rate.normalize():f} (valid from {day:%Y-%m-%d})"
        for currency, day, rate in rates[:RATES_SHOWN]
    )
    more = f" and {len(rates) - RATES_SHOWN} more" if len(rates) > RATES_SHOWN else ""
    return f" Rates used: {shown}{more}."


def left_out_text(missing: dict[tuple[str, str], int], noun: str, out_of: str) -> str:
    """ " 2 movements without a rate left out of the amounts: GBP 2026-02 (1), …." for the
    records that could not be converted, counted per (currency, period); "" without any."""
    total = sum(missing.values())
    if not total:
        return ""
    groups = sorted(missing.items())
    shown = ", ".join(
        f"{currency} {period} ({n:,})" for (currency, period), n in groups[:RATES_SHOWN]
    )
    more = f" and {len(groups) - RATES_SHOWN} more" if len(groups) > RATES_SHOWN else ""
    return (
        f" {total:,} {noun}{'s' if total != 1 else ''} without a rate for the day left out of "
        f"{out_of}: {shown}{more}."
    )


@contextmanager
def analytic_reads():
    """A dashboard's reads. PostgreSQL's JIT, which costs these GROUP BYs more than it saves,
    is off for every connection (crm/settings/base.py), so nothing more is needed here."""
    yield


# The view ------------------------------------------------------------------------------------


class DashboardView(LoginRequiredMixin, TemplateView):
    """A dashboard page: the filter bar, then each figure; ``?export=<key>`` gives a CSV."""

    template_name = "analytics/dashboard.html"
    title = ""
    intro = ""
    figures: tuple[Figure, ...] = ()
    roles: frozenset[str] = SELLERS  # who may open it; anybody else gets a 404
    people_roles: tuple[str, ...] = (Role.SALES_REP,)  # whose names the owner filter offers
    unpinned_roles: frozenset[str] = frozenset({Role.MANAGER, Role.ADMIN})
    segment_targets: tuple[str, ...] = ()  # which segments may filter it (none: no choice)

    @classmethod
    def allowed(cls, user) -> bool:
        return bool(user.is_authenticated and user.role_names & cls.roles)

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not self.allowed(request.user):
            raise Http404("No such dashboard.")
        with lagging_reads():  # snapshots a second old are fine (crm.replica)
            return super().dispatch(request, *args, **kwargs)

    def get_form(self) -> DashboardFilterForm:
        user = self.request.user
        pinned = not (user.role_names & self.unpinned_roles)
        fields = ("start", "end", "team", "owner", "segment")
        data = {k: v for k, v in self.request.GET.items() if k in fields}
        form = DashboardFilterForm(
            data or None,
            user=user,
            people_roles=self.people_roles,
            pinned=pinned,
            segment_targets=self.segment_targets,
        )
        form.is_valid()
        return form

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        scope = form.scope()
        export = request.GET.get("export")
        if export is not None:
            figure = next((f for f in self.figures if f.key == export), None)
            if figure is None:
                raise Http404("No such figure.")
            return self.export(figure, scope)
        context = self.get_context_data(form=form, scope=scope)
        reads = [f for f in self.figures if f.reads_rollups(scope)]
        freshness = rollup_freshness() if reads else {}
        with analytic_reads():
            context["rendered"] = [
                RenderedFigure(
                    f,
                    f.run(scope),
                    as_of=_as_of(f, freshness),
                    from_rollups=f in reads,
                    segment_ignored=scope.segment is not None and not f.segmentable,
                    note=f.note(scope, f) if f.note else "",
                )
                for f in self.figures
            ]
        return self.render_to_response(context)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("export", None)
        context.update(title=self.title, intro=self.intro, query=query.urlencode())
        return context

    def export(self, figure: Figure, scope: Scope) -> HttpResponse:
        with analytic_reads():
            rows = figure.run(scope)
        name = f"{slugify(self.title)}-{figure.key}-{scope.start}-{scope.end}.csv"
        lines = [
            [c.label for c in figure.columns],
            *([_csv_value(row.get(c.key), c.fmt) for c in figure.columns] for row in rows),
        ]
        return csv_response(lines, filename=name, stream=False)


def _as_of(figure: Figure, freshness: dict) -> dt.datetime | None:
    times = [freshness.get(name) for name in figure.rollups]
    if not times or None in times:
        return None
    return min(times)


def _csv_value(value, fmt: str = ""):
    if fmt == "money" and value is not None:
        return Decimal(value).quantize(Decimal("0.01"))
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, float):
        return round(value, 4)
    return value
