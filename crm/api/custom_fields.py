"""Custom fields in the API: a ``custom`` object on every record whose kind carries them.

- Read: ``{key: value}`` of the active fields the caller may see, values as stored (text a
  string, number a number, money ``{"amount", "currency"}``, date ``YYYY-MM-DD``, yes/no a
  boolean, choice the choice's value, multiple choice a list of values, user and link an id).
- Write (POST, PATCH): ``custom`` with the keys to set (``null`` clears one), checked by the
  same rules as forms and imports (``crm.custom_fields.values.clean_values``): 400 with
  ``{"custom": {key: [reasons]}}``; carried out by the entity's service.
- Filter a list: ``?cf_<key>=value`` (a choice, user or link: comma-separated values mean any
  of them; a multiple choice: includes any), ``cf_<key>__gte`` / ``__lte`` (number, money
  amount, date), ``cf_<key>__contains`` (text), ``cf_<key>__set=true``.
- Schema: ``custom`` has one property per active field (type per kind, ``enum`` for
  choices, the label and help as description), built when the schema is generated; each list
  operation documents its ``cf_<key>`` filters.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import exceptions, serializers

from crm.custom_fields.definitions import fields_for, fields_for_request
from crm.custom_fields.registry import custom_field_entities
from crm.custom_fields.values import clean_values, parse
from crm.models.custom_fields import CustomFieldKind as K

FILTER_PREFIX = "cf_"
#: ``cf_<key>__<suffix>`` → operator of ``crm.custom_fields.query``.
FILTER_SUFFIXES = {"gte": "gte", "lte": "lte", "contains": "contains", "set": "set"}


def entity_of(model) -> str:
    entity = custom_field_entities.for_model(model) if model is not None else None
    return entity.key if entity else ""


def definitions(context: dict, entity: str, user) -> list:
    """The fields ``user`` sees on ``entity``, read once per request (shared with the list's
    filters through ``fields_for_request``)."""
    request = (context or {}).get("request")
    if request is not None and getattr(request, "user", None) == user:
        return fields_for_request(request, entity)
    return fields_for(entity, user=user)


class CustomValuesField(serializers.Field):
    """The record's custom values as the caller may see them (``source="*"``: the record)."""

    def __init__(self, *, entity: str, **kwargs):
        self.entity = entity
        kwargs.setdefault("source", "*")
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Custom fields by key (null clears one on a write); see each property.",
        )
        super().__init__(**kwargs)

    def to_representation(self, record):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        stored = getattr(record, "custom", None) or {}
        return {
            f.key: stored[f.key]
            for f in definitions(self.context, self.entity, user)
            if f.key in stored
        }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Give custom fields as an object of key: value.")
        return {"custom": data}


def add_custom_field(serializer_fields: dict, model) -> None:
    """Add ``custom`` to a serializer's fields when ``model``'s kind carries custom fields."""
    entity = entity_of(model)
    if entity and "custom" not in serializer_fields:
        serializer_fields["custom"] = CustomValuesField(entity=entity)


def custom_write(raw, *, model, user, creating: bool) -> dict:
    """The ``custom`` of a request body checked as ``user`` sees the fields: ``{key: stored}``
    for the service (creating: the fields' defaults for keys not sent, and required fields
    must come), or 400 naming each bad key."""
    entity = entity_of(model)
    if raw is None and not creating:
        return {}
    if not entity:
        raise exceptions.ValidationError({"custom": ["This kind of record has no custom fields."]})
    values = raw if raw is not None else {}
    if not isinstance(values, dict):
        raise exceptions.ValidationError({"custom": ["Give custom fields as an object."]})
    if creating:
        values = dict(values)
        for field in fields_for(entity, user=user):
            if field.key not in values and field.default not in (None, "", []):
                values[field.key] = field.default
    try:
        cleaned = clean_values(entity, values, user=user, partial=not creating)
    except ValidationError as exc:
        raise exceptions.ValidationError({"custom": exc.message_dict}) from None
    return cleaned


def custom_filter(queryset, params, *, model, user):
    """``queryset`` narrowed by the ``cf_<key>[__op]`` query parameters (400 for an unknown
    field, an operator the field does not take, or a value it cannot read)."""
    from crm.custom_fields.query import custom_q, operators

    wanted = [(name, params.getlist(name)) for name in params if name.startswith(FILTER_PREFIX)]
    if not wanted:
        return queryset
    entity = entity_of(model)
    fields = {f.key: f for f in fields_for(entity, user=user)} if entity else {}
    errors = {}
    for name, raw_values in wanted:
        key, _, suffix = name[len(FILTER_PREFIX) :].partition("__")
        field = fields.get(key)
        if field is None:
            errors[name] = ["No such custom field."]
            continue
        allowed = {op for op, _label in operators(field)}
        operator = FILTER_SUFFIXES.get(suffix) if suffix else _equality(field)
        if operator is None or operator not in allowed:
            errors[name] = [f"This filter does not apply to a {field.get_kind_display()} field."]
            continue
        for raw in raw_values:
            try:
                queryset = queryset.filter(
                    custom_q(field, operator, _filter_value(field, operator, raw, user))
                )
            except ValidationError as exc:
                errors[name] = exc.messages
    if errors:
        raise exceptions.ValidationError(errors)
    return queryset


