"""Who an API request comes from: a personal access token, or the browser's session."""

from rest_framework import authentication, exceptions

from crm.auth.middleware import mfa_required_for
from crm.services.api_tokens import api_token_check

KEYWORDS = ("bearer", "token")


def _has_totp(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``: the token's user, with ``request.auth`` the token.

    A revoked or expired token, or one whose user was made inactive, fails at once. A user whose
    role must sign in with a second factor and who has none set up (the policy came after the
    token) is refused until they set one up: tokens are made only from a signed-in session that
    passed the policy, and never outlive it."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as: Authorization: Bearer <token>."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_check(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if mfa_required_for(token.user) and not _has_totp(token.user):
            raise exceptions.AuthenticationFailed(
                "Your role signs in with a second factor: set one up before using the API."
            )
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The signed-in browser (the docs page trying requests out): CSRF-checked on writes, and
    behind the same second-factor and session-lifetime middleware as every page."""
