"""``{% submission_field %}``: the hidden key that lets an action form be carried out once
(``crm.views.submissions``). Each use renders a new key, so each form a page shows, and each
time it is shown, is its own."""

from django import template
from django.utils.html import format_html

from crm.views.submissions import SUBMISSION_FIELD, new_submission_key

register = template.Library()


@register.simple_tag
def submission_field():
    return format_html(
        '<input type="hidden" name="{}" value="{}">', SUBMISSION_FIELD, new_submission_key()
    )