def _equality(field) -> str:
    if field.kind in (K.CHOICE, K.MULTI_CHOICE, K.USER):
        return "in"
    if field.kind == K.NUMBER:
        return "eq"
    if field.kind == K.LONG_TEXT:
        return "contains"
    if field.kind in (K.MONEY, K.DATE):
        return ""  # ranges only
    return "is"


def _filter_value(field, operator: str, raw: str, user):
    if operator == "set":
        if raw.strip().lower() not in ("true", "1", "yes"):
            raise ValidationError("Use cf_<key>__set=true.")
        return True
    if operator in ("contains",) or field.kind in (K.TEXT, K.LONG_TEXT):
        if not raw.strip():
            raise ValidationError("Give a text to look for.")
        return raw.strip()
    if field.kind == K.MONEY:
        return {"amount": parse(_number_field(field), raw, user=user)}
    if operator == "in":
        parts = [p for p in raw.split(",") if p.strip()]
        if not parts:
            raise ValidationError("Give at least one value.")
        single = field if field.kind != K.MULTI_CHOICE else _choice_field(field)
        return [parse(single, p, user=user) for p in parts]
    value = parse(field, raw, user=user)
    if value is None:
        raise ValidationError("Give a value.")
    return value


def _number_field(field):
    from crm.models import CustomField

    return CustomField(key=field.key, label=field.label, kind=K.NUMBER)


def _choice_field(field):
    from crm.models import CustomField

    return CustomField(key=field.key, label=field.label, kind=K.CHOICE, choices=field.choices)


# --- schema ---------------------------------------------------------------------------------


def value_schema(field) -> dict:
    """The JSON schema of one field's stored value."""
    description = field.label + (f": {field.help_text}" if field.help_text else "")
    kind = field.kind
    choices = [str(c["value"]) for c in field.choices or []]
    if kind in (K.TEXT, K.LONG_TEXT):
        schema = {"type": "string"}
    elif kind == K.NUMBER:
        schema = {"type": "number"}
    elif kind == K.MONEY:
        schema = {
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "currency": {"type": "string", "description": "ISO 4217 code"},
            },
            "required": ["amount"],
        }
    elif kind == K.DATE:
        schema = {"type": "string", "format": "date"}
    elif kind == K.BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == K.CHOICE:
        schema = {"type": "string", "enum": choices}
    elif kind == K.MULTI_CHOICE:
        schema = {"type": "array", "items": {"type": "string", "enum": choices}}
    else:  # user, link: an id
        target = "user" if kind == K.USER else (field.link_entity or "record")
        schema = {"type": "integer", "description": f"{description} (a {target} id)"}
        return {**schema, "nullable": True}
    return {**schema, "description": description, "nullable": True}


def _schema_user(auto_schema):
    request = getattr(getattr(auto_schema, "view", None), "request", None)
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


class CustomValuesFieldExtension(OpenApiSerializerFieldExtension):
    target_class = CustomValuesField

    def map_serializer_field(self, auto_schema, direction):
        fields = fields_for(self.target.entity, user=_schema_user(auto_schema))
        return {
            "type": "object",
            "description": "Custom fields by key.",
            "properties": {f.key: value_schema(f) for f in fields},
        }


def filter_parameters(model, auto_schema) -> list:
    """The ``cf_<key>`` query parameters of a list of ``model``."""
    from drf_spectacular.utils import OpenApiParameter

    entity = entity_of(model)
    if not entity:
        return []
    params = []
    for field in fields_for(entity, user=_schema_user(auto_schema)):
        name = f"{FILTER_PREFIX}{field.key}"
        operator = _equality(field)
        if operator == "in":
            params.append((name, field, "is any of (comma-separated values)"))
        elif operator:
            params.append((name, field, "contains" if operator == "contains" else "equals"))
        if field.kind in (K.NUMBER, K.MONEY, K.DATE):
            params.append((f"{name}__gte", field, "at least"))
            params.append((f"{name}__lte", field, "at most"))
        if field.kind == K.TEXT:
            params.append((f"{name}__contains", field, "contains"))
        params.append((f"{name}__set", field, "is filled in (true)"))
    return [
        OpenApiParameter(param, str, description=f"{field.label}: {what}.")
        for param, field, what in params
    ]
