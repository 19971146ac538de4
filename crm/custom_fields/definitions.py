"""Reading definitions: what fields a kind of record has, as a user sees them."""

from __future__ import annotations

from django.db import ProgrammingError, connections


def fields_for(entity: str, *, user=None, archived: bool = False) -> list:
    """The definitions of ``entity`` in form order: active ones (``archived=True``: archived
    ones too), limited to those ``user`` may see when a user is given. One query, none while
    the catalog of the request's ``user`` keeps them (``crm.catalog``)."""
    from crm import catalog

    fields = catalog.read(
        user, ("custom-fields", entity, archived), lambda: _definitions(entity, archived)
    )
    if user is not None:
        fields = [f for f in fields if f.visible_to(user)]
    return fields


def _definitions(entity: str, archived: bool) -> list:
    from crm.models import CustomField

    fields = CustomField.objects.for_entity(entity)
    if not archived:
        fields = fields.active()
    try:
        fields = list(fields)
    except ProgrammingError:
        # The table is not there yet: system checks (the API schema's among them) run before
        # the first migrate. Inside a transaction the error stands.
        if connections[fields.db].in_atomic_block:
            raise
        return []
    return fields


def fields_by_key(entity: str, *, user=None, archived: bool = False) -> dict:
    return {f.key: f for f in fields_for(entity, user=user, archived=archived)}


def column_name(field) -> str:
    """The field's column in imports and exports, and its name in the API: its key."""
    return field.key


def fields_for_request(request, entity: str) -> list:
    """``fields_for(entity, user=request.user)``, read once per request: a list page's columns
    and its filter bar share one query (an API request's serializers too: a DRF request is
    read through the Django request it wraps), kept in the catalog (``crm.catalog``)."""
    request = getattr(request, "_request", request)
    cache = getattr(request, "_custom_field_definitions", None)
    if cache is None:
        cache = request._custom_field_definitions = {}
    if entity not in cache:
        cache[entity] = fields_for(entity, user=request.user)
    return cache[entity]


def definitions_for_request(request, entities) -> dict[str, dict]:
    """``{entity: {key: definition}}`` of ``entities``, archived ones too and whoever may see
    them (field history shows values of every field a key ever had, and checks each one's
    roles itself): one query for all of them, read once per request (``request`` may be None:
    read afresh)."""
    from crm.models import CustomField

    cache = getattr(request, "_custom_field_definitions_all", None) if request else None
    if cache is None:
        cache = {}
        if request is not None:
            request._custom_field_definitions_all = cache
    missing = sorted(set(entities) - set(cache))
    if missing:
        for entity in missing:
            cache[entity] = {}
        for field in CustomField.objects.filter(entity__in=missing).order_by(
            "order", "label", "id"
        ):
            cache[field.entity][field.key] = field
    return {entity: cache[entity] for entity in entities}
