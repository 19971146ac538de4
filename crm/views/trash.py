"""The trash: deleted records a user may see, restored (or, by admins, deleted for good)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm import registry
from crm.filtersets import TrashedRecordFilterSet
from crm.permissions import has_role, may_operate
from crm.selectors import trashed_record_get, trashed_record_list
from crm.services import trash as trash_services
from crm.views import safe_next
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once


class TrashListView(FilteredListView):
    list_selector = trashed_record_list
    filterset_class = TrashedRecordFilterSet
    title = "Trash"
    template_name = "crm/trash_list.html"
    row_template = "crm/rows/trashed_record.html"
    columns = [
        Column("Name", sort="name"),
        Column("Kind"),
        Column("Owner"),
        Column("Deleted by"),
        Column("Deleted", sort="deleted"),
        Column("Purged after", sort="purge"),
        Column(""),
    ]
    sorts = {
        "name": ("name", "id"),
        "deleted": ("deleted_at", "id"),
        "purge": ("purge_after", "id"),
    }
    default_sort = "-deleted"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return super().base_queryset().select_related("owner", "deleted_by").defer("payload")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["kind_labels"] = dict(registry.trash.choices())
        context["may_delete_forever"] = may_operate(self.request.user)
        context["retention_days"] = settings.TRASH_RETENTION_DAYS
        return context


def _back(request):
    return HttpResponseRedirect(safe_next(request, reverse("trash_list")))


@login_required
@require_POST
@submitted_once
def trash_restore(request, pk):
    """Put a trashed record back (POST); what stops it is said as a message, nothing changed."""
    entry = trashed_record_get(user=request.user, pk=pk)
    try:
        obj, notes = trash_services.trash_restore(entry=entry, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"“{entry.name}” was not restored. " + " ".join(exc.messages))
        return _back(request)
    messages.success(request, f"“{obj}” was restored.")
    for note in notes:
        messages.warning(request, note)
    url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else reverse("trash_list")
    return HttpResponseRedirect(url)


@login_required
@require_POST
@submitted_once
def trash_delete_forever(request, pk):
    """Remove an entry from the trash for good (admins; 404 for everyone else)."""
    if not may_operate(request.user):
        raise Http404
    entry = trashed_record_get(user=request.user, pk=pk)
    trash_services.trash_delete_forever(entry=entry, user=request.user)
    messages.success(request, f"“{entry.name}” was deleted for good.")
    return _back(request)
