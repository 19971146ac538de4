"""Putting a field back to an earlier value from its history (README, "Field history")."""

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.db import lock_rows
from crm.history import Source, source
from crm.history_display import event_model_of, shown, stored_value
from crm.selectors import record_get, scoped


def field_restore(*, entry, obj, event, field: str, user):
    """Set ``field`` of ``obj`` back to the value it had before ``event`` (an update of it),
    through the record's own update service (``entry.restore``), so validation, the timeline
    and signals are those of an edit. The restore is recorded as a change of its own, with
    source ``restore`` and the event it undid.

    Refused (``ValidationError``) when the field is not one users edit, or when it has changed
    again since that event: restoring would silently overwrite the later change.
    """
    model = entry.model
    if entry.restore is None or field not in entry.restorable:
        raise ValidationError("That field cannot be restored here.")
    changes = event.pgh_changes or {}
    if event.pgh_label != "update" or field not in changes:
        raise ValidationError("That change did not touch this field.")
    model_field = model._meta.get_field(field)
    old, new = changes[field]
    with transaction.atomic():
        lock_rows(model, obj.pk)
        current = record_get(scoped(model, user=user, for_change=True), obj.pk)
        now = model_field.value_from_object(current)
        if now != stored_value(model_field, new):
            raise ValidationError(
                f"{str(model_field.verbose_name).capitalize()} has changed since: it is now "
                f"“{_current_shown(model_field, current)}”, not "
                f"“{_shown_alone(model_field, new)}”. Nothing was restored."
            )
        value = stored_value(model_field, old)
        if model_field.is_relation and value is not None:
            value = model_field.related_model._base_manager.filter(pk=value).first()
            if value is None:
                raise ValidationError(
                    f"The earlier {model_field.verbose_name} no longer exists. Nothing was "
                    "restored."
                )
        slug = f"{event_model_of(model)._meta.label_lower}:{event.pk}"
        with source(Source.RESTORE, user=user, event=slug):
            return entry.restore(obj=current, user=user, field=field, value=value)


def _current_shown(model_field, obj) -> str:
    if model_field.is_relation:
        related = getattr(obj, model_field.name)
        return str(related) if related is not None else "(empty)"
    value = model_field.value_from_object(obj)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value)) if value else "(empty)"
    return "(empty)" if value in (None, "") else str(value)


def _shown_alone(model_field, value) -> str:
    if model_field.is_relation and value is not None:
        related = model_field.related_model._base_manager.filter(pk=value).first()
        return str(related) if related is not None else f"#{value} (deleted)"
    return shown(model_field, value)


def restorer(service, object_name: str):
    """``entry.restore`` for an update service taking ``<object_name>=obj, user=, **fields``."""

    def restore(*, obj, user, field, value):
        return service(**{object_name: obj}, user=user, **{field: value})

    return restore
