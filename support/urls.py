from django.urls import path

from support import surveys, views

app_name = "support"

urlpatterns = [
    path("tickets/", views.TicketListView.as_view(), name="ticket_list"),
    path("tickets/mine/", views.MyQueueView.as_view(), name="my_queue"),
    path("tickets/unassigned/", views.UnassignedView.as_view(), name="unassigned"),
    path("tickets/breaching/", views.BreachingView.as_view(), name="breaching"),
    path("tickets/pending/", views.PendingView.as_view(), name="pending"),
    path("tickets/new/", views.TicketCreateView.as_view(), name="ticket_create"),
    path("tickets/bulk/", views.ticket_bulk, name="ticket_bulk"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/reply/", views.ticket_reply, name="ticket_reply"),
    path("tickets/<int:pk>/note/", views.ticket_note, name="ticket_note"),
    path("tickets/<int:pk>/status/", views.ticket_status, name="ticket_status"),
    path("tickets/<int:pk>/assign/", views.ticket_assign, name="ticket_assign"),
    path("tickets/<int:pk>/priority/", views.ticket_priority, name="ticket_priority"),
    path("tickets/<int:pk>/merge/", views.ticket_merge, name="ticket_merge"),
    path("tickets/<int:pk>/canned/", views.canned_preview, name="canned_preview"),
    path("tickets/canned/", views.CannedReplyListView.as_view(), name="canned_list"),
    path("tickets/canned/new/", views.CannedReplyFormView.as_view(), name="canned_create"),
    path("tickets/canned/<int:pk>/", views.CannedReplyFormView.as_view(), name="canned_edit"),
    path(
        "tickets/canned/<int:pk>/delete/",
        views.CannedReplyDeleteView.as_view(),
        name="canned_delete",
    ),
    path("tickets/queues/", views.queue_list, name="queue_list"),
    path("tickets/queues/<int:pk>/", views.queue_assignment, name="queue_assignment"),
    path("tickets/queues/<int:pk>/shift/", views.queue_shift, name="queue_shift"),
    path("tickets/attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("support/new/", views.public_ticket_new, name="public_new"),
    path("support/new/thanks/", views.public_thanks, name="public_thanks"),
    path("support/inbound/email/", views.inbound_email_webhook, name="inbound_email"),
    path("surveys/<str:token>/", surveys.survey_dispatch, name="survey"),
]
