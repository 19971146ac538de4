"""What a seed step gets: ``SeedContext``, with the fast writers (COPY), reserved ids and
progress output."""

from __future__ import annotations

import datetime as dt
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import NOT_PROVIDED

from crm.db import pending_checks_run

DEFAULT_SEED = "crm-demo-1"
BATCH_SIZE = 5000


@dataclass
class SeedContext:
    """What a seed step gets; ``for_step`` gives each step its own ``rng``."""

    scale: float
    users: dict[str, Any]
    now: dt.datetime
    stdout: Any = field(default_factory=lambda: sys.stdout)
    seed: str = DEFAULT_SEED
    rng: random.Random = field(default_factory=lambda: random.Random(DEFAULT_SEED))
    step: str = ""
    shared: dict[str, Any] = field(default_factory=dict)

    def for_step(self, name: str) -> SeedContext:
        # A str seed is hashed with SHA-512: stable across processes and PYTHONHASHSEED.
        return replace(self, step=name, rng=random.Random(f"{self.seed}:{name}"))

    # People ----------------------------------------------------------------------------------
    @property
    def reps(self) -> list:
        """Sales reps, ``rep`` and ``rep2`` first."""
        return [u for name, u in self.users.items() if _is_numbered(name, "rep")]

    @property
    def agents(self) -> list:
        return [u for name, u in self.users.items() if _is_numbered(name, "agent")]

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def count(self, base: float, exponent: float = 1.0) -> int:
        """``base`` rows at scale 1, times ``scale ** exponent``; at least one if ``base`` is."""
        return max(1 if base else 0, round(base * self.scale**exponent))

    def progress(self, message: str):
        prefix = f"[{self.step}] " if self.step else ""
        self.stdout.write(f"{prefix}{message}\n")
        if hasattr(self.stdout, "flush"):
            self.stdout.flush()

    # Writing ---------------------------------------------------------------------------------
    def reserve_ids(self, model: type[models.Model], n: int) -> range:
        """``n`` consecutive primary keys nobody else will be given (seeding runs alone)."""
        if n <= 0:
            return range(0)
        table = model._meta.db_table
        pk = model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
            (sequence,) = cursor.fetchone()
            cursor.execute(
                "SELECT setval(%s, GREATEST(nextval(%s) - 1, "
                f"(SELECT COALESCE(MAX({connection.ops.quote_name(pk)}), 0) "
                f"FROM {connection.ops.quote_name(table)})) + %s)",
                [sequence, sequence, n],
            )
            (last,) = cursor.fetchone()
            return range(last - n + 1, last + 1)

    @contextmanager
    def indexes_deferred(
        self, *models_: type[models.Model], when: bool = True, foreign_keys: bool = True
    ):
        """Drop the tables' secondary indexes and foreign keys (unless ``foreign_keys`` is
        false: an UPDATE that leaves the keys alone checks none) for the block and
        rebuild them after: one sort per index and one join per key instead of millions of
        random index inserts and deferred trigger checks. Unique indexes stay, and so do the keys
        to the users table: altering them locks that table against writes, and a sign-in writes
        it (``last_login``). Runs inside the step's transaction, so a failure leaves the schema
        as it was."""
        if not when:
            yield
            return
        tables = [m._meta.db_table for m in models_]
        with connection.cursor() as cursor:
            # Foreign-key checks of rows written earlier in this transaction are still pending;
            # PostgreSQL refuses to alter a table they touch, so run them now.
            pending_checks_run(cursor)
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) "
                "AND NOT i.indisprimary AND NOT i.indisunique "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [tables],
            )
            indexes = cursor.fetchall()
            cursor.execute(
                "SELECT conrelid::regclass::text, quote_ident(conname), "
                "pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = ANY(%s::regclass[]) AND contype = 'f' "
                "AND confrelid <> %s::regclass",
                [tables, get_user_model()._meta.db_table],
            )
            foreign_keys = cursor.fetchall() if foreign_keys else []
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            for table, name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        yield
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            # The kept keys (to the users) have checks pending on the rows written; PostgreSQL
            # refuses to index a table with pending checks, so run them first.
            pending_checks_run(cursor)
            for _, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        self.progress(
            f"rebuilt {len(indexes)} indexes and {len(foreign_keys)} foreign keys "
            f"in {_since(started)}"
        )

    def insert_rows(
        self,
        model: type[models.Model],
        fields: list[str],
        rows: Iterable[tuple],
        order_by: str | None = None,
        staged: Callable[[str], None] | None = None,
    ) -> int:
        """Write plain tuples (values in ``fields`` order, attnames like ``owner_id``): the fast
        path, one COPY. Concrete fields not named get ``now`` (auto_now fields), their
        default (called per row if callable, e.g. a UUID), or NULL. No signals, no ``save()``.
        With ``order_by`` (a field name), the rows are copied into a temporary table first and
        stored in that field's order, as rows written over time lie in a real database: what
        reads a period (the month-by-month rollups, recent-first lists) then reads that
        period's pages, not every page of the table. ``staged`` (with ``order_by``) is called with
        that temporary table's name once every row is in it, before they are stored: a step
        fills in there what it learns only from the rows it generated, with queries (none can
        run while the rows stream in), at the cost of an unindexed table's ``UPDATE``. Returns
        the number of rows written."""
        if staged is not None and order_by is None:
            raise ValueError("staged needs order_by (the rows are staged in a temporary table)")
        opts = model._meta
        by_name = {f.attname: f for f in opts.concrete_fields}
        named = [by_name[name] for name in fields]
        extra_fields, extra_values, per_row = [], [], False
        for f in opts.concrete_fields:
            if f.attname in fields or f.primary_key or f.db_default is not NOT_PROVIDED:
                continue
            extra_fields.append(f)
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                extra_values.append(self.now)
            elif f.has_default() and callable(f.default):
                extra_values.append(f.get_default)
                per_row = True
            else:
                value = f.get_default()  # "" for text fields without a default
                if value is None and not f.null:
                    raise ValueError(f"{opts.label}.{f.name} needs a value in seed rows.")
                extra_values.append(value)
        all_fields = named + extra_fields
        if per_row:
            rows = (row + tuple(v() if callable(v) else v for v in extra_values) for row in rows)
            extra = ()
        else:
            extra = tuple(extra_values)
        qn = connection.ops.quote_name
        columns = ", ".join(qn(f.column) for f in all_fields)
        started, written = time.monotonic(), 0
        adapters = [_copy_adapter(f) for f in all_fields]
        convert = any(adapters)
        target = qn(opts.db_table)
        with connection.cursor() as cursor:
            if order_by is not None:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE seed_ordered ON COMMIT DROP AS "
                    f"SELECT {columns} FROM {target} WITH NO DATA"
                )
            into = target if order_by is None else "seed_ordered"
            with cursor.cursor.copy(f"COPY {into} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    values = row + extra
                    if convert:
                        values = tuple(
                            a(v) if a and v is not None else v
                            for a, v in zip(adapters, values, strict=True)
                        )
                    copy.write_row(values)
                    written += 1
            if staged is not None:
                staged("seed_ordered")
            if order_by is not None:
                cursor.execute("SET LOCAL work_mem = '256MB'")
                cursor.execute(
                    f"INSERT INTO {target} ({columns}) SELECT {columns} FROM seed_ordered "
                    f"ORDER BY {qn(opts.get_field(order_by).column)}"
                )
                cursor.execute("DROP TABLE seed_ordered")
                cursor.execute("SET LOCAL work_mem TO DEFAULT")
        self.progress(f"{opts.verbose_name_plural}: {written:,} rows in {_since(started)}")
        return written

    def bulk_create(
        self, model: type[models.Model], objs: Iterable[models.Model], batch_size: int = BATCH_SIZE
    ) -> list[models.Model]:
        """``Model.objects.bulk_create`` that keeps the dates a step gives ``auto_now`` /
        ``auto_now_add`` fields (``now`` where it gives none), so history can be backdated."""
        objs = list(objs)
        auto = [
            f
            for f in model._meta.concrete_fields
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        for obj in objs:
            for f in auto:
                if getattr(obj, f.attname) is None:
                    setattr(obj, f.attname, self.now)
        saved = [(f, f.auto_now, f.auto_now_add) for f in auto]
        started = time.monotonic()
        try:
            for f in auto:
                f.auto_now = f.auto_now_add = False
            created = model.objects.bulk_create(objs, batch_size=batch_size)
        finally:
            for f, auto_now, auto_now_add in saved:
                f.auto_now, f.auto_now_add = auto_now, auto_now_add
        self.progress(
            f"{model._meta.verbose_name_plural}: {len(created):,} rows in {_since(started)}"
        )
        return created


def _is_numbered(name: str, prefix: str) -> bool:
    return re.fullmatch(rf"{prefix}\d*", name) is not None


def _copy_adapter(f: models.Field):
    if f.get_internal_type() == "JSONField":
        from psycopg.types.json import Jsonb

        return Jsonb
    return None


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"
