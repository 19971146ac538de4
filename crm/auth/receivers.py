"""Receivers connected in ``CrmConfig.ready``: they hold for every way in (the sign-in page,
Django admin's user form, a management shell), not only the CRM's own screens. allauth's
password and second-factor signals become lines of the security audit trail."""

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


def _audit(action, request, user, **detail):
    from crm.services.audit import audit_record

    audit_record(action=action, actor=user, target_user=user, detail=detail, request=request)


def on_password_changed(sender, request, user, **kwargs):
    from crm.choices import AuditAction

    _audit(AuditAction.PASSWORD_CHANGED, request, user)


def on_password_reset(sender, request, user, **kwargs):
    """A password set from an emailed link: a reset, or an invitation taken up."""
    from crm.choices import AuditAction

    _audit(AuditAction.PASSWORD_RESET, request, user)


def on_authenticator_added(sender, request, user, authenticator, **kwargs):
    from crm.choices import AuditAction

    # Recovery codes come with the first factor: that factor is the line.
    if authenticator.type != "recovery_codes":
        _audit(AuditAction.MFA_ENABLED, request, user, type=authenticator.type)


def on_authenticator_removed(sender, request, user, authenticator, **kwargs):
    from crm.choices import AuditAction

    if authenticator.type != "recovery_codes":
        _audit(AuditAction.MFA_DISABLED, request, user, type=authenticator.type)


def on_authenticator_reset(sender, request, user, authenticator, **kwargs):
    from crm.choices import AuditAction

    _audit(AuditAction.RECOVERY_CODES_REGENERATED, request, user, type=authenticator.type)


def connect():
    from allauth.account import signals as account_signals
    from allauth.mfa import signals as mfa_signals

    from crm.models import User

    user_logged_in.connect(on_user_logged_in, dispatch_uid="crm.signin_history")
    pre_save.connect(on_user_pre_save, sender=User, dispatch_uid="crm.deactivation_ends_sessions")
    account_signals.password_changed.connect(on_password_changed, dispatch_uid="crm.audit_pw")
    account_signals.password_set.connect(on_password_changed, dispatch_uid="crm.audit_pw_set")
    account_signals.password_reset.connect(on_password_reset, dispatch_uid="crm.audit_pw_reset")
    mfa_signals.authenticator_added.connect(on_authenticator_added, dispatch_uid="crm.audit_mfa+")
    mfa_signals.authenticator_removed.connect(
        on_authenticator_removed, dispatch_uid="crm.audit_mfa-"
    )
    mfa_signals.authenticator_reset.connect(
        on_authenticator_reset, dispatch_uid="crm.audit_mfa_reset"
    )
