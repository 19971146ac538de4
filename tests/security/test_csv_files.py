"""Every CSV the product writes is formula-safe in every column, UTF-8 with a byte order mark,
and served as ``text/csv; charset=utf-8``: the segment export, the lead import's error report
and every dashboard figure. The last test keeps new writers on the one helper."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from analytics import views as dashboards
from crm.choices import Role
from crm.csvfiles import formula_safe
from leads.models import ImportRowError
from tests.factories import AccountFactory, ContactFactory, UserFactory
from tests.factories.leads import ImportJobFactory, LeadFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.segments import SegmentFactory, group
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("http://evil")']
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE]-?\d+)?")
DASHBOARDS = [
    dashboards.PipelineDashboard,
    dashboards.FunnelDashboard,
    dashboards.SupportDashboard,
    dashboards.RetentionDashboard,
    dashboards.CLVDashboard,
]


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    raw = response.getvalue()
    assert raw.startswith("\ufeff".encode()), "no byte order mark"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _assert_formula_safe(rows, where):
    for row in rows:
        for cell in row:
            if NUMBER.fullmatch(cell):
                continue  # a number the product computed
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (where, row)


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_safe_quotes_every_formula_start(value):
    assert formula_safe(value) == "'" + value
    assert formula_safe(-12.5) == "-12.5" and formula_safe(None) == ""


@pytest.fixture
def poisoned(admin):
    """Records whose text starts like a formula, in every field the exports show."""
    owner = UserFactory(
        username="=cmd", first_name="=HYPERLINK(1)", last_name="+x", roles=[Role.SALES_REP]
    )
    account = AccountFactory(name="=1+1", owner=owner)
    ContactFactory(first_name="@SUM(A1)", last_name="-2+3", title="\t=1", account=account)
    LeadFactory(first_name="=A1", last_name="@x", company_name="+1", owner=owner)
    OpportunityFactory(name="=deal", owner=owner, account=account)
    TicketFactory(subject="=ticket", contact=ContactFactory(account=account, owner=owner))
    return owner


def test_segment_exports_are_formula_safe(admin_client_, admin, poisoned):
    for target in ("account", "contact", "lead"):
        segment = SegmentFactory(owner=admin, target=target, definition=group("and"))
        rows = _rows(admin_client_.get(reverse("segment_export", args=[segment.pk])))
        assert len(rows) > 1, target
        _assert_formula_safe(rows, target)


def test_import_error_report_is_formula_safe_in_every_column(
    admin_client_, admin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    job = ImportJobFactory(created_by=admin)
    for line, value in enumerate(FORMULAS, start=2):
        ImportRowError.objects.create(job=job, line=line, reason=value, raw=f"{value},=2")
    rows = _rows(admin_client_.get(reverse("leads:import_errors", args=[job.pk])))
    assert rows[0] == ["line", "reason", "row"] and len(rows) == len(FORMULAS) + 1
    _assert_formula_safe(rows, "errors.csv")
    assert rows[1][2] == "'=1+1,=2"


@pytest.mark.parametrize("view", DASHBOARDS, ids=lambda v: v.__name__)
def test_every_dashboard_figure_exports_formula_safe_csv(admin_client_, poisoned, view):
    url = reverse(f"analytics:{view.__name__.removesuffix('Dashboard').lower()}")
    for figure in view.figures:
        rows = _rows(admin_client_.get(url, {"export": figure.key}))
        assert rows, figure.key
        _assert_formula_safe(rows, f"{view.__name__}.{figure.key}")


def test_every_csv_writer_uses_the_helper():
    """No module writes CSV or answers text/csv by itself: crm.csvfiles does, for all."""
    root = Path(settings.BASE_DIR)
    apps = ("crm", "leads", "sales", "support", "retention", "analytics")
    offenders = []
    for app in apps:
        for path in (root / app).rglob("*.py"):
            relative = str(path.relative_to(root))
            if relative == "crm/csvfiles.py" or "/management/" in relative:
                continue
            text = path.read_text()
            if re.search(r"csv\.(writer|DictWriter)\(|text/csv", text):
                offenders.append(relative)
    assert not offenders, f"CSV written outside crm.csvfiles: {offenders}"
