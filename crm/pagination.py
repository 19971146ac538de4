"""Pagination that never COUNTs a million rows on a page view.

The total shown is exact below ``EXACT_COUNT_LIMIT`` rows and the planner's estimate above it
(PostgreSQL); whether a next page exists is known by fetching one row more than a page. A list
of a whole table (no filter: every contact, every ticket) is counted up to the limit and
estimated from the table's statistics in one query, instead of planning the query for an
estimate and then probing its length or counting it. A filtered list is estimated by the
planner; its rows are read up to the limit to confirm that it is long, unless the planner expects
many times the limit (``SURELY_LONGER``). An estimate is kept ``ESTIMATED_COUNT_CACHE_SECONDS``
by the process for the same rows (the same query: filters and visibility); an exact count never.
A text search ordered by rank sorts every match anyway: within the limit, its page's keys are
read with their number, then those rows (``EstimatedCountPaginator._rows_counted``).
"""

import hashlib
import json

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import EmptyResultSet
from django.core.paginator import InvalidPage, Page, Paginator
from django.db import connections
from django.db.models import Count, Window
from django.utils.functional import cached_property

#: The highest page number a list answers (a page past the last one shows the first).
MAX_PAGE = 10**7


def query_key(prefix: str, queryset) -> str | None:
    """A cache key naming exactly the rows ``queryset`` reads (its database, SQL and parameters:
    the user's visibility and the filters are in them); None when it reads nothing."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    digest = hashlib.sha256(f"{queryset.db}\x00{sql}\x00{params!r}".encode())
    return f"{prefix}:{digest.hexdigest()}"


def planner_estimate(queryset) -> int | None:
    """Rows PostgreSQL's planner expects the query to return, planned for its keys only: the
    joins that only bring a page's columns (``select_related``) do not change the row count but
    cost the planner time."""
    if queryset.query.is_empty():  # .none(): nothing to plan, and EXPLAIN answers nothing
        return 0
    text = queryset.order_by().values("pk").explain(format="json")
    if not text:
        return 0
    plan = json.loads(text)
    return int(plan[0]["Plan"]["Plan Rows"])


#: A table whose statistics count this many times ``EXACT_COUNT_LIMIT`` rows is not counted at
#: all: only deleting nine rows in ten since the last ANALYZE would bring it under the limit.
#: Nor is a filtered list the planner expects this many times the limit of: the planner would
#: have to overestimate it tenfold for the list to be shorter than the limit.
SURELY_LONGER = 10


def whole_table_count(queryset, limit: int) -> tuple[int | None, int] | None:
    """For a ``queryset`` that is its whole table (no filter, no DISTINCT, no set operation):
    its rows counted up to ``limit + 1`` and the table's statistics' estimate
    (``pg_class.reltuples``, -1 before the first ANALYZE), in one query; the rows are not
    counted (None) when the estimate is over ``SURELY_LONGER`` times the limit (reading 10,000
    index entries cost each page of a million-row list a millisecond and more). None otherwise."""
    query = queryset.query
    if query.where or query.distinct or query.combinator or query.is_sliced:
        return None
    connection = connections[queryset.db]
    table = queryset.model._meta.db_table
    with connection.cursor() as cursor:
        # The count is a subquery PostgreSQL runs only when the CASE needs it.
        cursor.execute(
            "SELECT CASE WHEN s.estimate > %s THEN NULL ELSE (SELECT count(*) FROM (SELECT 1 FROM "
            f"{connection.ops.quote_name(table)} LIMIT %s) AS first_rows) END, s.estimate "
            "FROM (SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass) "
            "AS estimate) AS s",
            [SURELY_LONGER * limit, limit + 1, table],
        )
        rows, estimate = cursor.fetchone()
    return rows, estimate if estimate is not None else -1


class LookaheadPage(Page):
    def __init__(self, object_list, number, paginator, has_more):
        super().__init__(object_list, number, paginator)
        self._has_more = has_more

    def has_next(self):
        return self._has_more

    def end_index(self):
        return self.start_index() + len(self.object_list) - 1 if self.object_list else 0


class EstimatedCountPaginator(Paginator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_is_estimate = False

    @cached_property
    def count(self):
        seconds = settings.ESTIMATED_COUNT_CACHE_SECONDS
        key = self._estimate_key() if seconds else None
        if key is not None:
            kept = caches["local"].get(key)
            if kept is not None:
                self.count_is_estimate = True
                return kept
        count = self._count()
        if key is not None and self.count_is_estimate:
            caches["local"].set(key, count, seconds)
        return count

    @cached_property
    def rows_key(self) -> str | None:
        """``query_key`` of the rows listed (their filters and visibility, not their order or
        columns): what is kept about them is kept under it."""
        return query_key("rows", self.object_list.order_by().values("pk"))

    def _estimate_key(self) -> str | None:
        return f"estimated-count:{self.rows_key}" if self.rows_key else None

    def _count(self) -> int:
        limit = settings.EXACT_COUNT_LIMIT
        whole = whole_table_count(self.object_list, limit)
        if whole is not None:
            rows, estimate = whole
            if rows is not None and rows <= limit:
                return rows
            self.count_is_estimate = True
            return max(rows or 0, estimate)
        estimate = self.__dict__.pop("_estimate", None)
        if estimate is None:
            estimate = planner_estimate(self.object_list)
        # An exact count is cheap when it is small; only trust the estimate when it is not:
        # checked by reading the rows up to the limit, unless the planner expects many times
        # that (the check read 10,001 of a manager's million leads, 11 ms of each page).
        if estimate is not None and (
            estimate > SURELY_LONGER * limit
            or (estimate > limit and self.object_list[limit : limit + 1].exists())
        ):
            self.count_is_estimate = True
            return estimate
        return self.object_list.count()

    def validate_number(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise InvalidPage("That page number is not an integer") from None
        if number < 1:
            raise InvalidPage("That page number is less than 1")
        if number > MAX_PAGE:
            # Its offset would overflow the database's integers; no list is that long.
            raise InvalidPage("That page number is too large")
        return number

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if self._counts_with_keys():
            rows = self._rows_counted(bottom, bottom + self.per_page + 1)
        else:
            rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        has_more = len(rows) > self.per_page
        return LookaheadPage(rows[: self.per_page], number, self, has_more)

    def _counts_with_keys(self) -> bool:
        """Whether the page is a text search ordered by rank that the planner expects to be no
        longer than ``EXACT_COUNT_LIMIT`` (so counted exactly): ranking sorts every match, so
        the page's keys can bring the count along (``_rows_counted``)."""
        query = self.object_list.query
        if (
            "count" in self.__dict__
            or not query.order_by
            or query.order_by[0] != "-search_rank"
            or query.distinct
            or query.combinator
            or query.is_sliced
            or getattr(self.object_list, "_fields", None) is not None  # values() rows
        ):
            return False
        key = self._estimate_key() if settings.ESTIMATED_COUNT_CACHE_SECONDS else None
        if key is not None and caches["local"].get(key) is not None:
            return False  # long, and its estimate is kept
        estimate = self.__dict__["_estimate"] = planner_estimate(self.object_list)
        return estimate <= settings.EXACT_COUNT_LIMIT

    def _rows_counted(self, start: int, stop: int) -> list:
        """The rows ``start:stop`` of a ranked search in two queries: their keys in rank order
        with the number of matches (``COUNT(*) OVER ()``, over the search's own table: joined,
        the window would join every match), then those rows with their related records. A search
        of 7,500 of a million contacts read its page in 29 ms and counted it in 11 ms more; so,
        19 ms and 2 ms (through Django, median of 300)."""
        keys = list(
            self.object_list.annotate(rows_total=Window(Count("*"))).values_list(
                "pk", "rows_total"
            )[start:stop]
        )
        if not keys:
            return []
        self.__dict__["count"] = keys[0][1]
        found = self.object_list.order_by().in_bulk([pk for pk, _ in keys])
        return [found[pk] for pk, _ in keys if pk in found]
