"""Custom fields in the list pages: a column per field shown in lists (sortable, hidden by a
saved view), a filter per field in the filter bar (kept by saved views), bad filter values shown
as the form's error, role-limited fields out of lists, filters and forms, fixed query counts."""

import pytest
from django.test import Client
from django.urls import reverse

from crm.choices import Role
from crm.models import CustomField, SavedView
from crm.services import custom_fields as services
from tests.factories.crm import AccountFactory, SavedViewFactory, UserFactory

pytestmark = pytest.mark.django_db

ACCOUNTS = reverse("account_list")


def _field(admin, **data):
    data.setdefault("entity", "account")
    data.setdefault("order", CustomField.objects.count())
    return services.custom_field_create(user=admin, **data)


@pytest.fixture
def fields(admin, rep):
    """One field of every kind with a filter, on accounts."""
    return {
        "tier": _field(
            admin,
            label="Tier",
            kind="choice",
            choices=services.choices_from_text("gold | Gold\nsilver | Silver"),
        ),
        "regions": _field(
            admin,
            label="Regions",
            kind="multi_choice",
            choices=services.choices_from_text("eu | Europe\nus | Americas\napac | Asia"),
        ),
        "seats": _field(admin, label="Seats", kind="number"),
        "budget": _field(admin, label="Budget", kind="money"),
        "renewal": _field(admin, label="Renewal", kind="date"),
        "partner": _field(admin, label="Partner", kind="boolean"),
        "motto": _field(admin, label="Motto", kind="text"),
        "csm": _field(admin, label="CSM", kind="user"),
    }


def _names(response) -> list[str]:
    return sorted(a.name for a in response.context["object_list"])


def test_each_field_in_lists_is_a_column_with_its_value(rep_client, rep, admin, fields):
    _field(admin, label="Hidden from lists", kind="text", in_lists=False)
    AccountFactory(
        owner=rep,
        name="Acme",
        custom={
            "tier": "gold",
            "regions": ["eu", "us"],
            "seats": 1200,
            "budget": {"amount": 99.5, "currency": "EUR"},
            "partner": True,
            "motto": "<b>bold</b>",
            "csm": rep.pk,
        },
    )
    response = rep_client.get(ACCOUNTS)
    labels = [c.label for c in response.context["columns"]]
    assert labels[-8:] == [
        "Tier",
        "Regions",
        "Seats",
        "Budget",
        "Renewal",
        "Partner",
        "Motto",
        "CSM",
    ]
    assert "Hidden from lists" not in labels
    html = response.content.decode()
    for text in ("Gold", "Europe, Americas", "1,200", "99.50 EUR", "Yes", str(rep)):
        assert text in html, text
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    # The header and every row have as many cells (the custom ones last, in column order).
    row = html[html.index('data-custom-field="tier"') :]
    assert row.index('data-custom-field="regions"') < row.index('data-custom-field="csm"')


def test_sorting_by_a_custom_column(rep_client, rep, admin, fields):
    for name, seats in (("Small", 5), ("Big", 500), ("Mid", 50)):
        AccountFactory(owner=rep, name=name, custom={"seats": seats})
    AccountFactory(owner=rep, name="Unknown")
    response = rep_client.get(ACCOUNTS, {"sort": "cf_seats"})
    assert [a.name for a in response.context["object_list"]] == ["Small", "Mid", "Big", "Unknown"]
    assert response.context["current_sort"] == "cf_seats"
    response = rep_client.get(ACCOUNTS, {"sort": "-cf_seats"})
    assert [a.name for a in response.context["object_list"]] == ["Big", "Mid", "Small", "Unknown"]
    # An unknown custom sort falls back to the default one.
    assert rep_client.get(ACCOUNTS, {"sort": "cf_nope"}).context["current_sort"] == "-created"


