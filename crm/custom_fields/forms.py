"""Custom fields on a record's form."""

from __future__ import annotations

from crispy_forms.layout import Div, Fieldset

from crm.custom_fields.definitions import fields_for
from crm.custom_fields.registry import custom_field_entities
from crm.custom_fields.values import form_field, to_initial, to_storage

PREFIX = "cf_"


class CustomFieldsFormMixin:
    """Adds a ``cf_<key>`` field per custom field the user may see, filled from the record;
    ``custom_values()`` is the ``{key: stored JSON}`` of those fields (None: cleared), which the
    entity's service merges into the record's ``custom`` column. Put it before the form class::

        class TicketForm(CustomFieldsFormMixin, OwnedModelForm): ...

    The form needs ``self.user`` and (for the layout) a crispy ``self.helper`` with a layout;
    ``custom_fields_layout()`` appends the fields under a "More fields" heading."""

    custom_entity: str = ""

    def add_custom_fields(self, user):
        entity = self.custom_entity or getattr(
            custom_field_entities.for_model(self._meta.model), "key", ""
        )
        self.custom_definitions = fields_for(entity, user=user) if entity else []
        stored = getattr(self.instance, "custom", None) or {}
        for field in self.custom_definitions:
            name = PREFIX + field.key
            self.fields[name] = form_field(field, user=user)
            if field.key in stored:
                self.initial.setdefault(name, to_initial(field, stored[field.key]))
            elif self.instance.pk is None and field.default not in (None, ""):
                self.initial.setdefault(name, to_initial(field, field.default))

    def custom_values(self) -> dict:
        return {
            field.key: to_storage(field, self.cleaned_data.get(PREFIX + field.key))
            for field in getattr(self, "custom_definitions", [])
        }

    def custom_fields_layout(self):
        names = [PREFIX + f.key for f in getattr(self, "custom_definitions", [])]
        if not names:
            return Div()
        return Fieldset("More fields", *names, css_class="mt-2")
