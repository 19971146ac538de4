"""Files browsers ask for at fixed addresses."""

from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static


def favicon(request):
    """Browsers ask every site for /favicon.ico; ours is an SVG among the static files."""
    return HttpResponsePermanentRedirect(static("crm/favicon.svg"))
