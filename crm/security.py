"""Security headers every response carries: the Content-Security-Policy (django-csp, a fresh
nonce per HTML page) and the browser-feature headers Django has no setting for.

The policy itself is ``CONTENT_SECURITY_POLICY`` in ``crm/settings/base.py``; pages that other
sites may frame (the public web-to-lead form) loosen only ``frame-ancestors``, with
``embeddable``.
"""

import contextlib
from functools import wraps

from csp.constants import NONE
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware
from django.conf import settings

# Features the CRM never asks for: a page (or anything injected into one) cannot turn them on.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "xr-spatial-tracking",
    )
)


def _is_html(response) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with a nonce in the header of every HTML page.

    django-csp adds the nonce only once a template has read ``request.csp_nonce``; a page that
    has no script of its own would then carry a policy without one, and a script added to it
    later would fail in the browser only. Asking for the nonce on every HTML response keeps the
    header the same on every page."""

    def process_response(self, request, response):
        if _is_html(response) and hasattr(request, "csp_nonce"):
            # A nonce closed by an earlier middleware raises; the header then goes without it.
            with contextlib.suppress(CSPNonceError):
                str(request.csp_nonce)
        return super().process_response(request, response)


class SecurityHeadersMiddleware:
    """Permissions-Policy and Cross-Origin-Resource-Policy, which Django does not set.

    A view that answers for other sites (an email's open pixel, an embeddable form) sets its own
    Cross-Origin-Resource-Policy and keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault(
            "Cross-Origin-Resource-Policy",
            getattr(settings, "CROSS_ORIGIN_RESOURCE_POLICY", "same-origin"),
        )
        return response


def embeddable(view):
    """A page other sites may show in an iframe: frame-ancestors from ``WEB_FORM_FRAME_ANCESTORS``
    (any site by default) instead of 'none', no X-Frame-Options, and a Cross-Origin-Resource-
    Policy that lets a cross-origin-isolated site embed it."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        ancestors = list(getattr(settings, "WEB_FORM_FRAME_ANCESTORS", ["*"])) or [NONE]
        response._csp_replace = {
            **(getattr(response, "_csp_replace", None) or {}),
            "frame-ancestors": ancestors,
        }
        response.xframe_options_exempt = True
        response.headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
        return response

    return wrapper
