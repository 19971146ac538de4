"""The user's own settings: password, second factor, sign-in history and sessions."""

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from crm.auth.middleware import mfa_required_for
from crm.selectors import signin_history, user_session_list
from crm.services.signins import user_sessions_end


@login_required
def user_settings(request):
    rows = list(Authenticator.objects.filter(user=request.user).only("type", "data"))
    authenticators = {a.type: a for a in rows}
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    return render(
        request,
        "crm/user_settings.html",
        {
            "has_totp": Authenticator.Type.TOTP in authenticators,
            "recovery_codes_left": (
                len(recovery.wrap().get_unused_codes()) if recovery is not None else None
            ),
            "mfa_required": mfa_required_for(request.user),
            "webauthn_enabled": "webauthn" in settings.MFA_SUPPORTED_TYPES,
            "security_keys": sum(a.type == Authenticator.Type.WEBAUTHN for a in rows),
            "signins": signin_history(user=request.user),
            "sessions": user_session_list(user=request.user),
            "current_session_key": request.session.session_key,
        },
    )


@login_required
@require_POST
def sign_out_everywhere(request):
    user = request.user
    ended = user_sessions_end(user=user, request=request)
    messages.info(
        request, f"Signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended)."
    )
    return redirect("login")


def admin_login(request, extra_context=None):
    """Django admin signs in through the CRM's sign-in page (lockout and second factor)."""
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(target)
        raise PermissionDenied
    return redirect_to_login(target)
