"""Canned replies: the desk's saved answers; agents read them, managers and admins write them."""

from django.http import Http404, HttpResponseRedirect
from django.urls import reverse

from crm.permissions import may_manage, may_work_tickets
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDeleteView, RecordFormView
from support.filtersets import CannedReplyFilterSet
from support.forms import CannedReplyForm
from support.models import CannedReply
from support.selectors import canned_reply_get, canned_reply_list
from support.services.canned import canned_reply_create, canned_reply_delete, canned_reply_update


class CannedReplyListView(FilteredListView):
    list_selector = canned_reply_list
    filterset_class = CannedReplyFilterSet
    title = "Canned replies"
    empty_noun = "canned replies"
    row_template = "support/rows/canned_reply.html"
    create_url_name = "support:canned_create"
    columns = [Column("Title", sort="title"), Column("Text"), Column("Offered")]
    sorts = {"title": ("title", "id")}
    default_sort = "title"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not may_work_tickets(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def can_create(self):
        return may_manage(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["may_change"] = self.can_create()
        return context


class CannedReplyFormView(RecordFormView):
    model = CannedReply
    selector = canned_reply_get
    form_class = CannedReplyForm
    create_service = staticmethod(canned_reply_create)
    update_service = staticmethod(canned_reply_update)
    object_name = "canned"

    def may_create(self, user) -> bool:
        return may_manage(user)

    def form_valid(self, form):
        response = super().form_valid(form)
        if response.status_code == 302:
            return HttpResponseRedirect(reverse("support:canned_list"))
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("support:canned_list")
        return context


class CannedReplyDeleteView(RecordDeleteView):
    model = CannedReply
    selector = canned_reply_get
    delete_service = staticmethod(canned_reply_delete)
    template_name = "support/canned_confirm_delete.html"
    object_name = "canned"
    success_url_name = "support:canned_list"
