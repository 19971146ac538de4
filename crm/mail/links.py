"""Which records an email is linked to, and who may read it through them."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from crm import registry


def linkable_models() -> list:
    """Record kinds an email may be linked to: those carrying a timeline."""
    return registry.timeline.models()


def visible_link_filter(user) -> Q:
    """``MailLink`` rows whose record ``user`` may see (each kind's own ``visible_to``)."""
    condition = Q(pk__in=[])
    for model in linkable_models():
        ct = ContentType.objects.get_for_model(model)
        visible = model.objects.visible_to(user).values("pk")
        condition |= Q(content_type=ct, object_id__in=visible)
    return condition
