"""One definition's values: form field, stored JSON, display text, CSV text, parsing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.formats import date_format, number_format

from crm.currencies import company_currency, currency_choices, normalize_currency
from crm.models.custom_fields import CustomFieldKind as K

MAX_TEXT = 500
MAX_LONG_TEXT = 10_000
MAX_NUMBER = Decimal("1e15")
YES = ("true", "1", "yes", "y", "on")
NO = ("false", "0", "no", "n", "off")


# ------------------------------------------------------------------------------------------
# Form fields
# ------------------------------------------------------------------------------------------


class MoneyWidget(forms.MultiWidget):
    def __init__(self, attrs=None):
        super().__init__(
            [
                forms.NumberInput(attrs={"step": "0.01", "class": "form-control"}),
                forms.Select(choices=currency_choices(), attrs={"class": "form-select"}),
            ],
            attrs,
        )

    def decompress(self, value):
        if isinstance(value, dict):
            return [value.get("amount"), value.get("currency")]
        return [None, company_currency()]


class MoneyFormField(forms.MultiValueField):
    widget = MoneyWidget

    def __init__(self, **kwargs):
        fields = (
            forms.DecimalField(max_digits=17, decimal_places=2),
            forms.ChoiceField(choices=currency_choices()),
        )
        super().__init__(fields, require_all_fields=False, **kwargs)

    def compress(self, data_list):
        if not data_list or data_list[0] in (None, ""):
            return None
        return {"amount": data_list[0], "currency": data_list[1] or company_currency()}


def _users():
    from crm.models.users import users_with_role

    return users_with_role()


def form_field(field, *, user=None) -> forms.Field:
    """The Django form field for ``field`` (a ``CustomField``)."""
    from crm.widgets import AutocompleteSelect

    common = {"label": field.label, "required": field.required, "help_text": field.help_text}
    kind = field.kind
    if kind == K.TEXT:
        return forms.CharField(max_length=MAX_TEXT, **common)
    if kind == K.LONG_TEXT:
        return forms.CharField(
            max_length=MAX_LONG_TEXT, widget=forms.Textarea(attrs={"rows": 3}), **common
        )
    if kind == K.NUMBER:
        return forms.DecimalField(max_digits=21, decimal_places=6, **common)
    if kind == K.MONEY:
        return MoneyFormField(**common)
    if kind == K.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == K.BOOLEAN:
        return forms.TypedChoiceField(
            choices=[("", "—"), ("true", "Yes"), ("false", "No")],
            coerce=lambda v: v == "true",
            empty_value=None,
            **common,
        )
    if kind == K.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *_choices(field)], **common)
    if kind == K.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=_choices(field), widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == K.USER:
        return forms.ModelChoiceField(
            queryset=_users(), widget=AutocompleteSelect("user_autocomplete"), **common
        )
    if kind == K.RECORD:
        entity = _link_entity(field)
        queryset = entity.model.objects.all()
        if user is not None and hasattr(queryset, "visible_to"):
            queryset = queryset.visible_to(user)
        return forms.ModelChoiceField(
            queryset=queryset, widget=AutocompleteSelect(entity.autocomplete), **common
        )
    raise ValueError(f"Unknown custom field kind {kind!r}")


def _choices(field) -> list[tuple[str, str]]:
    return [(str(c["value"]), str(c.get("label") or c["value"])) for c in field.choices or []]


def _link_entity(field):
    from crm.custom_fields.registry import custom_field_entities

    entity = custom_field_entities.get(field.link_entity)
    if entity is None:
        raise ValueError(f"{field.link_entity!r} is not a kind of record")
    return entity


# ------------------------------------------------------------------------------------------
# Stored JSON <-> Python
# ------------------------------------------------------------------------------------------


def _number(value: Decimal):
    return int(value) if value == value.to_integral_value() else float(value)


def to_storage(field, value):
    """The JSON stored for a form field's cleaned ``value`` (None: no value)."""
    if value in (None, "", [], {}):
        return None
    kind = field.kind
    if kind in (K.TEXT, K.LONG_TEXT, K.CHOICE):
        return str(value)
    if kind == K.NUMBER:
        return _number(Decimal(str(value)))
    if kind == K.MONEY:
        amount = Decimal(str(value["amount"]))
        return {"amount": _number(amount), "currency": value.get("currency") or company_currency()}
    if kind == K.DATE:
        return value.isoformat()
    if kind == K.BOOLEAN:
        return bool(value)
    if kind == K.MULTI_CHOICE:
        return [str(v) for v in value]
    if kind in (K.USER, K.RECORD):
        return int(getattr(value, "pk", value))
    raise ValueError(kind)


