"""URLs of email campaigns, added to ``leads.urls``."""

from django.urls import path

from leads.views import email_tracking

urlpatterns = [
    path("e/o/<str:token>.gif", email_tracking.email_open, name="email_open"),
    path("e/c/<str:token>/", email_tracking.email_click, name="email_click"),
    path("e/u/<str:token>/", email_tracking.contact_unsubscribe, name="contact_unsubscribe"),
    path("e/bounce/", email_tracking.bounce_webhook, name="email_bounce"),
]
