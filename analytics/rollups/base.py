"""What every rollup shares: durations packed per row and read back as percentiles, the days a
rollup is rewritten by, the ``Rollup`` record, and the writers (``_insert``, ``_rewrite``,
``_snapshot``)."""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Aggregate, BinaryField, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import RollupState

WINDOW_DAYS = 31  # a rollup's rows are rewritten a month at a time
READ_RUNS = 12  # a rebuild reads a year of those months with one statement
ROLLUP_WORK_MEM = "64MB"  # per sort or hash of a rollup's statement, for its transaction only
# Big-endian float64: what PostgreSQL's ``float8send`` writes, so a rollup's durations are
# packed by ``string_agg(float8send(seconds), '')`` in the same GROUP BY as its counts.
DURATION = np.dtype(">f8")


# Durations -----------------------------------------------------------------------------------


def pack(values: Iterable[float]) -> bytes:
    return np.asarray(list(values), dtype=DURATION).tobytes()


def unpack(blob) -> np.ndarray:
    return np.frombuffer(blob if blob else b"", dtype=DURATION)


def percentiles(blobs: Iterable, fractions: dict[str, float], scale: float = 1.0) -> dict:
    """``{name: value}`` of the durations packed in ``blobs`` (divided by ``scale``); None when
    there are none. Linear between the nearest ranks, as ``percentile_cont``."""
    arrays = [unpack(b) for b in blobs if b]
    values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0] if arrays else None
    if values is None or not values.size:
        return dict.fromkeys(fractions)
    found = np.percentile(values, [f * 100 for f in fractions.values()])
    return {name: float(v) / scale for name, v in zip(fractions, found, strict=True)}


def count(blobs: Iterable) -> int:
    return sum(len(b or b"") for b in blobs) // DURATION.itemsize


class ConcatBytes(Aggregate):
    """PostgreSQL's ``string_agg`` of byte strings: a group's packed durations in one value."""

    function = "string_agg"
    template = "%(function)s(%(expressions)s, ''::bytea)"
    output_field = BinaryField()


def grouped(queryset, group: str, durations: Iterable[str], sums: Iterable[str] = ()) -> dict:
    """``{group value: {field: value}}`` of a rollup queryset: each durations field's rows
    joined into one packed value, each sums field added up, in one GROUP BY."""
    durations, sums = tuple(durations), tuple(sums)
    rows = (
        queryset.order_by()
        .values(group)
        .annotate(**{f"_{f}": ConcatBytes(f) for f in durations}, **{f"_{f}": Sum(f) for f in sums})
    )
    return {r[group]: {f: r[f"_{f}"] for f in durations + sums} for r in rows}


# Days ----------------------------------------------------------------------------------------


def day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def local_day(moment: dt.datetime | None) -> dt.date | None:
    return timezone.localdate(moment) if moment is not None else None


def days_of(queryset, field: str) -> set[dt.date]:
    """The days the rows' datetime ``field`` falls on."""
    return set(queryset.annotate(day=TruncDate(field)).values_list("day", flat=True))


def first_day_of(queryset, field: str) -> dt.date | None:
    """The local day of the earliest datetime ``field`` among the rows."""
    return local_day(queryset.order_by(field).values_list(field, flat=True).first())


