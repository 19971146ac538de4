"""Error pages. A database that does not answer (down, restarting, out of connections) is a
temporary state: the page says so with 503 and ``Retry-After``, not a 500 "something went
wrong". Both pages render without the database (no user, no context processors)."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views import defaults

#: Seconds a client (or a proxy) should wait before trying again.
RETRY_AFTER_SECONDS = 30


def server_error(request):
    """``handler500``: 503 when the request failed on the database connection."""
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)
