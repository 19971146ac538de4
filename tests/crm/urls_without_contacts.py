"""A URL configuration with no contact pages, for ``test_remembered_links``."""

from django.urls import path

from crm.views.home import home

urlpatterns = [path("", home, name="home")]
