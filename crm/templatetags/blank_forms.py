"""``{{ form.field|as_blank_crispy_field }}``: ``as_crispy_field`` for the inline forms every
record page carries (log an activity, add a task). Blank, such a field's markup is the same on
every page (no value, no error, choices that do not depend on the user), and crispy's templates
cost more than the rest of the panel: it is rendered once a process and reused. A form sent back
with its errors (bound) renders through crispy as usual."""

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import template
from django.utils.translation import get_language

register = template.Library()

_rendered: dict[tuple, str] = {}


@register.filter
def as_blank_crispy_field(field):
    form = field.form
    if form.is_bound or form.initial or getattr(form, "helper", None) is not None:
        return as_crispy_field(field)
    key = (type(form), field.html_name, field.auto_id, get_language())
    markup = _rendered.get(key)
    if markup is None:
        markup = _rendered[key] = as_crispy_field(field)
    return markup
