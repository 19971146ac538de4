"""Field history: which records are tracked, and who changed them through what.

Tracking is done by PostgreSQL triggers (django-pghistory), not by ``save()`` or signals: bulk
inserts, ``QuerySet.update()``, imports and anything else that writes the table leave a row
too. Each app marks its models with ``track(...)`` in its ``models.py``; the event models
(``<Model>Event``) live in the app beside them.

Every event carries a *context*: the user and the source of the change (README, "Field
history"). Requests get ``source="page"`` and the request path from ``HistoryMiddleware``;
Celery tasks get ``source="automation"`` and the task name (``crm.celery``); services that do
a kind of work of their own (bulk edits, imports, merges, restores, the API) wrap it in
``source(...)``. Events written outside any of these (``manage.py shell``, commands, a
database console) carry no context and are shown as "shell / command".
"""

import contextlib
import functools
import uuid

import pghistory
import pgtrigger
from django.db import connection
from pghistory import config as pghistory_config
from pghistory import runtime
from pghistory.middleware import HistoryMiddleware as BaseHistoryMiddleware
from pghistory.trigger import Event as EventTrigger

from crm.db import pending_checks_run
from crm.models.history import FieldEvent


class Source:
    """The values of a context's ``source``: through what a change was made."""

    PAGE = "page"
    BULK_EDIT = "bulk_edit"
    IMPORT = "import"
    API = "api"
    AUTOMATION = "automation"
    MERGE = "merge"
    RESTORE = "restore"
    RETENTION = "retention"
    COMMAND = "command"
    RULE = "rule"

    LABELS = {
        PAGE: "page",
        BULK_EDIT: "bulk edit",
        IMPORT: "import",
        API: "API",
        AUTOMATION: "automation",
        MERGE: "merge",
        RESTORE: "restore",
        RETENTION: "retention rule",
        COMMAND: "shell / command",
        RULE: "rule",
    }


@contextlib.contextmanager
def source(name: str, *, user=None, **details):
    """Record every tracked change made inside the block as made through ``name``.

    ``source("import", user=job.created_by, job=job.pk)``; ``name`` is one of ``Source``'s
    values (page, bulk_edit, import, api, automation, merge, restore, retention, command,
    rule);
    ``user`` (a User, or None to keep the enclosing context's user) is who the changes are
    shown as made by; ``details`` are extra JSON-serialisable facts kept with the events (``job=``,
    ``task=``, ``path=`` ...). Nests: the inner block is a context of its own that starts from
    the enclosing one's user and path, and the enclosing one is back in force after it, so a
    merge inside a request shows as a merge and the rest of the request as a page.
    """
    metadata = {"source": name, **details}
    if user is not None:
        metadata["user"] = user.pk
    outer = getattr(runtime._tracker, "value", None)
    if outer is None:
        try:
            with pghistory.context(**metadata):
                yield
        finally:
            _forget_context()
        return
    # pghistory merges a nested context into the enclosing one (one id, one metadata row for
    # the whole request); a block of its own gets a new id, restored on the way out.
    runtime._tracker.value = runtime.Context(
        id=uuid.uuid4(), metadata={**outer.metadata, **metadata}
    )
    try:
        yield
    finally:
        runtime._tracker.value = outer


def recorded_as(name: str, **details):
    """Decorator for a service: its changes are recorded as made through ``name``
    (``source(name, ...)``) by the user it is given as its ``user`` keyword."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with source(name, user=kwargs.get("user"), **details):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def _forget_context() -> None:
    """pghistory hands its context to PostgreSQL as transaction-local settings, which outlive
    the block when the transaction goes on (a service inside a larger atomic block): clear
    them, so later changes in that transaction are not recorded under this block's source."""
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('pghistory.context_id', '', true), "
                "set_config('pghistory.context_metadata', '', true)"
            )


class HistoryMiddleware(BaseHistoryMiddleware):
    """pghistory's request context (the user, the path) with ``source="page"``, or
    ``source="api"`` under ``/api/`` (the API authenticates in the view; pghistory's request
    class passes the user it sets on to the context)."""

    def get_context(self, request):
        name = Source.API if request.path.startswith("/api/") else Source.PAGE
        return {**super().get_context(request), "source": name}


