"""Prepared statements on PostgreSQL (``PREPARED_STATEMENTS``, on by default; README, "Database").

With ``server_side_binding`` psycopg sends a query and its parameters apart, and prepares a
query a connection has run ``prepare_threshold`` times: PostgreSQL then parses and plans it once
per connection instead of on every request. A record page's query of its panels' probes, nine
subqueries, is 1.5 ms of planning and 0.35 ms prepared.

A server-bound query must be one statement. django-pghistory hands its context (who changed a
record, through what) to its triggers by putting ``SELECT set_config(...);`` in front of each
write made inside a context, with two parameters of its own: the connections' cursors
(``BindingCursor``) send a query of several statements with its parameters merged into the text
by psycopg, as Django's default client-side binding does, and everything else bound on the
server.
"""

from django.db.backends.signals import connection_created


def _cursor_class():
    import psycopg
    from django.db.backends.postgresql.base import ServerBindingCursor

    class BindingCursor(ServerBindingCursor):
        """Server-side binding, but for a query of several statements (``;``)."""

        def execute(self, query, params=None, **kwargs):
            if params and _several(query):
                query, params = psycopg.ClientCursor(self.connection).mogrify(query, params), None
            return super().execute(query, params, **kwargs)

        def executemany(self, query, params_seq, **kwargs):
            if not _several(query):
                return super().executemany(query, params_seq, **kwargs)
            merge = psycopg.ClientCursor(self.connection).mogrify
            for params in params_seq:
                super().execute(merge(query, params))
            return None

    return BindingCursor


def _several(query) -> bool:
    """Whether ``query`` may hold more than one statement: it has a ``;`` (one inside a
    literal is merged too, which costs only its preparing)."""
    return (b";" if isinstance(query, bytes) else ";") in query


_CURSOR = None


def use_binding_cursor(sender, connection, **kwargs) -> None:
    """``connection_created``: a connection with ``server_side_binding`` opens its cursors as
    ``BindingCursor``."""
    global _CURSOR
    if connection.vendor != "postgresql":
        return
    if not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
        return
    if _CURSOR is None:
        _CURSOR = _cursor_class()
    connection.connection.cursor_factory = _CURSOR


def install() -> None:
    connection_created.connect(use_binding_cursor, dispatch_uid="crm.prepared")
