"""``/api/v1/``: one router over the resources every app registered in ``crm.registry.api``,
the OpenAPI schema and its docs page."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.utils.module_loading import import_string
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from crm import registry
from crm.api.docs import api_docs


class Router(DefaultRouter):
    include_format_suffixes = False


def build_router() -> Router:
    router = Router(trailing_slash="/")
    router.include_root_view = True
    for resource in registry.api.resources():
        viewset = resource.viewset
        if isinstance(viewset, str):
            viewset = import_string(viewset)
        router.register(resource.prefix, viewset, basename=resource.basename)
    return router


def not_found(request, *args, **kwargs):
    """Any other path under the API answers JSON too."""
    return JsonResponse({"detail": "Not found."}, status=404)


app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", api_docs, name="docs"),
    path("", include(build_router().urls)),
    re_path(r"^.*$", not_found),
]