def to_initial(field, stored):
    """A form field's initial value for the stored JSON."""
    if stored is None:
        return None
    kind = field.kind
    if kind == K.DATE:
        try:
            return dt.date.fromisoformat(str(stored))
        except ValueError:
            return None
    if kind == K.BOOLEAN:
        return "true" if stored else "false"
    if kind == K.MONEY:
        return stored if isinstance(stored, dict) else None
    return stored


def display(field, stored, *, names: dict | None = None) -> str:
    """The value as a person reads it (``names``: ``{pk: str}`` of users or linked records,
    looked up by ``display_names`` for a page at once)."""
    if stored in (None, "", []):
        return ""
    kind = field.kind
    if kind == K.MONEY and isinstance(stored, dict):
        amount = Decimal(str(stored.get("amount", 0)))
        return f"{number_format(amount, 2, force_grouping=True)} {stored.get('currency', '')}"
    if kind == K.NUMBER:
        return number_format(Decimal(str(stored)), force_grouping=True)
    if kind == K.DATE:
        try:
            return date_format(dt.date.fromisoformat(str(stored)))
        except ValueError:
            return str(stored)
    if kind == K.BOOLEAN:
        return "Yes" if stored else "No"
    if kind == K.CHOICE:
        return field.choice_labels.get(str(stored), str(stored))
    if kind == K.MULTI_CHOICE:
        labels = field.choice_labels
        values = stored if isinstance(stored, list) else [stored]
        return ", ".join(labels.get(str(v), str(v)) for v in values)
    if kind in (K.USER, K.RECORD):
        return (names or {}).get((field.key, stored), f"#{stored}")
    return str(stored)


def display_names(fields, records) -> dict:
    """``{(field key, pk): name}`` for every user and linked record the ``records`` point at
    through ``fields``: one query per kind of target."""
    from crm.models import User

    wanted: dict[str, tuple[type, set, list]] = {}
    for field in fields:
        if field.kind not in (K.USER, K.RECORD):
            continue
        model = User if field.kind == K.USER else _link_entity(field).model
        slot = wanted.setdefault(model._meta.label, (model, set(), []))
        slot[2].append(field.key)
        for record in records:
            value = (getattr(record, "custom", None) or {}).get(field.key)
            if isinstance(value, int):
                slot[1].add(value)
    names = {}
    for model, pks, keys in wanted.values():
        if not pks:
            continue
        found = {obj.pk: str(obj) for obj in model.objects.filter(pk__in=pks)}
        for key in keys:
            for pk, name in found.items():
                names[(key, pk)] = name
    return names


def export_text(field, stored) -> str:
    """The value in a CSV or spreadsheet cell: what ``parse_text`` reads back."""
    if stored in (None, "", []):
        return ""
    kind = field.kind
    if kind == K.MONEY and isinstance(stored, dict):
        return f"{stored.get('amount')} {stored.get('currency', '')}".strip()
    if kind == K.BOOLEAN:
        return "yes" if stored else "no"
    if kind == K.MULTI_CHOICE:
        return "; ".join(str(v) for v in (stored if isinstance(stored, list) else [stored]))
    return str(stored)


# ------------------------------------------------------------------------------------------
# Parsing values from text and JSON (imports, API)
# ------------------------------------------------------------------------------------------


