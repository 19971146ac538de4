"""Receivers connected in ``CrmConfig.ready``: they hold for every way in (the sign-in page,
Django admin's user form, a management shell), not only the CRM's own screens."""

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import pre_save


def on_user_logged_in(sender, request, user, **kwargs):
    from crm.auth.middleware import session_start
    from crm.services.signins import signin_record_success

    if request is not None and hasattr(request, "session"):
        session_start(request.session)
    signin_record_success(request=request, user=user)


def on_user_pre_save(sender, instance, raw=False, **kwargs):
    """A user switched from active to inactive loses every session when the change commits."""
    if raw or instance.pk is None or instance.is_active:
        return
    was_active = sender.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    if was_active:
        from crm.services.signins import user_sessions_end_on_commit

        user_sessions_end_on_commit(user_id=instance.pk)


def connect():
    from crm.models import User

    user_logged_in.connect(on_user_logged_in, dispatch_uid="crm.signin_history")
    pre_save.connect(on_user_pre_save, sender=User, dispatch_uid="crm.deactivation_ends_sessions")