def test_one_filter_per_kind(rep_client, rep, rep2, admin, fields):
    AccountFactory(
        owner=rep,
        name="A",
        custom={
            "tier": "gold",
            "regions": ["eu"],
            "seats": 10,
            "budget": {"amount": 100, "currency": "EUR"},
            "renewal": "2026-03-01",
            "partner": True,
            "motto": "Think big",
            "csm": rep.pk,
        },
    )
    AccountFactory(
        owner=rep,
        name="B",
        custom={
            "tier": "silver",
            "regions": ["us", "apac"],
            "seats": 300,
            "budget": {"amount": 5000, "currency": "EUR"},
            "renewal": "2026-09-01",
            "partner": False,
            "motto": "Small steps",
            "csm": rep2.pk,
        },
    )
    AccountFactory(owner=rep, name="C")
    cases = [
        ({"cf_tier": ["gold"]}, ["A"]),
        ({"cf_tier": ["gold", "silver"]}, ["A", "B"]),
        ({"cf_regions": ["apac"]}, ["B"]),
        ({"cf_regions": ["eu", "us"]}, ["A", "B"]),
        ({"cf_seats_min": "50"}, ["B"]),
        ({"cf_seats_max": "50"}, ["A"]),
        ({"cf_seats_min": "5", "cf_seats_max": "500"}, ["A", "B"]),
        ({"cf_budget_min": "1000"}, ["B"]),
        ({"cf_renewal_min": "2026-06-01"}, ["B"]),
        ({"cf_renewal_max": "2026-06-01"}, ["A"]),
        ({"cf_partner": "true"}, ["A"]),
        ({"cf_partner": "false"}, ["B"]),
        ({"cf_motto": "BIG"}, ["A"]),
        ({"cf_csm": [str(rep2.pk)]}, ["B"]),
        ({}, ["A", "B", "C"]),
    ]
    for query, expected in cases:
        response = rep_client.get(ACCOUNTS, query)
        assert response.status_code == 200
        assert _names(response) == expected, query
    form = rep_client.get(ACCOUNTS).context["filterset"].form
    custom = [name for name in form.fields if name.startswith("cf_")]
    assert custom == [f"cf_{key}" for key in fields]  # after the list's own filters
    assert list(form.fields).index("cf_tier") > list(form.fields).index("quality")


@pytest.mark.parametrize(
    "query, field",
    [
        ({"cf_tier": "platinum"}, "cf_tier"),
        ({"cf_seats_min": "many"}, "cf_seats"),
        ({"cf_renewal_min": "2026-13-45"}, "cf_renewal"),
        ({"cf_partner": "maybe"}, "cf_partner"),
        ({"cf_csm": "999999"}, "cf_csm"),
    ],
)
def test_bad_filter_values_show_the_forms_error(rep_client, rep, fields, query, field):
    AccountFactory(owner=rep, name="A", custom={"tier": "gold"})
    response = rep_client.get(ACCOUNTS, query)
    assert response.status_code == 200
    assert response.context["filterset"].form.errors[field]
    assert "invalid-feedback" in response.content.decode()
    assert _names(response) == ["A"]  # the bad filter is left out


def test_the_filter_bar_renders_every_kind(rep_client, rep, fields):
    html = rep_client.get(ACCOUNTS).content.decode()
    for name in (
        'name="cf_tier"',
        'name="cf_regions"',
        'name="cf_seats_min"',
        'name="cf_seats_max"',
        'name="cf_budget_min"',
        'name="cf_renewal_min"',
        'name="cf_renewal_max"',
        'name="cf_partner"',
        'name="cf_motto"',
        'name="cf_csm"',
    ):
        assert name in html, name
    assert 'type="date" class="form-control form-control-sm" name="cf_renewal_min"' in html


