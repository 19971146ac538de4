"""Compiled queries: a queryset built and compiled to SQL once, then run again with new values.

Building a queryset and compiling it (filters resolved, joins set up, each role's visibility
applied, the SQL written) costs far more in Python than PostgreSQL takes to answer a query found
by key: a record page's query of its panels' probes, nine subqueries, took 2.5 ms to build and
compile and 0.3 ms to run. Most of a record page's queries are the same SQL on every request of
the same user; only the record's key and the time change.

``rows(name, build, user=..., **values)`` gives ``list(build(**values))``:

- The first call for ``name`` and the user builds and compiles the queryset twice, with two sets
  of stand-ins for ``values`` (whole numbers, dates and times in years no record holds). The SQL must be
  the same both times, and every parameter that differs must be one of the stand-ins: a value
  written into the SQL's text, deciding its shape, or derived inside ``build`` (``now - 90
  days``, ``timezone.now()``) is refused with ``ValueError``; derive it in SQL, or pass it in
  ``values``. What it keeps (the queryset, its compiler, the SQL and where each value goes) is
  kept with the catalog (``crm.catalog.read_recent``: the 500 used last in the process) under
  ``name``, the user and their roles: so it is dropped when roles or teams change, which decide
  what a user sees.
- Later calls copy the kept compiler, put ``values`` in place of the stand-ins, and run it
  through Django's own iteration: model instances, ``values()`` rows, ``select_related`` and
  ``prefetch_related`` as the queryset says.

Everything else that may change the SQL or a parameter, besides the user's roles and teams, must
be named by ``name``. Under ``COMPILED_QUERIES_CHECK`` (on in the tests) every call also builds
the queryset afresh with the real values and fails when its SQL or parameters differ from what
was run: the suite proves each use.

Without a signed-in user read with the catalog's number (background work, the API's token
requests), or in a request that changed the catalog, nothing is kept: ``build(**values)`` is run
as the plain queryset it is.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from crm import catalog

#: Two sets of stand-ins: whole numbers in range for every integer column (a 16-bit one too, and
#: positive: Django writes an out-of-range value as a condition that is always false or true),
#: and dates and times in years no record holds. A constant among the parameters that happens to equal a
#: stand-in is the same in both compiles, so it is never taken for a value.
_INT_STAND_INS = (30001, 30002)
_TIME_STAND_INS = (dt.datetime(2999, 1, 1, tzinfo=dt.UTC), dt.datetime(2998, 1, 1, tzinfo=dt.UTC))
_DATE_STAND_INS = (dt.date(2999, 1, 1), dt.date(2998, 1, 1))


@dataclass(frozen=True)
class _Compiled:
    queryset: QuerySet | None  # None: the query can find nothing (``none()``)
    compiler: object = None
    sql: str = ""
    params: tuple = ()
    slots: tuple[tuple[int, str], ...] = ()  # (parameter's position, value's name)
    #: The columns' converters (``SQLCompiler.get_converters`` of its select, the same on every
    #: run): asked again for every column on each run, 0.1 ms of a record page's three queries.
    converters: dict | None = None


def _stand_ins(values: dict, which: int) -> dict:
    stand_ins = {}
    for index, (name, value) in enumerate(sorted(values.items())):
        if isinstance(value, list):  # whole numbers, as one array parameter (``= ANY(%s)``)
            if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
                raise TypeError(f"compiled query value {name!r} must be whole numbers")
            stand_ins[name] = [_INT_STAND_INS[which] + 2 * index]
            continue
        if isinstance(value, bool) or not isinstance(value, int | dt.date):
            raise TypeError(f"compiled query value {name!r} must be a whole number, date or time")
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:  # Django would make it aware, with a warning
                raise ValueError(f"compiled query value {name!r} is a time without a zone")
            stand_ins[name] = _TIME_STAND_INS[which] + dt.timedelta(seconds=index)
        elif isinstance(value, dt.date):
            stand_ins[name] = _DATE_STAND_INS[which] + dt.timedelta(days=index)
        else:
            stand_ins[name] = _INT_STAND_INS[which] + 2 * index
    return stand_ins


def _sql(queryset: QuerySet):
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        sql, params = "", ()
    return compiler, sql, tuple(params)


def _compile(name: Hashable, build: Callable[..., QuerySet], values: dict) -> _Compiled:
    """Build and compile the queryset twice, with each set of stand-ins: the SQL must be the
    same, and each parameter that differs must be one of the values, as given. Anything else
    is a value written into the SQL, deciding its shape, or derived from a value or the clock
    inside ``build``: refused."""
    first, second = _stand_ins(values, 0), _stand_ins(values, 1)
    queryset = build(**first)
    compiler, sql, params = _sql(queryset)
    _, other_sql, other_params = _sql(build(**second))
    if sql != other_sql or len(params) != len(other_params):
        raise ValueError(f"compiled query {name!r}: its SQL depends on the values given")
    if not sql:  # the query can find nothing (``none()``), unless only the stand-ins can't
        if _sql(build(**values))[1]:
            raise ValueError(f"compiled query {name!r}: its SQL depends on the values given")
        return _Compiled(None)
    slots = []
    for position, (param, other) in enumerate(zip(params, other_params, strict=True)):
        if param == other:
            continue
        value_name = next(
            (candidate for candidate, stand_in in first.items() if param == stand_in),
            None,
        )
        if value_name is None or second[value_name] != other:
            raise ValueError(
                f"compiled query {name!r}: parameter {position + 1} is derived from the values "
                "or the clock inside its build, not given"
            )
        slots.append((position, value_name))
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    compiler.connection = None  # each run takes its own thread's connection
    return _Compiled(queryset, compiler, sql, params, tuple(slots), converters)


def rows(name: Hashable, build: Callable[..., QuerySet], *, user, **values) -> list:
    """``list(build(**values))``, with the queryset built and compiled once for ``name`` and
    ``user`` (module docstring). ``values`` are whole numbers, lists of whole numbers (one array
    parameter: ``= ANY(%s)``), dates or times (with a zone)."""
    if not catalog.keeps(user):  # nothing would be kept: the plain queryset
        return list(build(**values))
    key = ("compiled", name, user.pk, user.role_names)
    kept = catalog.read_recent(user, key, lambda: _compile(name, build, values))
    if kept.queryset is None:
        return []
    params = list(kept.params)
    for position, value_name in kept.slots:
        value = values[value_name]
        if isinstance(value, int):  # as the backend typed it (psycopg's ``Int8``, say)
            value = type(params[position])(value)
        params[position] = value
    if settings.COMPILED_QUERIES_CHECK:
        _check(name, build, values, kept.sql, params)
    queryset = kept.queryset._chain()
    compiler = copy.copy(kept.compiler)
    compiler.connection = connections[queryset.db]
    compiler.query = queryset.query
    compiler.as_sql = lambda *args, **kwargs: (kept.sql, tuple(params))
    compiler.get_converters = lambda expressions: (
        kept.converters
        if len(expressions) == len(compiler.select)
        else type(compiler).get_converters(compiler, expressions)
    )
    # This clone is iterated here and dropped: nothing can chain onto the kept compiler.
    queryset.query.get_compiler = lambda *args, **kwargs: compiler
    return list(queryset)


def _check(name, build, values, sql, params) -> None:
    _, fresh_sql, fresh_params = _sql(build(**values))
    if fresh_sql != sql or list(fresh_params) != list(params):
        raise AssertionError(
            f"compiled query {name!r} differs from the queryset built afresh:\n"
            f"kept:  {sql} {params!r}\nfresh: {fresh_sql} {list(fresh_params)!r}"
        )


def load_generic(instances: list, field_name: str, *, user) -> None:
    """``prefetch_related_objects(instances, field_name)`` for a generic foreign key: the
    records each instance is about, one query per kind of record through its base manager (as
    Django's prefetch), each compiled once (``rows``). The keys go in as one array parameter, so
    the SQL is the same whatever their number; Django's ``pk__in`` writes one placeholder a key.
    The instances may be of several models with a generic key of that name (tasks, meetings and
    activities about records): their records are still read once per kind. A record that is
    gone leaves None, as with Django's prefetch."""
    if not instances:
        return
    generic = {}  # model -> (field, content type attribute)
    for model in {type(instance) for instance in instances}:
        field = model._meta.get_field(field_name)
        generic[model] = (field, model._meta.get_field(field.ct_field).attname)
    keys: dict[int, set] = {}
    for instance in instances:
        field, ct_attname = generic[type(instance)]
        ct_id, pk = getattr(instance, ct_attname), getattr(instance, field.fk_field)
        if ct_id is not None and pk is not None:
            keys.setdefault(ct_id, set()).add(int(pk))
    found = {}
    for ct_id, pks in keys.items():
        related = ContentType.objects.get_for_id(ct_id).model_class()
        if related is None:  # a kind of record no longer installed
            continue
        for record in rows(("generic", ct_id), _by_keys(related), user=user, keys=sorted(pks)):
            found[ct_id, record.pk] = record
    for instance in instances:
        field, ct_attname = generic[type(instance)]
        ct_id, pk = getattr(instance, ct_attname), getattr(instance, field.fk_field)
        record = found.get((ct_id, int(pk))) if ct_id is not None and pk is not None else None
        field.set_cached_value(instance, record)


_NOT_LOADED = object()


def loaded(instance, field_name: str):
    """The record ``load_generic`` gave ``instance``'s generic foreign key ``field_name``,
    without the key's own check that the record still matches (a content type looked up
    through a copied manager, 6.5 µs a read: a home page reads 60 of them); through the key when
    it was not loaded."""
    record = instance._state.fields_cache.get(field_name, _NOT_LOADED)
    return getattr(instance, field_name) if record is _NOT_LOADED else record


def _by_keys(model):
    def build(keys):
        ops = connections[model._base_manager.db].ops
        column = f"{ops.quote_name(model._meta.db_table)}.{ops.quote_name(model._meta.pk.column)}"
        return model._base_manager.filter(
            RawSQL(f"{column} = ANY(%s)", (keys,), output_field=BooleanField())  # noqa: S611 - names
        )

    return build