class _ChangesTrigger(EventTrigger):
    """pghistory's update trigger, which also stores the changed fields as ``pgh_changes``.

    It is a statement-level trigger, like the insert and delete ones (``track``): one call per
    ``UPDATE`` statement reads the statement's old and new rows from its transition tables and
    attaches the context once, where a row-level trigger attaches it once per row (what made a
    100,000-row import twice as slow: README, "Field history")."""

    def get_func(self, model):
        tracked_model = self.event_model.pgh_tracked_model
        tracked = {f.name for f in tracked_model._meta.fields}
        snapshot = [f for f in self.event_model._meta.fields if f.concrete and f.name in tracked]
        statement = self.level == pgtrigger.Statement
        old, new = ("old_values", "new_values") if statement else ("OLD", "NEW")
        columns = {f.column: f'{new}."{f.column}"' for f in snapshot}
        columns["pgh_created_at"] = pghistory_config.created_at_function()
        columns["pgh_label"] = f"'{self.label}'"
        columns["pgh_obj_id"] = f'{new}."{tracked_model._meta.pk.column}"'
        columns["pgh_context_id"] = (
            "_pgh_attached_context.value" if statement else "_pgh_attach_context()"
        )
        pairs = ", ".join(
            f'(\'{f.name}\', CASE WHEN {old}."{f.column}" IS DISTINCT FROM {new}."{f.column}" '
            f'THEN jsonb_build_array({old}."{f.column}", {new}."{f.column}") END)'
            for f in snapshot
            if not f.primary_key
        )
        columns["pgh_changes"] = (
            f"(SELECT jsonb_object_agg(c.k, c.v) FROM (VALUES {pairs}) AS c(k, v) "
            "WHERE c.v IS NOT NULL)"
        )
        cols = ", ".join(f'"{column}"' for column in columns)
        values = ", ".join(columns.values())
        table = self.event_model._meta.db_table
        if statement:
            # {cond_joined_values}: the old and new rows joined by primary key, where a tracked
            # field changed (pgtrigger fills it in from the trigger's condition).
            return pgtrigger.Func(
                "WITH _pgh_attached_context AS (SELECT _pgh_attach_context() AS value) "
                f'INSERT INTO "{table}" ({cols}) SELECT {values} '
                "FROM _pgh_attached_context, {cond_joined_values}; RETURN NULL;"
            )
        return pgtrigger.Func(f'INSERT INTO "{table}" ({cols}) VALUES ({values}); RETURN NULL;')


class FieldUpdate(pghistory.UpdateEvent):
    """An update event whose row also holds the changed fields' old and new values; it fires
    only when a tracked field changed (``updated_at`` alone leaves no row)."""

    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _ChangesTrigger(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=pgtrigger.Statement,
            )
        )(event_model.pgh_tracked_model)


def track(*, fields: list[str], name: str, parent: str | None = None):
    """Class decorator: keep the history of ``fields`` of a model (inserts, updates with old and
    new values, deletes) in ``<Model>Event``; ``name`` prefixes its index names. ``parent``:
    the foreign key to the record on whose History page these events show too (indexed)."""

    def decorate(model):
        return pghistory.track(
            pghistory.InsertEvent(),
            FieldUpdate(),
            pghistory.DeleteEvent(),
            fields=fields,
            model_name=f"{model.__name__}Event",
            # The (pgh_obj, -pgh_id) index below serves lookups by record.
            obj_field=pghistory.ObjForeignKey(db_index=False, related_name="history_events"),
            base_model=FieldEvent,
            level=pgtrigger.Statement,
            meta={
                "indexes": [
                    # A record's History tab (newest first) and the admins' view (by time).
                    _index(["pgh_obj", "-pgh_id"], f"{name}_hist_obj_idx"),
                    _index(["-pgh_created_at"], f"{name}_hist_at_idx"),
                    *([_index([parent, "-pgh_id"], f"{name}_hist_parent_idx")] if parent else []),
                ]
            },
        )(model)

    return decorate


def _index(fields, name):
    from django.db import models

    return models.Index(fields=fields, name=name)


_task_sources: dict[str, contextlib.AbstractContextManager] = {}


def _task_started(task_id=None, task=None, **kwargs):
    block = source(Source.AUTOMATION, task=task.name)
    block.__enter__()
    _task_sources[task_id] = block


def _task_finished(task_id=None, **kwargs):
    block = _task_sources.pop(task_id, None)
    if block is not None:
        block.__exit__(None, None, None)


def connect_task_sources() -> None:
    """Every Celery task's changes are recorded as ``automation`` with the task's name (a
    service inside it may name a source of its own, e.g. an import)."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_started, weak=False, dispatch_uid="crm.history.task_started")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="crm.history.task_finished")


@contextlib.contextmanager
def untracked_writes(model, columns: set[str]):
    """For a block whose ``UPDATE`` statements on ``model``'s table write only ``columns``, none
    of them kept in its field history: the table's update-history triggers are off for the
    block. A statement-level trigger keeps every old and new row of its statement (transition
    tables) and joins them only to find that no tracked field changed; for a million-row
    ``UPDATE`` that is a fifth of its time. Raises ``ValueError`` if a column is tracked (its
    changes would go unrecorded). Only inside a transaction, which the block's ``ALTER TABLE``
    locks against other writers, so no other change slips by untracked and a failure leaves the
    triggers on."""
    if not connection.in_atomic_block:
        raise RuntimeError("untracked_writes() needs a transaction")
    triggers = [
        trigger
        for registered, trigger in pgtrigger.registered()
        if registered is model and isinstance(trigger, _ChangesTrigger)
    ]
    columns_by_name = {f.name: f.column for f in model._meta.concrete_fields}
    tracked = {
        columns_by_name[f.name]
        for trigger in triggers
        for f in trigger.event_model._meta.fields
        if f.concrete and f.name in columns_by_name
    }
    if tracked & set(columns):
        raise ValueError(f"{model.__name__}: {sorted(tracked & set(columns))} are tracked")
    table = connection.ops.quote_name(model._meta.db_table)
    names = [connection.ops.quote_name(trigger.get_pgid(model)) for trigger in triggers]
    with connection.cursor() as cursor:
        pending_checks_run(cursor)
        for name in names:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
    yield
    with connection.cursor() as cursor:
        # An update of rows inserted in this transaction queues their checks again.
        pending_checks_run(cursor)
        for name in names:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
