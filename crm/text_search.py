"""Free-text search over a few columns of a model.

On PostgreSQL it is full-text search over one ``to_tsvector`` expression per model, matched by
a GIN index of the same expression (made by ``CreateSearchIndex`` in the model's migration), with
prefix matching so "acm" finds "Acme". On SQLite every word must appear in one of the columns.
"""

import re
from functools import reduce
from operator import and_, or_

from django.db import connection, models
from django.db.migrations.operations.base import Operation
from django.db.models import Q
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


def text_search(queryset: models.QuerySet, fields, query: str) -> models.QuerySet:
    words = search_words(query)
    if not words:
        return queryset
    if connection.vendor == "postgresql":
        table = queryset.model._meta.db_table
        columns = [queryset.model._meta.get_field(f).column for f in fields]
        tsquery = " & ".join(f"{w}:*" for w in words)
        condition = RawSQL(
            f"{tsvector_sql(table, columns)} @@ to_tsquery('simple'::regconfig, %s)",
            [tsquery],
            output_field=models.BooleanField(),
        )
        return queryset.filter(condition)
    per_word = [reduce(or_, (Q(**{f"{f}__icontains": w}) for f in fields)) for w in words]
    return queryset.filter(reduce(and_, per_word))


class CreateSearchIndex(Operation):
    """A GIN index on a model's search expression; PostgreSQL only, nothing elsewhere."""

    reversible = True

    def __init__(self, table: str, columns: list[str], name: str):
        self.table, self.columns, self.name = table, list(columns), name

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        qn = schema_editor.connection.ops.quote_name
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {qn(self.name)} ON {qn(self.table)} "
            f"USING gin (({tsvector_sql(self.table, self.columns)}))"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
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
