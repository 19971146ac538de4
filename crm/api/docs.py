"""The API's docs page: Swagger UI from drf-spectacular-sidecar's vendored files (no CDN),
started by our own static script, so the page keeps the site's Content-Security-Policy."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def api_docs(request):
    return render(request, "api/docs.html", {"schema_url": reverse("api:schema")})
