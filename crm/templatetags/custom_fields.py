"""``{% custom_field_rows record %}``: the custom fields the user may see, as ``<dt>/<dd>``
rows inside a detail page's ``<dl class="row">`` (empty values shown as —)."""

from django import template

from crm.custom_fields.definitions import fields_for
from crm.custom_fields.registry import custom_field_entities
from crm.custom_fields.values import display, display_names

register = template.Library()


@register.inclusion_tag("crm/_custom_field_rows.html", takes_context=True)
def custom_field_rows(context, record, label_class="col-sm-4", value_class="col-sm-8"):
    entity = custom_field_entities.for_model(type(record))
    request = context.get("request")
    user = getattr(request, "user", None)
    fields = fields_for(entity.key, user=user) if entity else []
    names = display_names(fields, [record]) if fields else {}
    stored = getattr(record, "custom", None) or {}
    return {
        "rows": [(field, display(field, stored.get(field.key), names=names)) for field in fields],
        "label_class": label_class,
        "value_class": value_class,
    }
