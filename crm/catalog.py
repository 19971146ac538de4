"""The catalog: records that every page reads and few requests change, kept in each web process.

A list page reads the same few rows on every request: the custom fields of its kind of record,
the user's saved views, the people of an "Owner" filter, the campaigns, sequences, stages or
queues of its other filters. They change when an admin edits them, hardly ever beside how often
they are read. ``read(user, key, load)`` (``user``: the request's) keeps what ``load()`` returns in the process's memory,
for as long as the catalog has not changed.

How a process knows it has not changed, without a query of its own:

- Every table of the catalog carries a statement trigger (``catalog_triggers``, added by each
  app's migrations for its tables) that raises one number, the row of ``CatalogVersion``, in the
  transaction that changes the table. The number and the change are committed together, so
  whoever sees the new number sees the change.
- The query that reads the signed-in user on every request (``crm.auth.backends``) reads the
  number too: ``request.user.loaded_catalog_version``. A request that sees a number other than
  the one the process kept its values under drops them all and reads afresh.
- A value read after the number was read is at least as new as the number says; one read
  before it changed is never kept under the new number.
- What is kept is read from the primary, even in a view whose reads may lag (``crm.replica``):
  the number is the primary's.
- A request of this process that changes the catalog (``track``: saves, deletes and membership
  changes of the catalog's models) drops what is kept and reads afresh for the rest of that
  request, which still knows the old number; a change it rolls back leaves nothing behind.
- Without a signed-in user read that way (background work, the API's token requests, a
  command), or with ``CATALOG_CACHE`` off, ``read`` is ``load()``.

What is kept is shared by the process's requests: callers treat it as read-only (lists are
copied by ``read``, model instances are not to be changed).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.signals import request_started
from django.db.models.signals import m2m_changed, post_delete, post_save

from crm.replica import primary_reads

#: Values kept at most, beyond which all are dropped (keys hold users and lists: bounded by
#: people × lists, a few thousand at most).
KEPT_AT_MOST = 5000

#: (the catalog number the values were read under, the values by key).
_kept: tuple[int | None, dict] = (None, {})
#: Values kept by ``read_recent`` at most, the least recently used dropped first: larger ones (a
#: compiled query with its queryset, 50 to 100 KiB: ``crm.compiled``), so about 50 MB at most.
RECENT_AT_MOST = 500
#: (the catalog number, ``read_recent``'s values by key, least recently used first).
_recent: tuple[int | None, OrderedDict] = (None, OrderedDict())
_recent_lock = threading.Lock()
#: Whether the current request changed the catalog (read afresh until it ends).
_changed_here: ContextVar[bool] = ContextVar("crm_catalog_changed_here", default=False)
#: The tables of the tracked models.
_tables: set[str] = set()
#: What follows each FROM and JOIN of a statement: a table, or anything else (a subquery, the
#: FROM of an EXTRACT), which is never taken for one of the catalog's.
_FROM = re.compile(r'\b(?:FROM|JOIN)\s+"?([^"\s(]*)', re.IGNORECASE)


def keeps(user) -> bool:
    """Whether ``read`` keeps what it loads for ``user`` (the request's), rather than loading
    every time."""
    return (
        getattr(user, "loaded_catalog_version", None) is not None
        and not _changed_here.get()
        and settings.CATALOG_CACHE
    )


def read(user, key: Hashable, load: Callable[[], Any]) -> Any:
    """What ``load()`` returns, kept for this process under the catalog number read with the
    request's ``user`` and ``key`` (which must name everything the value depends on besides
    the catalog: the user, the list, the SQL). A list is returned as a new list of the same
    items."""
    global _kept
    if not keeps(user):
        return load()
    version = user.loaded_catalog_version
    kept_version, values = _kept
    if kept_version != version:
        values = {}
        _kept = (version, values)
    if key in values:
        value = values[key]
    else:
        if len(values) >= KEPT_AT_MOST:
            values.clear()
        with primary_reads():
            value = values[key] = load()
    return list(value) if isinstance(value, list) else value


def read_recent(user, key: Hashable, load: Callable[[], Any]) -> Any:
    """``read``, for values too large to keep thousands of: at most ``RECENT_AT_MOST`` are kept,
    the least recently used dropped first."""
    global _recent
    if not keeps(user):
        return load()
    version = user.loaded_catalog_version
    with _recent_lock:
        if _recent[0] != version:
            _recent = (version, OrderedDict())
        values = _recent[1]
        if key in values:
            values.move_to_end(key)
            return values[key]
    with primary_reads():
        value = load()
    with _recent_lock:
        if _recent[1] is values:  # not dropped meanwhile
            values[key] = value
            while len(values) > RECENT_AT_MOST:
                values.popitem(last=False)
    return value


def rows(user, queryset, *, name: Hashable | None = None) -> list:
    """``list(queryset)``, kept under the query's SQL when every table it reads is the
    catalog's (the options of a filter: people, campaigns, stages, queues).

    ``name`` names a query that is always the same, whoever asks (every queue, every agent):
    its rows are then kept under the name and found without compiling the SQL again (a few
    tenths of a millisecond for each filter, bulk bar and page that reads them). The query
    must read only the catalog's tables, checked when it is read."""
    if name is not None:
        return read(user, ("named", name), lambda: _catalog_rows(queryset, name))
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # ``none()``: nothing to read
        return []
    if not _reads_catalog_only(sql):
        return list(queryset)
    return read(user, ("rows", sql, repr(params)), lambda: list(queryset))


