"""URLs of the lifecycle stages, mounted at the site root by crm.urls (project wiring).

Each stage keeps its own ``urls.py`` with an ``app_name`` namespace.
"""

from django.urls import include, path

urlpatterns = [
    path("", include("leads.urls")),
    path("", include("sales.urls")),
    path("", include("support.urls")),
    path("", include("retention.urls")),
    path("", include("analytics.urls")),
]
