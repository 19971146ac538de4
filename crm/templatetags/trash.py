"""``{% may_delete object as can_delete %}``: whether the signed-in user may delete a record
into the trash (``crm.registry.trash``'s rule for its kind)."""

from django import template

from crm.services.trash import trash_may_delete

register = template.Library()


@register.simple_tag(takes_context=True)
def may_delete(context, obj) -> bool:
    request = context.get("request")
    return bool(request is not None and trash_may_delete(user=request.user, obj=obj))