def named(name: Hashable):
    """Name the query a filter's ``queryset`` callable returns (``rows``'s ``name``), for a
    callable whose query is always the same: a filter bar's options are then read by name
    (``crm.filtersets.SearchFilterSet``)."""

    def naming(function):
        function.catalog_name = name
        return function

    return naming


def _reads_catalog_only(sql: str) -> bool:
    tables = _FROM.findall(sql)
    return bool(tables) and all(table in _tables for table in tables)


def _catalog_rows(queryset, name) -> list:
    try:
        sql, _ = queryset.query.sql_with_params()
    except EmptyResultSet:
        return []
    if not _reads_catalog_only(sql):
        raise ValueError(f"The catalog's rows named {name!r} read tables beside the catalog's.")
    return list(queryset)


def attach(user, records, name: str, queryset, *, rows_name: Hashable | None = None) -> None:
    """Give each of ``records`` (a page of rows) the record its foreign key ``name`` points to,
    as ``select_related`` would, from the catalog's rows of ``queryset`` (queues, people,
    policies; ``rows_name`` as ``rows``'s ``name``): the page's query joins fewer tables. Those
    the catalog lacks (a person without a role) are read in one query, for these records
    only."""
    if not records:
        return
    field = records[0]._meta.get_field(name)
    kept = {obj.pk: obj for obj in rows(user, queryset, name=rows_name)}
    wanted = {getattr(record, field.attname) for record in records} - {None}
    missing = wanted - kept.keys()
    if missing:
        others = queryset.model._base_manager.filter(pk__in=missing)
        others.query.select_related = queryset.query.select_related  # as the kept ones
        kept.update((obj.pk, obj) for obj in others)
    for record in records:
        key = getattr(record, field.attname)
        field.set_cached_value(record, kept.get(key) if key is not None else None)


def forget() -> None:
    """Drop every kept value (a change of the catalog in this process; a test's end)."""
    global _kept, _recent
    _kept = (None, {})
    _recent = (None, OrderedDict())


def changed_here(**kwargs) -> None:
    """This request changed the catalog (a signal of ``track``'s, or a service's ``update()``,
    which sends none): drop what is kept, and read afresh until the request ends."""
    _changed_here.set(True)
    forget()


def request_begins(**kwargs) -> None:
    """A new request: nothing of the catalog changed by it yet (``request_started``)."""
    _changed_here.set(False)


request_started.connect(request_begins, dispatch_uid="crm.catalog.request_started")


def track(*models) -> None:
    """Drop what is kept when this process saves or deletes a row of ``models`` (or changes
    the members of a many-to-many ``through`` model among them). Each app tracks the models
    whose tables its migrations give ``catalog_triggers``."""
    for model in models:
        _tables.add(model._meta.db_table)
        uid = f"crm.catalog.{model._meta.label_lower}"
        post_save.connect(changed_here, sender=model, dispatch_uid=f"{uid}.save", weak=False)
        post_delete.connect(changed_here, sender=model, dispatch_uid=f"{uid}.delete", weak=False)
        m2m_changed.connect(changed_here, sender=model, dispatch_uid=f"{uid}.m2m", weak=False)


#: The function each catalog table's trigger runs: raise the number (making its row if a flush
#: emptied the table).
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION crm_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crm_catalogversion (id, value) VALUES (1, 1)
    ON CONFLICT (id) DO UPDATE SET value = crm_catalogversion.value + 1;
    RETURN NULL;
END
$$;
"""
FUNCTION_REVERSE_SQL = "DROP FUNCTION IF EXISTS crm_catalog_changed();"


def catalog_triggers(table: str, columns: tuple[str, ...] = ()):
    """A migration operation giving ``table`` the catalog's trigger: after any insert, delete
    or truncate, and after an update (of ``columns`` only, when given: a column written on
    every sign-in or assignment, such as a user's ``last_login``, is left out)."""
    from django.db import migrations

    update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
    return migrations.RunSQL(
        f"CREATE TRIGGER crm_catalog_changed AFTER INSERT OR DELETE OR {update} OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION crm_catalog_changed();",
        f"DROP TRIGGER IF EXISTS crm_catalog_changed ON {table};",
    )