def parse(field, raw, *, user=None):
    """The stored JSON for ``raw`` (text from a spreadsheet cell or a JSON value from the API),
    or ``ValidationError`` saying why not. Blank: None (a required field refuses it)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
        if field.required:
            raise ValidationError(f"“{field.label}” is required.")
        return None
    kind = field.kind
    if kind in (K.TEXT, K.LONG_TEXT):
        text = str(raw).strip()
        limit = MAX_TEXT if kind == K.TEXT else MAX_LONG_TEXT
        if len(text) > limit:
            raise ValidationError(f"“{field.label}” takes at most {limit} characters.")
        return text
    if kind == K.NUMBER:
        return _number(_parse_decimal(field, raw))
    if kind == K.MONEY:
        return _parse_money(field, raw)
    if kind == K.DATE:
        if isinstance(raw, dt.date):
            return raw.isoformat()
        try:
            return dt.date.fromisoformat(str(raw).strip()[:10]).isoformat()
        except ValueError:
            raise ValidationError(
                f"“{field.label}”: enter a date as YYYY-MM-DD, not “{str(raw)[:30]}”."
            ) from None
    if kind == K.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in YES:
            return True
        if text in NO:
            return False
        raise ValidationError(f"“{field.label}”: enter yes or no, not “{str(raw)[:30]}”.")
    if kind == K.CHOICE:
        return _parse_choice(field, raw)
    if kind == K.MULTI_CHOICE:
        items = raw if isinstance(raw, list) else str(raw).replace(",", ";").split(";")
        values = [_parse_choice(field, item) for item in items if str(item).strip()]
        return list(dict.fromkeys(values)) or None
    if kind in (K.USER, K.RECORD):
        return _parse_link(field, raw, user=user)
    raise ValueError(kind)


def _parse_decimal(field, raw) -> Decimal:
    try:
        number = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"“{field.label}”: “{str(raw)[:30]}” is not a number.") from None
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise ValidationError(f"“{field.label}”: enter a sensible number.")
    return number


def _parse_money(field, raw):
    if isinstance(raw, dict):
        amount, currency = raw.get("amount"), raw.get("currency") or company_currency()
    else:
        parts = str(raw).strip().split()
        amount = parts[0] if parts else ""
        currency = parts[1] if len(parts) > 1 else company_currency()
        if len(parts) == 2 and len(parts[0]) == 3 and parts[0].isalpha():
            currency, amount = parts
    number = _parse_decimal(field, amount)
    code = normalize_currency(str(currency))
    if code not in dict(currency_choices()):
        raise ValidationError(f"“{field.label}”: “{str(currency)[:10]}” is not a currency.")
    return {"amount": _number(number.quantize(Decimal("0.01"))), "currency": code}


def _parse_choice(field, raw) -> str:
    text = str(raw).strip()
    labels = field.choice_labels
    if text in labels:
        return text
    for value, label in labels.items():
        if label.casefold() == text.casefold() or value.casefold() == text.casefold():
            return value
    raise ValidationError(f"“{field.label}”: “{text[:50]}” is not one of its choices.")


def _parse_link(field, raw, *, user=None) -> int:
    text = str(getattr(raw, "pk", raw)).strip()
    if field.kind == K.USER:
        users = _users()
        found = users.filter(pk=int(text)).first() if text.isdigit() else None
        if found is None and text:
            found = (
                users.filter(username__iexact=text).first()
                or users.filter(email__iexact=text).first()
            )
        if found is None:
            raise ValidationError(f"“{field.label}”: no user “{text[:50]}”.")
        return found.pk
    model = _link_entity(field).model
    queryset = model.objects.all()
    if user is not None and hasattr(queryset, "visible_to"):
        queryset = queryset.visible_to(user)
    if not text.isdigit() or not queryset.filter(pk=int(text)).exists():
        raise ValidationError(
            f"“{field.label}”: no {model._meta.verbose_name} with id “{text[:20]}” you can see."
        )
    return int(text)


def clean_values(entity: str, values, *, user=None, partial: bool = True) -> dict:
    """Check a ``{key: raw}`` mapping (API body, import row) against ``entity``'s fields ``user``
    may see: the stored JSON per key, or one ``ValidationError`` naming each bad key. With
    ``partial=False`` a required field that is missing is an error too."""
    from crm.custom_fields.definitions import fields_by_key

    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError({"custom": ["Give custom fields as an object of key: value."]})
    fields = fields_by_key(entity, user=user)
    errors: dict[str, list[str]] = {}
    cleaned = {}
    for key, raw in values.items():
        field = fields.get(str(key))
        if field is None:
            errors[str(key)[:50]] = ["No such custom field."]
            continue
        try:
            cleaned[field.key] = parse(field, raw, user=user)
        except ValidationError as exc:
            errors[field.key] = exc.messages
    if not partial:
        for key, field in fields.items():
            if field.required and key not in values:
                errors[key] = [f"“{field.label}” is required."]
    if errors:
        raise ValidationError(errors)
    return cleaned
