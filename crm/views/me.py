"""The user's own settings: password, second factor, sign-in history, sessions, API tokens
and notifications."""

from allauth.mfa.models import Authenticator
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from crm.auth.middleware import mfa_required_for
from crm.models import ApiTokenScope
from crm.selectors import record_get, signin_history, user_session_list
from crm.services import api_tokens
from crm.services.signins import user_sessions_end
from crm.views.submissions import submission_done, submitted_once


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="What will use it.")
    scope = forms.ChoiceField(choices=ApiTokenScope.choices, label="Access")
    days = forms.TypedChoiceField(
        choices=[(d, f"{d} days") for d in api_tokens.LIFETIME_DAYS],
        coerce=int,
        initial=90,
        label="Lifetime",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            css = "form-select form-select-sm" if name != "name" else "form-control form-control-sm"
            field.widget.attrs["class"] = css


@login_required
def user_settings(request, *, token_form=None, new_token=None, notification_form=None, status=200):
    from crm.views.mail import mail_logging_address_context
    from crm.views.notifications import notification_settings_form

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
            "tokens": api_tokens.api_token_list(user=request.user)[:50],
            "token_form": token_form or ApiTokenForm(),
            "new_token": new_token,
            "notification_form": notification_form or notification_settings_form(request.user),
            **mail_logging_address_context(request.user),
        },
        status=status,
    )


@login_required
@require_POST
@submitted_once
def api_token_create(request):
    """A new personal access token, shown once on the page this answers with (never stored
    in a message or the session). Only a signed-in session that passed the second-factor
    policy reaches this page, so a token never skips it."""
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            new = api_tokens.api_token_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            submission_done(request)
            response = user_settings(request, new_token=new)
            response["Cache-Control"] = "no-store"
            return response
    return user_settings(request, token_form=form, status=400)


@login_required
@require_POST
@submitted_once
def api_token_revoke(request, pk):
    token = record_get(api_tokens.api_token_list(user=request.user), pk)
    api_tokens.api_token_revoke(token=token, user=request.user)
    messages.info(request, f"The token {token.name} was revoked: it no longer works.")
    return redirect(reverse("user_settings") + "#tokens")


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
