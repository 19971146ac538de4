"""Files browsers ask for at fixed addresses."""

from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


def favicon(request):
    """Browsers ask every site for /favicon.ico (pages link the SVG and a 32 px PNG; this is for
    those that ask anyway): the icon among the static files."""
    return HttpResponsePermanentRedirect(static("crm/favicon.ico"))


#: The brand colours of app.css (--crm-bar, and the page's background), for the installed app.
THEME_COLOUR = "#0f3d3a"
BACKGROUND_COLOUR = "#f7f9f9"


@cache_control(max_age=3600, public=True)
@require_safe
def web_manifest(request):
    """The web app manifest: what a phone needs to pin the CRM to its home screen. Public, as
    browsers fetch it without the session."""
    icons = [
        {"src": static(f"crm/icons/{name}"), "sizes": sizes, "type": "image/png", "purpose": use}
        for name, sizes, use in (
            ("icon-192.png", "192x192", "any"),
            ("icon-512.png", "512x512", "any"),
            ("maskable-512.png", "512x512", "maskable"),
        )
    ]
    manifest = {
        "name": "CRM",
        "short_name": "CRM",
        "description": "Leads, deals, support and customers in one place.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": icons,
    }
    return JsonResponse(manifest, content_type="application/manifest+json")
