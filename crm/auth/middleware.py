import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

#: Session keys: when the user signed in and when they were last seen (epoch seconds).
SIGNED_IN_AT = "crm_signed_in_at"
SEEN_AT = "crm_seen_at"
#: The last-seen time is written at most this often, so a busy user does not save their
#: session on every request.
SEEN_RESOLUTION_SECONDS = 60


def session_start(session) -> None:
    """Mark a session as signed in now (called on every sign-in)."""
    now = int(time.time())
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


def _to_login(request, message: str) -> HttpResponse:
    messages.info(request, message)
    url = reverse("login")
    if request.method == "GET" and not request.headers.get("HX-Request"):
        url += "?" + urlencode({"next": request.get_full_path()})
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


class SessionLifetimeMiddleware:
    """Ends a signed-in session after SESSION_IDLE_SECONDS without a request, and in any case
    SESSION_MAX_AGE_SECONDS after sign-in; the user is sent to the sign-in page, with a line
    saying why, and comes back to the page they asked for."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and "_auth_user_id" in session:
            now = int(time.time())
            signed_in_at = session.get(SIGNED_IN_AT)
            seen_at = session.get(SEEN_AT)
            if signed_in_at is None or seen_at is None:
                session_start(session)
            elif now - signed_in_at > settings.SESSION_MAX_AGE_SECONDS:
                logout(request)
                return _to_login(request, "Your session ended after its maximum length.")
            elif now - seen_at > settings.SESSION_IDLE_SECONDS:
                logout(request)
                return _to_login(request, "Your session ended after a time without activity.")
            elif now - seen_at >= SEEN_RESOLUTION_SECONDS:
                session[SEEN_AT] = now
        return self.get_response(request)


def mfa_required_for(user) -> bool:
    """Whether ``user`` holds a role that must sign in with a second factor."""
    required = set(settings.MFA_REQUIRED_ROLES)
    return bool(required) and user.is_authenticated and bool(user.role_names & required)


class MfaRequiredMiddleware:
    """Users in MFA_REQUIRED_ROLES without a second factor (an authenticator app, or a security
    key) reach only the pages that set one up (and the other account pages, and signing out):
    every other page sends them to the authenticator app's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            settings.MFA_REQUIRED_ROLES
            and user is not None
            and not request.path.startswith(self._exempt_prefixes())
            and mfa_required_for(user)
            and not self._has_second_factor(user)
        ):
            messages.warning(
                request,
                "Your role signs in with a second factor: set up an authenticator app to go on.",
            )
            url = reverse("mfa_activate_totp")
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
        return self.get_response(request)

    @staticmethod
    def _exempt_prefixes() -> tuple[str, ...]:
        return (
            "/auth/",
            reverse("logout"),
            reverse("login"),
            reverse("healthz"),
            reverse("livez"),
            reverse("readyz"),
            reverse("metrics"),
            "/" + settings.STATIC_URL.lstrip("/"),
        )

    @staticmethod
    def _has_second_factor(user) -> bool:
        from allauth.mfa.models import Authenticator

        loaded = getattr(user, "loaded_has_second_factor", None)  # read with the user
        if loaded is not None:
            return loaded

        return (
            Authenticator.objects.filter(user=user)
            .exclude(type=Authenticator.Type.RECOVERY_CODES)
            .exists()
        )
