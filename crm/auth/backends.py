"""Sign-in and the signed-in user of each request.

``AuthenticationBackend`` is allauth's (username or email with a password, its rate limits),
except that it reads the signed-in user of a request in one query with what every page asks of
them next: their role names (menus, permissions, visibility), their unread notifications up to
the bell's cap, the catalog's number (``crm.catalog``) and, when a role must sign in with a
second factor, whether they have one. Each is read fresh on each request, so a role given or
taken, a notification read or a second factor set up shows from the user's next request, as
before; only their own count within one request is of its start.

``AuthenticationMiddleware`` is Django's, moving sessions signed in through allauth's backend
(before this one was) over to this one, so nobody is signed out by the change.
"""

import functools
from dataclasses import dataclass

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthMiddleware
from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections, router
from django.db.models import Exists, Func, IntegerField, OuterRef, Subquery

from crm.models import CatalogVersion, Notification, User
from crm.prepared import prepared

#: The backend sessions name since they are signed in here, and the one they named before.
BACKEND = "crm.auth.backends.AuthenticationBackend"
LEGACY_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"


def signed_in_users():
    """Users with what a request reads of the signed-in one: ``loaded_role_names``,
    ``loaded_unread_count`` (up to ``crm.selectors.UNREAD_COUNT_CAP``),
    ``loaded_catalog_version`` (``crm.catalog``) and, when second factors are required of some
    roles, ``loaded_has_second_factor``."""
    from crm.selectors import UNREAD_COUNT_CAP

    unread = (
        Notification.objects.filter(recipient_id=OuterRef("pk"), read_at__isnull=True)
        .order_by()
        .values("pk")[:UNREAD_COUNT_CAP]
    )
    users = User.objects.order_by().annotate(
        loaded_role_names=ArraySubquery(
            Group.objects.filter(user=OuterRef("pk")).order_by().values("name")
        ),
        loaded_unread_count=Func(
            ArraySubquery(unread), function="cardinality", output_field=IntegerField()
        ),
        loaded_catalog_version=Subquery(CatalogVersion.objects.filter(pk=1).values("value")),
    )
    if settings.MFA_REQUIRED_ROLES:
        from allauth.mfa.models import Authenticator

        users = users.annotate(
            loaded_has_second_factor=Exists(
                Authenticator.objects.filter(user=OuterRef("pk")).exclude(
                    type=Authenticator.Type.RECOVERY_CODES
                )
            )
        )
    return users


@dataclass(frozen=True)
class _SignedInQuery:
    """``signed_in_users()`` for one user, compiled once: its SQL, where the user's columns and
    the annotations are in a row, and the converters of the columns that have any."""

    sql: str
    params: tuple
    fields: slice
    names: tuple[str, ...]
    annotations: tuple[tuple[str, int], ...]
    converters: tuple[tuple[int, tuple, object], ...]


@functools.lru_cache(maxsize=8)
def _signed_in_user_query(alias: str, second_factor: bool) -> _SignedInQuery:
    """Compiling the subqueries costs more than running them, and reading the row through a
    ``RawQuerySet`` cost 0.1 ms a request more than through a cursor."""
    compiler = signed_in_users().query.get_compiler(alias)
    sql, params = compiler.as_sql()
    table = connections[alias].ops.quote_name(User._meta.db_table)
    column = connections[alias].ops.quote_name(User._meta.pk.column)
    selected = compiler.klass_info["select_fields"]
    fields = slice(selected[0], selected[-1] + 1)
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return _SignedInQuery(
        sql=f"{sql} WHERE {table}.{column} = %s",
        params=tuple(params),
        fields=fields,
        names=tuple(column.target.attname for column, _, _ in compiler.select[fields]),
        annotations=tuple(compiler.annotation_col_map.items()),
        converters=tuple(
            (position, tuple(functions), expression)
            for position, (functions, expression) in converters.items()
        ),
    )


def signed_in_user_get(pk) -> User | None:
    """The user ``pk`` as ``signed_in_users()`` reads them, or None."""
    alias = router.db_for_read(User)
    query = _signed_in_user_query(alias, bool(settings.MFA_REQUIRED_ROLES))
    connection = connections[alias]
    with prepared(), connection.cursor() as cursor:  # planned once per connection
        cursor.execute(query.sql, (*query.params, int(pk)))
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    for position, functions, expression in query.converters:
        for function in functions:
            row[position] = function(row[position], expression, connection)
    user = User.from_db(alias, query.names, row[query.fields])
    for name, position in query.annotations:
        setattr(user, name, row[position])
    return user


class AuthenticationBackend(AllauthBackend):
    def get_user(self, user_id):
        try:
            user = signed_in_user_get(user_id)
        except (TypeError, ValueError):  # not a key: nobody
            return None
        return user if user is not None and self.user_can_authenticate(user) else None


class AuthenticationMiddleware(DjangoAuthMiddleware):
    def process_request(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(BACKEND_SESSION_KEY) == LEGACY_BACKEND:
            session[BACKEND_SESSION_KEY] = BACKEND
        super().process_request(request)
