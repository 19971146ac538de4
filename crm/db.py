"""Set-based writes the ORM has no word for."""

import hashlib

from django.db import connections, models, transaction


def pending_checks_run(cursor) -> None:
    """Run the transaction's deferred foreign-key checks now, and defer the later ones again.
    PostgreSQL refuses to alter a table (drop or add an index or a key, turn a trigger off or on)
    while checks of rows written earlier in the transaction are pending, and Django makes every
    foreign key deferred."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def insert_select(model: type[models.Model], fields: list[str], rows: models.QuerySet) -> int:
    """``INSERT INTO model (fields) SELECT …`` from a ``values_list`` queryset whose columns
    match ``fields`` in order, in one statement; rows that would break a unique constraint are
    skipped (``ON CONFLICT DO NOTHING``). Returns how many were inserted.
    Values the database does not fill itself (``auto_now_add`` dates…) must be in ``rows``."""
    connection = connections[rows.db]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(model._meta.get_field(name).column) for name in fields)
    select, params = rows.query.get_compiler(using=rows.db).as_sql()
    table = qn(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) {select} ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def insert_rows(model: type[models.Model], fields: list[str], rows: list[tuple], using="default"):
    """Insert plain tuples (values in ``fields`` order, ready for the database: aware datetimes,
    ids for foreign keys), skipping rows that break a unique constraint; returns how many were
    inserted. Much cheaper than ``bulk_create`` for thousands of rows: no model instances and
    no per-value preparation in Python.

    The rows are COPYed into a temporary table (dropped at commit), then one ``INSERT … SELECT
    … ON CONFLICT DO NOTHING`` moves them, so a row whose key exists, or a concurrent insert of
    the same key, is skipped.
    """
    if not rows:
        return 0
    connection = connections[using]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(model._meta.get_field(name).column) for name in fields)
    table = qn(model._meta.db_table)
    digest = hashlib.blake2b(columns.encode(), digest_size=4).hexdigest()
    incoming = qn(f"incoming_{model._meta.db_table}_{digest}")
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        temporary_copy(cursor, incoming, columns, table, rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {incoming} "
            "ON CONFLICT DO NOTHING"
        )
        inserted = max(cursor.rowcount, 0)
        cursor.execute(f"TRUNCATE {incoming}")
    return inserted


def temporary_copy(cursor, name: str, columns: str, like: str, rows) -> None:
    """COPY ``rows`` (tuples of ``columns``, a quoted column list) into the temporary table
    ``name``, made first (dropped at commit) with those columns of the table ``like``."""
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DROP AS "
        f"SELECT {columns} FROM {like} WITH NO DATA"
    )
    with cursor.cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def array_literal(values) -> str:
    """PostgreSQL's text form of an array of strings or integers (``{"a b","c\\"d"}``), for
    passing thousands of values as one parameter (``%s::varchar[]``, ``%s::bigint[]``):
    psycopg adapts a Python list element by element, which costs more than the query."""
    quoted = (
        str(v) if isinstance(v, int) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}"


def lock_rows(model: type[models.Model], *pks) -> list:
    """Lock the rows of ``model`` with these primary keys until the transaction ends (``FOR
    UPDATE``, in key order so two transactions locking the same rows cannot deadlock); returns
    the keys found. Read the rows, with their relations, in the next statement: it sees the
    latest committed state.

    The lock is a statement of its own over the table alone because a locking read that joins
    other tables goes wrong under concurrency: PostgreSQL re-checks a row another transaction
    changed against the joined rows it read before waiting, so a deal whose stage the first
    "Won" click changed was "not found" by the second click (a 500), and locking the joined rows
    too lets two writers deadlock on a shared account."""
    return list(
        model._base_manager.select_for_update()
        .filter(pk__in=pks)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class AnyOf(models.Lookup):
    """``pk__any_of=[…]``: ``id = ANY(%s::bigint[])``, the list as one array parameter.

    For thousands of ids: ``IN (%s, %s, …)`` makes a parameter of each, parsed and planned
    anew in every statement, and a join with ``unnest(…)`` is planned from a guessed row count
    (a nested loop that compares every pair when the table's statistics are stale, right after
    a bulk insert); ``= ANY(array)`` is an index condition on the key."""

    lookup_name = "any_of"
    prepare_rhs = False  # a list, not one value of the field

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, [int(v) for v in self.rhs]]


models.BigAutoField.register_lookup(AnyOf)
models.BigIntegerField.register_lookup(AnyOf)
models.AutoField.register_lookup(AnyOf)
