"""Pages of the shared core. ``safe_next`` is the one gate for every address taken from a
request (``next`` in a query or a form, the Referer) that a page redirects to or links back to."""

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, default: str, *, field: str = "next") -> str:
    """The local address in ``field`` of the request (POST first, then the query string), or
    ``default`` when it is missing or could leave this site: another host (``https://evil``,
    ``//evil``, ``\\\\evil``), a script URL, or plain http on a secure page."""
    for source in (request.POST, request.GET) if request.method == "POST" else (request.GET,):
        candidate = source.get(field, "")
        if candidate:
            break
    else:
        return default
    candidate = candidate.strip()
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default