def spans(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as (first, last) runs of consecutive days, none longer than a window."""
    out: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if (
            out
            and day - out[-1][1] == dt.timedelta(days=1)
            and (day - out[-1][0]).days < WINDOW_DAYS
        ):
            out[-1][1] = day
        else:
            out.append([day, day])
    return [(a, b) for a, b in out]


def _in_days(field: str, first: dt.date, last: dt.date) -> Q:
    return Q(
        **{
            f"{field}__gte": day_start(first),
            f"{field}__lt": day_start(last + dt.timedelta(days=1)),
        }
    )


def _as_date(value) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


# The record of a rollup and the writers -----------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    name: str
    model: type
    write: Callable[[dt.date, dt.date], int]  # INSERT ... SELECT the rows of the days; count
    days_changed: Callable[[dt.datetime], set[dt.date]]
    first_day: Callable[[], dt.date | None]
    after: Callable[[set[dt.date]], int] | None = None  # rewrites what is derived from the days


def _insert(model, rows: list) -> None:
    """``bulk_create``, or for many rows one ``COPY`` (a rebuild writes a million rows)."""
    if len(rows) < 5000:
        model.objects.bulk_create(rows, batch_size=2000)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    sql = f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in rows:
            copy.write_row([getattr(obj, f.attname) for f in fields])


def _rewrite(rollup: Rollup, days: Iterable[dt.date], *, whole: bool = False) -> int:
    """Replace the rows of ``days`` with rows recomputed from the records, in the database: a
    run of at most a month of consecutive days at a time, each in a transaction that commits
    (outside an enclosing one), so a rebuild holds no lock for long and a refresh costs what
    its changed days hold. ``whole`` (a rebuild of consecutive days): the rows of a year of
    days are read by one statement, then written a month at a time in the same transactions."""
    runs = spans(days)
    consecutive = all((b[0] - a[1]).days == 1 for a, b in zip(runs, runs[1:], strict=False))
    if whole and len(runs) > 1 and consecutive:
        return _rewrite_whole(rollup, runs)
    written = 0
    for first, last in runs:
        with transaction.atomic():
            # A month of records is sorted and grouped in memory, not in temporary files.
            run_sql(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'", [])
            rollup.model.objects.filter(date__gte=first, date__lte=last).delete()
            written += rollup.write(first, last)
    return written


#: The rows a rollup's statement would insert, while ``_rewrite_whole`` reads them.
_gathered: ContextVar[list | None] = ContextVar("rollup_rows", default=None)
_INSERT = re.compile(r"INSERT INTO (?P<table>\S+) \((?P<columns>[^()]*)\)\s*(?=SELECT\b)")


def _rewrite_whole(rollup: Rollup, runs: list[tuple[dt.date, dt.date]]) -> int:
    """Rewrite consecutive runs of days from one read of each year of them: a month's
    statement reads again much of what the other months read (a deal's earlier stage
    changes, the tables every row joins), so twenty-four of them cost many times two. A read
    is a single SELECT, holding no lock that blocks a writer, and a year of rows is what is
    held in memory; the rows are then written a run at a time, each run's old rows replaced
    in a transaction that commits, as ``_rewrite``."""
    written = 0
    for start in range(0, len(runs), READ_RUNS):
        written += _rewrite_read_once(rollup, runs[start : start + READ_RUNS])
    return written


def _rewrite_read_once(rollup: Rollup, runs: list[tuple[dt.date, dt.date]]) -> int:
    gathered: list = []
    token = _gathered.set(gathered)
    try:
        with transaction.atomic():
            run_sql(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'", [])
            rollup.write(runs[0][0], runs[-1][1])
    finally:
        _gathered.reset(token)
    ((columns, rows),) = gathered
    at = columns.index("date")
    rows.sort(key=lambda row: row[at])
    dates = [row[at] for row in rows]
    qn = connection.ops.quote_name
    copy_sql = f"COPY {table(rollup.model)} ({', '.join(qn(c) for c in columns)}) FROM STDIN"
    written = 0
    for first, last in runs:
        run = rows[bisect.bisect_left(dates, first) : bisect.bisect_right(dates, last)]
        with transaction.atomic():
            rollup.model.objects.filter(date__gte=first, date__lte=last).delete()
            if run:
                with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
                    for row in run:
                        copy.write_row(row)
        written += len(run)
    return written


def insert_select(sql: str, params) -> int:
    """Execute a rollup's ``[WITH ...] INSERT INTO table (columns) SELECT ...``; the number
    of rows it wrote. While ``_rewrite_whole`` reads, the statement runs as its SELECT and
    its rows are kept for it instead."""
    gathered = _gathered.get()
    if gathered is None:
        return run_sql(sql, params)
    match = _INSERT.search(sql)
    with connection.cursor() as cursor:
        cursor.execute(sql[: match.start()] + sql[match.end() :], params)
        rows = cursor.fetchall()
    gathered.append(([c.strip() for c in match["columns"].split(",")], rows))
    return len(rows)


# SQL building blocks -------------------------------------------------------------------------


def run_sql(sql: str, params) -> int:
    """Execute one statement; the number of rows it wrote."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def local_date_sql(column: str) -> str:
    """SQL for the local day of a timestamp column, as ``TruncDate`` computes it (the current
    time zone, a setting: its name is a literal)."""
    name = timezone.get_current_timezone_name().replace("'", "''")
    return f"({column} AT TIME ZONE '{name}')::date"


def seconds_sql(end: str, start: str) -> str:
    """SQL for ``end - start`` in seconds, as ``analytics.sql.Seconds``."""
    return f"EXTRACT(EPOCH FROM ({end} - {start}))::double precision"


def packed_sql(expression: str, condition: str | None = None) -> str:
    """SQL aggregate: the group's non-NULL values of ``expression`` packed as ``pack`` does."""
    where = f" FILTER (WHERE {condition})" if condition else ""
    return f"COALESCE(string_agg(float8send(({expression})::double precision), ''::bytea){where}, ''::bytea)"


def window_params(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The moments a run of days starts and ends before (local midnights)."""
    return day_start(first), day_start(last + dt.timedelta(days=1))


def _all_days(rollup: Rollup, today: dt.date) -> list[dt.date]:
    first = rollup.first_day()
    existing = rollup.model.objects.order_by("date").values_list("date", flat=True).first()
    starts = [d for d in (first, existing) if d is not None]
    if not starts:
        return []
    start = min(min(starts), today)
    return [start + dt.timedelta(days=i) for i in range((today - start).days + 1)]


def _snapshot(model, rows: list) -> int:
    with transaction.atomic():
        model.objects.all().delete()
        _insert(model, rows)
    return len(rows)


def rollup_freshness() -> dict[str, dt.datetime | None]:
    return dict(RollupState.objects.values_list("name", "refreshed_at"))


def sum_rows(queryset, group: str | None, fields: Iterable[str]) -> dict:
    """``{group value: {field: sum}}`` of a rollup queryset (one GROUP BY in SQL)."""
    from django.db.models import Sum

    sums = {f: Sum(f) for f in fields}
    if group is None:
        return {None: queryset.order_by().aggregate(**sums)}
    out = defaultdict(dict)
    for row in queryset.order_by().values(group).annotate(**sums):
        out[row.pop(group)] = row
    return dict(out)


def rate_join_sql(alias: str, currency: str, on: str) -> tuple[str, list]:
    """SQL joining, as ``alias``, the exchange rate in force for the ``currency`` column on the
    day ``on`` (the latest valid on or before it, as ``crm.currencies.rate_expression``);
    ``alias.rate`` is NULL for the company currency and when no rate is known. Use
    ``rate_sql`` for the rate itself."""
    from crm.currencies import company_currency
    from crm.models import ExchangeRate

    sql = (
        f"LEFT JOIN LATERAL (SELECT e.rate, e.valid_from FROM {table(ExchangeRate)} e "
        f"WHERE e.currency = {currency} AND e.valid_from <= {on} "
        f"ORDER BY e.valid_from DESC LIMIT 1) {alias} ON {currency} <> %s"
    )
    return sql, [company_currency()]


def rate_sql(alias: str, currency: str) -> tuple[str, list]:
    """SQL for the rate a row converts at: 1 in the company currency, else the joined rate."""
    from crm.currencies import company_currency

    return f"(CASE WHEN {currency} = %s THEN 1 ELSE {alias}.rate END)", [company_currency()]


def month_end_sql(column: str) -> str:
    """SQL for the last day of the month of a date column (as ``analytics.sql.MonthEnd``): the
    day whose rate converts the MRR ledger's movements of that month."""
    return f"(date_trunc('month', {column}) + interval '1 month - 1 day')::date"
