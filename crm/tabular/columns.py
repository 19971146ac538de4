"""A column of a record kind: its header, how a record's value is read for a file, and how a
cell of an uploaded file is parsed back into the value a service takes.

Cells travel as text both ways (an XLSX cell is turned into text first, ``files.cell_text``), so
one parser serves CSV and XLSX. A parser raises ``CellError`` with a sentence for the row's error
report. Related records are written and read by a natural key (a user's username or email, an
account's name, a product's SKU), never by a bare database id, except for the record's own
``id`` column.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from crm.currencies import normalize_currency

TRUE_WORDS = frozenset({"1", "y", "yes", "true", "x", "ja", "oui"})
FALSE_WORDS = frozenset({"", "0", "n", "no", "false", "nein", "non"})


class CellError(Exception):
    """A cell that cannot be imported; the message names the problem in one sentence."""


@dataclass
class Context:
    """What parsers of one import share: the importing user and lookups already made (a file
    names the same owner or account on many rows)."""

    user: Any
    cache: dict = field(default_factory=dict)

    def remember(self, key, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def _plain(value):
    return value.pk if isinstance(value, models.Model) else value


def same_value(new, current) -> bool:
    """Whether an imported value equals the stored one (records by key, empty text and None
    alike), so an unchanged cell changes nothing."""
    new, current = _plain(new), _plain(current)
    if new in ("", None) and current in ("", None):
        return True
    if isinstance(current, Decimal) and new is not None:
        try:
            return Decimal(str(new)) == current
        except InvalidOperation:
            return False
    return new == current


@dataclass(frozen=True)
class Column:
    """One column of a kind's files.

    - ``read(record)``: the value (a related record as the record itself);
    - ``cell(value)``: the value as written to a file (a record by its natural key);
    - ``parse(text, ctx)``: a cell back to the service's value; None makes the column
      read-only (exported, ignored on import);
    - ``field``: the service keyword the value goes to (the column's name by default);
    - ``visible(user)``: False hides the column from that user's exports and imports (amounts
      from roles that see none);
    - ``related``: ``select_related`` paths the column reads, so an export is one query.
    """

    name: str
    label: str
    read: Callable[[models.Model], Any]
    cell: Callable[[Any], Any] = lambda value: value
    parse: Callable[[str, Context], Any] | None = None
    field: str = ""
    visible: Callable[[Any], bool] | None = None
    related: tuple[str, ...] = ()
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""
    custom_key: str = ""  # a custom field's column: its value goes to the service's ``custom``

    @property
    def keyword(self) -> str:
        return self.field or self.name

    @property
    def importable(self) -> bool:
        return self.parse is not None

    def shown_to(self, user) -> bool:
        return self.visible is None or bool(self.visible(user))

    def value_cell(self, record):
        return self.cell(self.read(record))


def _attr(name: str):
    return lambda record: getattr(record, name)


def text(
    name: str, label: str, *, max_length: int, required: bool = False, clean=None, **kw
) -> Column:
    """Text up to ``max_length`` characters; ``clean`` normalises it (email lower case…)."""

    def parse(value: str, ctx: Context) -> str:
        value = value.strip()
        if clean is not None:
            value = clean(value)
        if required and not value:
            raise CellError(f"{label} is missing")
        if len(value) > max_length:
            raise CellError(f"{label} is longer than {max_length} characters")
        return value

    kw.setdefault("read", _attr(name))
    return Column(name, label, parse=parse, required=required, **kw)


def currency_code(value: str) -> str:
    """A currency cell as an active ISO 4217 code (blank stays blank: the default applies)."""
    if not value:
        return value
    try:
        return normalize_currency(value)
    except ValidationError as error:
        raise CellError(" ".join(error.messages)) from None


def choice(name: str, label: str, choices, **kw) -> Column:
    """One of ``choices`` (a TextChoices class or pairs), written as its value and read by its
    value or its label, in any case."""
    pairs = list(choices.choices if hasattr(choices, "choices") else choices)
    table = {}
    for value, shown in pairs:
        table[str(value).lower()] = value
        table.setdefault(str(shown).lower(), value)

    def parse(value: str, ctx: Context):
        key = value.strip().lower()
        if not key:
            if kw.get("required"):
                raise CellError(f"{label} is missing")
            return ""
        if key not in table:
            allowed = ", ".join(str(v) for v, _ in pairs)
            raise CellError(f"{label} “{value.strip()}” is not one of: {allowed}")
        return table[key]

    kw.setdefault("read", _attr(name))
    return Column(name, label, parse=parse, **kw)


def boolean(name: str, label: str, **kw) -> Column:
    """Yes or no: written ``yes``/``no``, read from yes/no, true/false, 1/0, x or empty."""

    def parse(value: str, ctx: Context) -> bool:
        key = value.strip().lower()
        if key in TRUE_WORDS:
            return True
        if key in FALSE_WORDS:
            return False
        raise CellError(f"{label} “{value.strip()}” is not yes or no")

    kw.setdefault("read", _attr(name))
    return Column(name, label, cell=lambda v: "yes" if v else "no", parse=parse, **kw)


def integer(name: str, label: str, *, minimum: int = 0, maximum: int = 2**31 - 1, **kw):
    """A whole number within bounds; empty is None (the service's default)."""

    def parse(value: str, ctx: Context):
        value = value.strip().replace(",", "").replace(" ", "")
        if not value:
            return None
        if value.endswith(".0"):  # a spreadsheet's whole number
            value = value[:-2]
        try:
            number = int(value)
        except ValueError:
            raise CellError(f"{label} “{value}” is not a whole number") from None
        if not minimum <= number <= maximum:
            raise CellError(f"{label} {number} is not between {minimum} and {maximum:,}")
        return number

    kw.setdefault("read", _attr(name))
    return Column(name, label, parse=parse, **kw)


def decimal(name: str, label: str, *, places: int = 2, maximum=Decimal(10**12), **kw) -> Column:
    """An amount with ``places`` decimals; empty is None; never negative."""
    step = Decimal(1).scaleb(-places)

    def parse(value: str, ctx: Context):
        value = value.strip().replace(",", "").replace(" ", "")
        if not value:
            return None
        try:
            number = Decimal(value).quantize(step)
        except InvalidOperation:
            raise CellError(f"{label} “{value}” is not an amount") from None
        if not number.is_finite() or number < 0 or number >= maximum:
            raise CellError(f"{label} {value} is out of range")
        return number

    kw.setdefault("read", _attr(name))
    return Column(name, label, parse=parse, **kw)


def date(name: str, label: str, **kw) -> Column:
    """A date, written and read as ``YYYY-MM-DD``."""

    def parse(value: str, ctx: Context):
        value = value.strip()[:10]
        if not value:
            if kw.get("required"):
                raise CellError(f"{label} is missing")
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise CellError(f"{label} “{value}” is not a date (YYYY-MM-DD)") from None

    kw.setdefault("read", _attr(name))
    return Column(name, label, cell=lambda v: v.isoformat() if v else "", parse=parse, **kw)


def readonly(name: str, label: str, read=None, *, cell=None, **kw) -> Column:
    """A column that is exported and ignored on import (computed values, timestamps)."""
    return Column(name, label, read=read or _attr(name), cell=cell or _plain_cell, parse=None, **kw)


def _plain_cell(value):
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    return value


def record(
    name: str,
    label: str,
    *,
    queryset: Callable[[Any], models.QuerySet],
    key: str,
    describe: Callable[[models.Model], str] | None = None,
    noun: str = "",
    **kw,
) -> Column:
    """A related record, written as its natural key (``key``, e.g. an account's name) and read by
    that key among ``queryset(user)`` (what the importing user may pick, as in the form); a
    key more than one record has is refused, naming how many."""
    noun = noun or label.lower()
    describe = describe or (lambda obj: getattr(obj, key))

    def lookup(value: str, ctx: Context):
        found = list(queryset(ctx.user).filter(**{f"{key}__iexact": value})[:2])
        if len(found) > 1:
            raise CellError(f"more than one {noun} is named “{value}”: rename one of them")
        return found[0] if found else None

    def parse(value: str, ctx: Context):
        value = value.strip()
        if not value:
            if kw.get("required"):
                raise CellError(f"{label} is missing")
            return None
        try:
            found = ctx.remember((name, value.lower()), lambda: lookup(value, ctx))
        except CellError:
            raise
        if found is None:
            raise CellError(f"no {noun} “{value}” that you can choose")
        return found

    kw.setdefault("read", _attr(name))
    kw.setdefault("related", (name,))
    return Column(
        name,
        label,
        cell=lambda obj: describe(obj) if obj is not None else "",
        parse=parse,
        **kw,
    )


def user(name: str, label: str, *, queryset: Callable[[Any], models.QuerySet], **kw) -> Column:
    """A user, written as their username and read by username or email among ``queryset(user)``
    (whom the importing user may give records to, as in the forms)."""

    def lookup(value: str, ctx: Context):
        from django.db.models import Q

        found = list(
            queryset(ctx.user).filter(Q(username__iexact=value) | Q(email__iexact=value))[:2]
        )
        return found[0] if len(found) == 1 else None

    def parse(value: str, ctx: Context):
        value = value.strip()
        if not value:
            return None
        found = ctx.remember((name, value.lower()), lambda: lookup(value, ctx))
        if found is None:
            raise CellError(f"{label} “{value}” is not a user you may give records to")
        return found

    kw.setdefault("read", _attr(name))
    kw.setdefault("related", (name,))
    return Column(
        name, label, cell=lambda u: u.username if u is not None else "", parse=parse, **kw
    )


def record_id() -> Column:
    """The record's own id: exported so a file round-trips, read as the key of an update."""
    return Column("id", "ID", read=lambda r: r.pk, parse=None)


def country(name: str, label: str, **kw) -> Column:
    """A country, written as its ISO code and read by code, alpha-3 code or English name."""
    from crm.normalize import country_codes

    def parse(value: str, ctx: Context) -> str:
        value = value.strip()
        if not value:
            return ""
        code = country_codes().get(value.lower())
        if not code:
            raise CellError(f"unknown country “{value}”")
        return code

    kw.setdefault("read", lambda r: getattr(getattr(r, name), "code", None) or "")
    return Column(name, label, parse=parse, **kw)


def custom_field(definition, *, name: str = "") -> Column:
    """A custom field's column: named by the field's key (``name`` when a built-in column has
    that name), labelled by its label, written as ``values.export_text`` and read back by
    ``values.parse`` (the same validation as forms and the API). The value goes to the service
    under ``custom`` (``data["custom"][key]``)."""
    from crm.custom_fields.values import export_text, parse

    key = definition.key

    def parse_cell(value: str, ctx: Context):
        try:
            return parse(definition, value, user=ctx.user)
        except ValidationError as error:
            raise CellError(" ".join(error.messages)) from None

    return Column(
        name or key,
        definition.label,
        read=lambda record: (getattr(record, "custom", None) or {}).get(key),
        cell=lambda stored: export_text(definition, stored),
        parse=parse_cell,
        field="custom",
        required=definition.required,
        custom_key=key,
        help=definition.help_text,
    )
