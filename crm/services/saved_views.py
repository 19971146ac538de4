"""Saved views of the list pages: creating one from the list as it is shown, renaming it,
updating it to the list's current filters and columns, sharing it with the team, making it the
list's default, deleting it. Only a view's owner changes it (``saved_view_get(for_change=True)``
fetches what these take)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict

from crm.models import SavedView

#: Query parameters a view does not keep: where the list was, an export, which view was active.
NOT_SAVED = frozenset({"page", "export", "view"})
MAX_QUERY_LENGTH = SavedView._meta.get_field("query").max_length
MAX_NAME_LENGTH = SavedView._meta.get_field("name").max_length
#: Views one user may keep of one list.
MAX_VIEWS_PER_LIST = 50


def view_query(params: QueryDict | str) -> str:
    """The part of a list's query string a view keeps: filters, sort and page size, without
    blank values."""
    if isinstance(params, str):
        params = QueryDict(params.lstrip("?"))
    kept = QueryDict(mutable=True)
    for key, values in params.lists():
        if key in NOT_SAVED:
            continue
        values = [value for value in values if value.strip()]
        if values:
            kept.setlist(key, values)
    return kept.urlencode()


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Name the view."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"At most {MAX_NAME_LENGTH} characters."})
    return name


def _clean_query(query: str) -> str:
    query = view_query(query)
    if len(query) > MAX_QUERY_LENGTH:
        raise ValidationError("These filters are too long to keep in a view.")
    return query


def _clean_hidden(hidden_columns, choosable) -> list[str]:
    """The hidden column keys, in the list's order; at least one column stays shown."""
    hidden = set(hidden_columns or ())
    unknown = hidden - set(choosable)
    if unknown:
        raise ValidationError({"columns": "Choose among the list's columns."})
    if choosable and hidden >= set(choosable):
        raise ValidationError({"columns": "Keep at least one column shown."})
    return [key for key in choosable if key in hidden]


def _name_taken(*, owner, list_key, name, exclude_pk=None) -> bool:
    others = SavedView.objects.filter(owner=owner, list_key=list_key, name__iexact=name)
    if exclude_pk:
        others = others.exclude(pk=exclude_pk)
    return others.exists()


def _taken_error(name) -> ValidationError:
    return ValidationError({"name": f"You already have a view named “{name}” of this list."})


@transaction.atomic
def saved_view_create(
    *,
    user,
    list_key: str,
    name: str,
    query: str,
    hidden_columns=(),
    choosable=(),
    shared: bool = False,
    default: bool = False,
) -> SavedView:
    """A new view of the list ``list_key`` as ``user`` sees it now (``query``, the columns not
    in ``hidden_columns``, chosen among the list's ``choosable`` column keys)."""
    name = _clean_name(name)
    query = _clean_query(query)
    hidden = _clean_hidden(hidden_columns, choosable)
    if not list_key:
        raise ValidationError("Views are saved from a list page.")
    if SavedView.objects.filter(owner=user, list_key=list_key).count() >= MAX_VIEWS_PER_LIST:
        raise ValidationError(
            f"You keep {MAX_VIEWS_PER_LIST} views of this list already: delete one first."
        )
    if _name_taken(owner=user, list_key=list_key, name=name):
        raise _taken_error(name)
    try:
        with transaction.atomic():
            view = SavedView.objects.create(
                owner=user,
                list_key=list_key,
                name=name,
                query=query,
                hidden_columns=hidden,
                shared_with_team=shared,
            )
    except IntegrityError:  # the same name saved at the same moment
        raise _taken_error(name) from None
    if default:
        saved_view_make_default(view=view, user=user)
    return view


def _check_owner(view, user) -> None:
    if view.owner_id != user.pk:
        raise ValidationError("Only the view's owner changes it.")


@transaction.atomic
def saved_view_rename(*, view: SavedView, user, name: str) -> SavedView:
    _check_owner(view, user)
    name = _clean_name(name)
    if name == view.name:
        return view
    if _name_taken(owner=user, list_key=view.list_key, name=name, exclude_pk=view.pk):
        raise _taken_error(name)
    view.name = name
    view.save(update_fields=["name", "updated_at"])
    return view


@transaction.atomic
def saved_view_update(
    *, view: SavedView, user, query: str, hidden_columns=None, choosable=()
) -> SavedView:
    """The view now keeps the list's current filters, sort and page size (and, when given, the
    columns it hides)."""
    _check_owner(view, user)
    view.query = _clean_query(query)
    fields = ["query", "updated_at"]
    if hidden_columns is not None:
        view.hidden_columns = _clean_hidden(hidden_columns, choosable)
        fields.append("hidden_columns")
    view.save(update_fields=fields)
    return view


@transaction.atomic
def saved_view_set_columns(*, view: SavedView, user, hidden_columns, choosable) -> SavedView:
    _check_owner(view, user)
    view.hidden_columns = _clean_hidden(hidden_columns, choosable)
    view.save(update_fields=["hidden_columns", "updated_at"])
    return view


@transaction.atomic
def saved_view_share(*, view: SavedView, user, shared: bool = True) -> SavedView:
    """Share the view with the owner's teams (or stop sharing it)."""
    _check_owner(view, user)
    if view.shared_with_team != shared:
        view.shared_with_team = shared
        view.save(update_fields=["shared_with_team", "updated_at"])
    return view


@transaction.atomic
def saved_view_make_default(*, view: SavedView, user, default: bool = True) -> SavedView:
    """Make the view the one its owner's list opens with (the previous default stops being
    one), or with ``default=False`` stop it being the default."""
    _check_owner(view, user)
    # The owner's views of the list, locked: two tabs making two defaults at once queue here.
    mine = SavedView.objects.select_for_update().filter(owner=user, list_key=view.list_key)
    list(mine.values_list("pk", flat=True))
    if default:
        mine.filter(is_default=True).exclude(pk=view.pk).update(is_default=False)
    if view.is_default != default:
        view.is_default = default
        view.save(update_fields=["is_default", "updated_at"])
    return view


@transaction.atomic
def saved_view_change(
    *,
    view: SavedView,
    user,
    name: str,
    hidden_columns,
    choosable,
    shared: bool,
    default: bool,
) -> SavedView:
    """The view's settings page in one go: name, columns, sharing and default."""
    saved_view_rename(view=view, user=user, name=name)
    saved_view_set_columns(view=view, user=user, hidden_columns=hidden_columns, choosable=choosable)
    saved_view_share(view=view, user=user, shared=shared)
    saved_view_make_default(view=view, user=user, default=default)
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, user) -> None:
    _check_owner(view, user)
    view.delete()
