"""Bulk edit on list pages: the actions each list offers on the rows a user ticks (or on every
row matching the list's filters), and the one way they are carried out.

An app registers a :class:`BulkKind` for a list (``crm.registry.bulk``) naming the entity's list
selector, the list view (whose filters "every row matching" re-applies) and its actions. Each
:class:`BulkAction` says who may use it, the form fields it needs and the function that changes
one row, which calls the entity's single-row service, so history, the timeline, webhooks and
signals happen as when the row is changed on its own page.

:func:`bulk_apply` changes only rows the user may change (``<entity>_list(for_change=True)``),
each in a savepoint of its own: a row a service refuses (``ValidationError``) is counted with the
reason and the other rows still change. Ids the user may not see count as refused, never as a
clue that the row exists.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.module_loading import import_string

from crm.history import Source, source
from crm.selectors import is_record_key
from crm.widgets import read_choices_plainly, widget_renderer

#: The most rows one bulk action changes: more matching rows and nothing is done (narrow the
#: filter), so a request never runs for minutes nor stops half-way.
BULK_MAX_ROWS = 5000

NOT_FOUND = "not found"
NOT_YOURS = "not yours to change"
STALE = "changed by someone else since you loaded the list"


@dataclass(frozen=True)
class BulkAction:
    """One thing a list's bulk bar does to each ticked row.

    ``fields(user)``: the form fields the action needs (names unique within its list);
    ``apply(obj=, user=, data=)``: changes one row through the entity's service, raising
    ``ValidationError`` (or ``PermissionDenied``) to refuse it; ``allowed(user)``: whether the
    user is offered the action at all; ``confirm``: a question asked before it runs."""

    name: str
    label: str
    apply: Callable
    fields: Callable[[object], dict[str, forms.Field]] = lambda user: {}
    allowed: Callable[[object], bool] = lambda user: True
    confirm: str = ""
    done: str = "changed"  # what the result message says of the rows it changed
    # Checks the action's fields together (a lost stage needs a reason), raising
    # ``ValidationError({field: message})``: the bar says so and nothing is changed.
    check: Callable[[dict], None] = lambda data: None


@dataclass(frozen=True)
class BulkKind:
    """The bulk actions of one list page (``name`` is the list's ``bulk_kind``)."""

    name: str
    noun: str  # one row: "account"
    plural: str  # several: "accounts"
    selector: Callable  # the entity's ``<entity>_list(*, user, for_change=False)``
    list_view: str  # dotted path of the FilteredListView the rows come from
    list_url: str  # its URL name, where the bulk action goes back to
    actions: tuple[BulkAction, ...] = ()
    # A field the row's services bump on every change: rows changed after the list was read
    # are left alone (another person's edit is not overwritten unseen). Empty: not checked.
    changed_field: str = "updated_at"
    allowed: Callable[[object], bool] = lambda user: True

    def actions_for(self, user) -> list[BulkAction]:
        if not self.allowed(user):
            return []
        return [action for action in self.actions if action.allowed(user)]

    def action(self, name: str) -> BulkAction | None:
        return next((a for a in self.actions if a.name == name), None)

    def rows(self, count: int) -> str:
        return f"{count:,} {self.noun if count == 1 else self.plural}"

    def view_class(self):
        return import_string(self.list_view)


class BulkRegistry:
    def __init__(self):
        self._kinds: dict[str, BulkKind] = {}

    def register(self, kind: BulkKind) -> None:
        self._kinds[kind.name] = kind

    def get(self, name: str) -> BulkKind | None:
        return self._kinds.get(name)

    def all(self) -> list[BulkKind]:
        return list(self._kinds.values())


SCOPE_SELECTED = "selected"
SCOPE_MATCHING = "matching"


class BulkForm(forms.Form):
    """The bulk bar of a list: the action, its fields, and which rows (ticked, or all matching
    the list's filters as ``query``). Built for one kind and user: only the actions (and their
    fields) the user is offered."""

    action = forms.ChoiceField(label="With the ticked rows")
    ids = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    scope = forms.ChoiceField(
        choices=[(SCOPE_SELECTED, "Ticked rows"), (SCOPE_MATCHING, "All matching")],
        required=False,
        widget=forms.HiddenInput,
    )
    query = forms.CharField(required=False, widget=forms.HiddenInput, max_length=4000)
    seen_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, kind: BulkKind, user, **kwargs):
        kwargs.setdefault("auto_id", "bulk-%s")  # apart from the filter bar's fields
        kwargs.setdefault("renderer", widget_renderer)
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.user = user
        self.actions = kind.actions_for(user)
        self.fields["action"].choices = [("", "Choose…")] + [
            (a.name, a.label) for a in self.actions
        ]
        self.action_fields: dict[str, list[str]] = {}
        for action in self.actions:
            names = []
            for name, form_field in action.fields(user).items():
                form_field.required = False  # required for its action only (``clean``)
                read_choices_plainly(form_field, user)
                self.fields.setdefault(name, form_field)
                names.append(name)
            self.action_fields[action.name] = names

    def clean_ids(self):
        # Ids are checked against visibility by ``bulk_apply``; here only that they are keys.
        # Others (mangled, out of range) are counted as rows not found, never put in a query.
        sent = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        keys = [int(v) for v in sent if is_record_key(v)]
        self.cleaned_data["bad_ids"] = len(sent) - len(keys)
        return keys

    max_rows = f"{BULK_MAX_ROWS:,}"

    @property
    def confirm_action(self) -> BulkAction | None:
        """The action the Apply button asks about first (moving rows to the trash)."""
        return next((a for a in self.actions if a.confirm), None)

    def field_groups(self):
        """Each action with its bound fields, for the bar's template."""
        return [
            (action, [self[name] for name in self.action_fields[action.name]])
            for action in self.actions
        ]

    def clean(self):
        cleaned = super().clean()
        action = self.kind.action(cleaned.get("action") or "")
        if action is None:
            return cleaned
        for name in self.action_fields.get(action.name, ()):
            if name in self.errors:
                continue
            if getattr(self.fields[name], "bulk_required", True) and cleaned.get(name) in (
                None,
                "",
            ):
                self.add_error(name, "Choose one for this action.")
        if not self.errors:
            try:
                action.check(cleaned)
            except ValidationError as exc:
                self.add_error(None, exc)
        cleaned["scope"] = cleaned.get("scope") or SCOPE_SELECTED
        if cleaned["scope"] == SCOPE_SELECTED and not cleaned.get("ids"):
            raise ValidationError("Tick at least one row, or choose all matching rows.")
        return cleaned


