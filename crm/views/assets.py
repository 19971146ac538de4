"""Files browsers ask for at fixed addresses."""

from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static


def favicon(request):
    """Browsers ask every site for /favicon.ico (pages link the SVG and a 32 px PNG; this is for
    those that ask anyway): the icon among the static files."""
    return HttpResponsePermanentRedirect(static("crm/favicon.ico"))
