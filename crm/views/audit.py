"""The security audit trail for admins (404 for everyone else): filtered, paged, and as CSV."""

from django.contrib.auth.decorators import login_required
from django.utils import timezone

from crm.csvfiles import csv_response
from crm.filtersets import AuditEventFilterSet
from crm.selectors import audit_event_list
from crm.views.lists import Column, FilteredListView
from crm.views.people import AdminOnlyMixin, admin_only

CSV_HEADER = [
    "time",
    "action",
    "action label",
    "done by",
    "about user",
    "target type",
    "target id",
    "target",
    "detail",
    "address",
]


def _audit_rows(user):
    return audit_event_list(user=user).select_related("actor", "target_user", "target_type")


class AuditListView(AdminOnlyMixin, FilteredListView):
    list_selector = audit_event_list
    filterset_class = AuditEventFilterSet
    title = "Audit"
    template_name = "crm/audit_list.html"
    row_template = "crm/rows/audit_event.html"
    columns = [
        Column("When", sort="at"),
        Column("Action"),
        Column("Done by"),
        Column("About"),
        Column("Detail"),
        Column("Address"),
    ]
    sorts = {"at": ("at", "id")}
    default_sort = "-at"

    def base_queryset(self):
        return _audit_rows(self.request.user)


@login_required
def audit_export(request):
    """The lines the Audit page's filters select, as a CSV file (every page of them)."""
    admin_only(request)
    filterset = AuditEventFilterSet(request.GET or None, queryset=_audit_rows(request.user))
    rows = filterset.qs.order_by("-at", "-id") if filterset.is_valid() else filterset.qs.none()

    def lines():
        yield CSV_HEADER
        for event in rows.iterator(chunk_size=2000):
            yield [
                timezone.localtime(event.at).isoformat(timespec="seconds"),
                event.action,
                event.action_label,
                event.actor.get_username() if event.actor else "system",
                event.target_user.get_username() if event.target_user else "",
                event.target_type.model if event.target_type else "",
                event.target_id,
                event.target_label,
                event.detail_text,
                event.ip or "",
            ]

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(lines(), filename=f"audit-{stamp}.csv")