def optional(form_field: forms.Field) -> forms.Field:
    """A field its action may leave empty (a note)."""
    form_field.bulk_required = False
    return form_field


@dataclass
class BulkResult:
    """What a bulk action did: rows changed, and rows refused counted by reason."""

    changed: int = 0
    unchanged: int = 0
    refused: Counter = field(default_factory=Counter)
    too_many: int = 0  # the rows matching when they were more than ``BULK_MAX_ROWS``

    def refuse(self, reason: str, count: int = 1) -> None:
        if count > 0:
            self.refused[reason] += count

    @property
    def refused_count(self) -> int:
        return sum(self.refused.values())

    def message(self, kind: BulkKind, action: BulkAction) -> str:
        if self.too_many:
            return (
                f"Nothing was changed: {kind.rows(self.too_many)} match, and a bulk action "
                f"changes at most {BULK_MAX_ROWS:,} at a time. Narrow the filter and try again."
            )
        parts = [f"{self.changed:,} {action.done}"]
        if self.unchanged:
            parts.append(f"{self.unchanged:,} already so")
        text = ", ".join(parts)
        if self.refused:
            reasons = "; ".join(
                f"{reason} ({count:,})" if len(self.refused) > 1 else reason
                for reason, count in self.refused.most_common()
            )
            text += f", {self.refused_count:,} refused: {reasons}"
        return text + "."


def matching_queryset(kind: BulkKind, request, query: str):
    """The rows the list shows with the filters in ``query`` (every page): the list view's own
    queryset, from the entity's selector for this user."""
    from django.http import QueryDict

    view = kind.view_class()()
    listing = _with_query(request, QueryDict(query))
    view.setup(listing)
    return view.get_queryset()


def _with_query(request, query):
    import copy

    clone = copy.copy(request)
    clone.GET = query
    clone.method = "GET"
    return clone


def bulk_apply(*, kind: BulkKind, action: BulkAction, user, request, data: dict) -> BulkResult:
    """Carry out ``action`` on the rows ``data`` names (ticked ``ids``, or every row matching
    ``query``), each through the action's single-row function, for rows ``user`` may change."""
    result = BulkResult()
    if action not in kind.actions_for(user):
        raise PermissionDenied
    if data.get("scope") == SCOPE_MATCHING:
        visible = matching_queryset(kind, request, data.get("query") or "")
        total = visible.count()
        if total > BULK_MAX_ROWS:
            result.too_many = total
            return result
        ids = list(visible.values_list("pk", flat=True))
    else:
        asked = list(dict.fromkeys(data.get("ids") or []))
        if len(asked) > BULK_MAX_ROWS:
            result.too_many = len(asked)
            return result
        ids = list(kind.selector(user=user).filter(pk__in=asked).values_list("pk", flat=True))
        result.refuse(NOT_FOUND, len(asked) - len(ids) + data.get("bad_ids", 0))
    changeable = kind.selector(user=user, for_change=True).filter(pk__in=ids)
    seen_at = data.get("seen_at")
    if seen_at and kind.changed_field:
        stale = changeable.filter(**{f"{kind.changed_field}__gt": seen_at}).count()
        if stale:
            result.refuse(STALE, stale)
            changeable = changeable.exclude(**{f"{kind.changed_field}__gt": seen_at})
    rows = list(changeable.order_by("pk"))
    result.refuse(NOT_YOURS, len(ids) - len(rows) - result.refused[STALE])
    with source(Source.BULK_EDIT, user=user):
        for obj in rows:
            try:
                with transaction.atomic():
                    did = action.apply(obj=obj, user=user, data=data)
            except PermissionDenied:
                result.refuse(NOT_YOURS)
            except ValidationError as exc:
                result.refuse(_reason(exc))
            else:
                if did is False:
                    result.unchanged += 1
                else:
                    result.changed += 1
    return result


def _reason(exc: ValidationError) -> str:
    text = " ".join(exc.messages).strip().rstrip(".")
    return text[:200] or "refused"
