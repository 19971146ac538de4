from django.urls import path

from support import surveys, views

app_name = "support"

urlpatterns = [
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("support/inbound/email/", views.inbound_email_webhook, name="inbound_email"),
    path("surveys/<str:token>/", surveys.survey_dispatch, name="survey"),
]