def test_a_saved_view_keeps_a_custom_filter_and_hides_a_custom_column(rep_client, rep, fields):
    AccountFactory(owner=rep, name="Gold one", custom={"tier": "gold", "seats": 3})
    AccountFactory(owner=rep, name="Silver one", custom={"tier": "silver"})
    menu = rep_client.get(ACCOUNTS).context["saved_views"]
    keys = [key for key, _label, _shown in menu.columns]
    assert "cf_tier" in keys and "cf_seats" in keys
    response = rep_client.post(
        reverse("saved_view_create"),
        {
            "list": ACCOUNTS,
            "query": "cf_tier=gold&cf_seats_min=1&sort=-cf_seats",
            "name": "Gold accounts",
            "columns": [k for k in keys if k != "cf_seats"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    view = SavedView.objects.get(owner=rep)
    assert view.hidden_columns == ["cf_seats"]
    response = rep_client.get(f"{ACCOUNTS}?{view.apply_query()}")
    assert _names(response) == ["Gold one"]
    assert response.context["current_sort"] == "-cf_seats"
    # The account list's first cell is the bulk bar's checkbox.
    position = [c.name for c in response.context["columns"]].index("cf_seats") + 2
    assert response.context["hidden_columns"] == [position]
    assert not response.context["saved_views"].changed


def test_a_rep_never_sees_a_field_limited_to_managers(rep_client, manager, rep, admin):
    secret = _field(admin, label="Credit limit", kind="number", roles=["Manager"])
    AccountFactory(owner=rep, name="Acme", custom={"credit_limit": 5000})
    # The rep: no column, no filter, no form field; the filter's parameter is ignored.
    response = rep_client.get(ACCOUNTS)
    assert "Credit limit" not in response.content.decode()
    assert "cf_credit_limit_min" not in response.context["filterset"].form.fields
    assert not any(c.name == "cf_credit_limit" for c in response.context["columns"])
    assert _names(rep_client.get(ACCOUNTS, {"cf_credit_limit_min": "9999"})) == ["Acme"]
    assert rep_client.get(ACCOUNTS, {"sort": "cf_credit_limit"}).context["current_sort"] == (
        "-created"
    )
    menu_keys = [k for k, _l, _s in rep_client.get(ACCOUNTS).context["saved_views"].columns]
    assert "cf_credit_limit" not in menu_keys
    form = rep_client.get(reverse("account_create")).content.decode()
    assert "cf_credit_limit" not in form
    # A saved view naming the column is refused for the rep.
    response = rep_client.post(
        reverse("saved_view_create"),
        {"list": ACCOUNTS, "query": "", "name": "Mine", "columns": ["name", "cf_credit_limit"]},
    )
    assert not SavedView.objects.exists()
    # A manager sees all three.
    manager_client = Client()
    manager_client.force_login(manager)
    response = manager_client.get(ACCOUNTS, {"cf_credit_limit_min": "9999"})
    assert "Credit limit" in response.content.decode()
    assert _names(response) == []
    assert secret.label in manager_client.get(reverse("account_create")).content.decode()


@pytest.mark.parametrize("rows", [3, 60])
def test_custom_columns_and_filters_keep_the_query_count(
    rows, rep_client, rep, rep2, admin, fields, django_assert_max_num_queries
):
    others = [UserFactory(username=f"csm{n}", roles=[Role.SALES_REP]) for n in range(3)]
    for n in range(rows):
        AccountFactory(
            owner=rep,
            custom={
                "tier": "gold",
                "seats": n,
                "csm": others[n % 3].pk,
                "renewal": "2026-01-01",
            },
        )
    SavedViewFactory(owner=rep, list_key="account_list", query="cf_tier=gold")
    # 12 for the list before custom fields; +1 the definitions (shared by the columns and the
    # filter bar), +1 the users (the user filter's choices, which also name the user column).
    query = {"cf_tier": "gold", "cf_seats_min": "0", "sort": "-cf_seats", "cf_csm": others[0].pk}
    with django_assert_max_num_queries(14):
        response = rep_client.get(ACCOUNTS, query)
    assert response.status_code == 200
    assert len(response.context["object_list"]) == min((rows + 2) // 3, 50)
    with django_assert_max_num_queries(14):
        response = rep_client.get(ACCOUNTS, {"sort": "cf_csm"})
    assert len(response.context["object_list"]) == min(rows, 50)
