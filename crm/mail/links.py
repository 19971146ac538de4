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


def mail_links_move(*, source, target) -> int:
    """Every email of ``source`` now shows on ``target`` (a lead converted into a contact, or
    merged into another record), as its timeline lines move with it. An email ``target``
    already shows keeps one link and one timeline line. Returns how many links moved."""
    from crm.models import Activity, MailLink

    source_type = ContentType.objects.get_for_model(source)
    target_type = ContentType.objects.get_for_model(target)
    links = MailLink.objects.filter(content_type=source_type, object_id=source.pk)
    held = MailLink.objects.filter(content_type=target_type, object_id=target.pk)
    twice = links.filter(message_id__in=held.values("message_id"))
    Activity.objects.filter(pk__in=twice.values("activity_id")).delete()
    twice.delete()
    return links.update(content_type=target_type, object_id=target.pk)
