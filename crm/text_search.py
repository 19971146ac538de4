"""Free-text search over a few columns of a model.

Full-text search over one ``to_tsvector`` expression per model, matched by a GIN index of the
same expression (made by ``CreateSearchIndex`` in the model's migration), with prefix matching so
"acm" finds "Acme".
"""

import functools
import re

from django.db import connection, connections, models
from django.db.migrations.operations.base import Operation
from django.db.models.expressions import RawSQL

WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 8


def search_words(query: str) -> list[str]:
    return WORD.findall((query or "").lower())[:MAX_WORDS]


def tsvector_sql(table: str, fields) -> str:
    """The one expression both the index and the query use; '@' and '.' split emails and
    domains into words."""
    qn = connection.ops.quote_name
    parts = [f"coalesce(translate({qn(table)}.{qn(f)}, '@.', '  '), '')" for f in fields]
    return "to_tsvector('simple'::regconfig, " + " || ' ' || ".join(parts) + ")"


SEARCH_COLUMN = "search_document"


@functools.cache
def _has_search_column(alias: str, table: str) -> bool:
    """Whether ``CreateSearchIndex`` gave the table its stored search column (PostgreSQL)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [table, SEARCH_COLUMN],
        )
        return cursor.fetchone() is not None


def text_search(
    queryset: models.QuerySet, fields, query: str, *, rank: bool = False
) -> models.QuerySet:
    """Rows matching every word of ``query``; with ``rank``, annotated with ``search_rank`` so
    a caller can put the best matches first. Ordering by rank also keeps the planner on the GIN
    index rather than walking a date index past millions of rows."""
    words = search_words(query)
    if not words:
        return queryset
    table = queryset.model._meta.db_table
    qn = connections[queryset.db].ops.quote_name
    if _has_search_column(queryset.db, table):
        vector = f"{qn(table)}.{qn(SEARCH_COLUMN)}"
    else:
        columns = [queryset.model._meta.get_field(f).column for f in fields]
        vector = tsvector_sql(table, columns)
    tsquery = " & ".join(f"{w}:*" for w in words)
    condition = RawSQL(
        f"{vector} @@ to_tsquery('simple'::regconfig, %s)",
        [tsquery],
        output_field=models.BooleanField(),
    )
    queryset = queryset.filter(condition)
    if rank:
        queryset = queryset.annotate(
            search_rank=RawSQL(
                f"ts_rank({vector}, to_tsquery('simple'::regconfig, %s))",
                [tsquery],
                output_field=models.FloatField(),
            )
        )
    return queryset


class CreateSearchIndex(Operation):
    """A stored generated ``search_document`` tsvector column over the model's search fields
    with a GIN index on it (matching rows need no re-parsing of their text). The column is not
    in the Django model: only ``text_search`` reads it."""

    reversible = True

    def __init__(self, table: str, columns: list[str], name: str):
        self.table, self.columns, self.name = table, list(columns), name

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        qn = schema_editor.connection.ops.quote_name
        schema_editor.execute(
            f"ALTER TABLE {qn(self.table)} ADD COLUMN IF NOT EXISTS {qn(SEARCH_COLUMN)} tsvector "
            f"GENERATED ALWAYS AS ({tsvector_sql(self.table, self.columns)}) STORED"
        )
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {qn(self.name)} ON {qn(self.table)} "
            f"USING gin ({qn(SEARCH_COLUMN)})"
        )
        _has_search_column.cache_clear()

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        schema_editor.execute(
            f"DROP INDEX IF EXISTS {schema_editor.connection.ops.quote_name(self.name)}"
        )

    def describe(self):
        return f"Create full-text search index {self.name} on {self.table}"

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [],
            {"table": self.table, "columns": self.columns, "name": self.name},
        )
