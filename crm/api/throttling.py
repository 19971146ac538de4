"""One request budget per token (or, for the browser, per signed-in user), counted in the
shared cache so every web process sees the same count."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from crm.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """``API_THROTTLE_RATE`` requests (e.g. ``600/min``) per token; past it, 429 with
    ``Retry-After``."""

    scope = "api"

    def get_rate(self):
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken):
            ident = f"token-{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
