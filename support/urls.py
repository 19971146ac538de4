from django.urls import path

from support import surveys
from support.views import bulk, canned, help, knowledge, public, queues, ticket, tickets

app_name = "support"

urlpatterns = [
    path("tickets/", tickets.TicketListView.as_view(), name="ticket_list"),
    path("tickets/mine/", tickets.MyQueueView.as_view(), name="my_queue"),
    path("tickets/unassigned/", tickets.UnassignedView.as_view(), name="unassigned"),
    path("tickets/breaching/", tickets.BreachingView.as_view(), name="breaching"),
    path("tickets/pending/", tickets.PendingView.as_view(), name="pending"),
    path("tickets/new/", tickets.TicketCreateView.as_view(), name="ticket_create"),
    path("tickets/bulk/", bulk.ticket_bulk, name="ticket_bulk"),
    path("tickets/<int:pk>/", ticket.ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/reply/", ticket.ticket_reply, name="ticket_reply"),
    path("tickets/<int:pk>/note/", ticket.ticket_note, name="ticket_note"),
    path("tickets/<int:pk>/status/", ticket.ticket_status, name="ticket_status"),
    path("tickets/<int:pk>/fields/", ticket.ticket_fields, name="ticket_fields"),
    path("tickets/<int:pk>/assign/", ticket.ticket_assign, name="ticket_assign"),
    path("tickets/<int:pk>/priority/", ticket.ticket_priority, name="ticket_priority"),
    path("tickets/<int:pk>/delete/", ticket.TicketDeleteView.as_view(), name="ticket_delete"),
    path("tickets/<int:pk>/merge/", ticket.ticket_merge, name="ticket_merge"),
    path("tickets/<int:pk>/canned/", ticket.canned_preview, name="canned_preview"),
    path("tickets/merges/<int:pk>/undo/", ticket.ticket_merge_undo, name="ticket_merge_undo"),
    path("tickets/canned/", canned.CannedReplyListView.as_view(), name="canned_list"),
    path("tickets/canned/new/", canned.CannedReplyFormView.as_view(), name="canned_create"),
    path("tickets/canned/<int:pk>/", canned.CannedReplyFormView.as_view(), name="canned_edit"),
    path(
        "tickets/canned/<int:pk>/delete/",
        canned.CannedReplyDeleteView.as_view(),
        name="canned_delete",
    ),
    path("tickets/queues/", queues.queue_list, name="queue_list"),
    path("tickets/queues/<int:pk>/", queues.queue_assignment, name="queue_assignment"),
    path("tickets/queues/<int:pk>/shift/", queues.queue_shift, name="queue_shift"),
    path("tickets/attachments/<int:pk>/", ticket.attachment_download, name="attachment_download"),
    path("kb/", knowledge.ArticleListView.as_view(), name="article_list"),
    path("kb/new/", knowledge.ArticleFormView.as_view(), name="article_create"),
    path("kb/<int:pk>/", knowledge.article_detail, name="article_detail"),
    path("kb/<int:pk>/edit/", knowledge.ArticleFormView.as_view(), name="article_edit"),
    path("kb/<int:pk>/status/", knowledge.article_status, name="article_status"),
    path("kb/suggest/", knowledge.article_suggest, name="article_suggest"),
    path("kb/report/", knowledge.kb_report, name="kb_report"),
    path(
        "kb/categories/", knowledge.ArticleCategoryListView.as_view(), name="article_category_list"
    ),
    path(
        "kb/categories/new/",
        knowledge.ArticleCategoryFormView.as_view(),
        name="article_category_create",
    ),
    path(
        "kb/categories/<int:pk>/",
        knowledge.ArticleCategoryFormView.as_view(),
        name="article_category_edit",
    ),
    path("help/", help.help_home, name="help_home"),
    path("help/search/", help.help_search, name="help_search"),
    path("help/suggest/", help.help_suggest, name="help_suggest"),
    path("help/category/<slug:slug>/", help.help_category, name="help_category"),
    path("help/<slug:slug>/", help.help_article, name="help_article"),
    path("help/<slug:slug>/vote/", help.help_vote, name="help_vote"),
    path("support/new/", public.public_ticket_new, name="public_new"),
    path("support/new/thanks/", public.public_thanks, name="public_thanks"),
    path("support/inbound/email/", public.inbound_email_webhook, name="inbound_email"),
    path("surveys/<str:token>/", surveys.survey_dispatch, name="survey"),
]
