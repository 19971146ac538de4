"""The security audit trail for admins (404 for everyone else): filtered, paged, and as CSV.

Two tabs of one page: *Changes* (``AuditEvent``: roles, second factors, passwords, tokens,
exports, retention runs…) and *Sign-ins* (``SignInEvent``: every attempt, succeeded or not).
They are kept apart because they answer different questions with different columns: "who
changed what" and "who tried to get in, from where"."""

from django.contrib.auth.decorators import login_required
from django.utils import timezone

from crm.csvfiles import csv_response
from crm.filtersets import AuditEventFilterSet, SignInEventFilterSet
from crm.selectors import audit_event_list, signin_event_list
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

SIGNIN_CSV_HEADER = [
    "time",
    "outcome",
    "outcome label",
    "user",
    "login typed",
    "address",
    "browser",
]


def _audit_rows(user):
    return audit_event_list(user=user).select_related("actor", "target_user", "target_type")


def _signin_rows(user):
    return signin_event_list(user=user).select_related("user")


class AuditTabsMixin:
    """The tab bar both audit pages show above their filters."""

    audit_tab = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["audit_tab"] = self.audit_tab
        return context


class AuditListView(AdminOnlyMixin, AuditTabsMixin, FilteredListView):
    list_selector = audit_event_list
    filterset_class = AuditEventFilterSet
    title = "Audit"
    audit_tab = "changes"
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


class SignInListView(AdminOnlyMixin, AuditTabsMixin, FilteredListView):
    list_selector = signin_event_list
    filterset_class = SignInEventFilterSet
    title = "Audit"
    audit_tab = "signins"
    template_name = "crm/signin_list.html"
    row_template = "crm/rows/signin_event.html"
    columns = [
        Column("When", sort="at"),
        Column("Outcome"),
        Column("User"),
        Column("Login typed"),
        Column("Address"),
        Column("Browser"),
    ]
    sorts = {"at": ("at", "id")}
    default_sort = "-at"

    def base_queryset(self):
        return _signin_rows(self.request.user)


def _filtered(filterset):
    return filterset.qs.order_by("-at", "-id") if filterset.is_valid() else filterset.qs.none()


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


@login_required
def audit_export(request):
    """The lines the Audit page's filters select, as a CSV file (every page of them)."""
    admin_only(request)
    rows = _filtered(AuditEventFilterSet(request.GET or None, queryset=_audit_rows(request.user)))

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

    return csv_response(lines(), filename=f"audit-{_stamp()}.csv")


@login_required
def signin_export(request):
    """The sign-in attempts the Sign-ins tab's filters select, as a CSV file (every page)."""
    admin_only(request)
    rows = _filtered(SignInEventFilterSet(request.GET or None, queryset=_signin_rows(request.user)))

    def lines():
        yield SIGNIN_CSV_HEADER
        for attempt in rows.iterator(chunk_size=2000):
            yield [
                timezone.localtime(attempt.at).isoformat(timespec="seconds"),
                attempt.outcome,
                attempt.get_outcome_display(),
                attempt.user.get_username() if attempt.user else "",
                attempt.login,
                attempt.ip or "",
                attempt.user_agent,
            ]

    return csv_response(lines(), filename=f"sign-ins-{_stamp()}.csv")
