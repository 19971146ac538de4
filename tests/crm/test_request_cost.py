"""What every page costs before its own work, and the list rows written in Python: the
signed-in user read with their roles, unread count (and second factor) in one query, a role
change applying from the next request, sessions of the former backend kept, the menus built once
per role set; the contact, lead and deal rows as their templates wrote them, custom field cells
included."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.models import Group
from django.test import override_settings
from django.urls import reverse

from crm.auth.backends import BACKEND, LEGACY_BACKEND, signed_in_user_get
from crm.choices import Role
from crm.models import Notification
from crm.selectors import UNREAD_COUNT_CAP
from crm.services import custom_fields
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory

pytestmark = pytest.mark.django_db


def _unread(user, n):
    Notification.objects.bulk_create(
        Notification(recipient=user, kind="mention", verb=f"n{i}", dedupe_key=f"k{i}")
        for i in range(n)
    )


def test_the_signed_in_user_comes_with_roles_and_unread_count(rep, manager):
    _unread(rep, 3)
    Notification.objects.filter(verb="n0").update(read_at="2026-01-01T00:00Z")
    user = signed_in_user_get(rep.pk)
    assert user == rep
    assert user.role_names == frozenset({Role.SALES_REP})
    assert user.loaded_unread_count == 2
    assert signed_in_user_get(manager.pk).role_names == frozenset({Role.MANAGER})
    assert signed_in_user_get(999_999) is None


def test_the_unread_count_stops_at_the_cap(rep):
    _unread(rep, UNREAD_COUNT_CAP + 5)
    assert signed_in_user_get(rep.pk).loaded_unread_count == UNREAD_COUNT_CAP


def test_a_page_reads_session_and_user_only_before_its_own_work(
    rep_client, django_assert_max_num_queries
):
    # The notifications page: session, user (with roles and the bell), then its own rows,
    # count and filters; no query for the roles nor for the bell.
    rep_client.get(reverse("notification_list"))
    with django_assert_max_num_queries(10) as captured:
        rep_client.get(reverse("notification_list"))
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any(s.startswith('SELECT "auth_group"."name"') for s in sql)
    assert sum('FROM "crm_notification"' in s and "COUNT(" in s.upper() for s in sql) <= 1


def test_a_role_given_or_taken_applies_from_the_next_request(client, rep):
    client.force_login(rep)
    assert 'data-nav-group="sell"' in client.get(reverse("home")).content.decode()
    rep.groups.clear()
    rep.groups.add(Group.objects.get(name=Role.SUPPORT_AGENT))
    body = client.get(reverse("home")).content.decode()
    assert 'data-nav-group="sell"' not in body and 'data-nav-group="support"' in body
    assert client.get(reverse("home")).context["may_sell"] is False


def test_the_bell_counts_what_is_unread(rep_client, rep):
    _unread(rep, 4)
    assert rep_client.get(reverse("home")).context["bell"].count == 4


def test_a_session_of_the_former_backend_stays_signed_in(client, rep):
    client.force_login(rep)
    session = client.session
    session[BACKEND_SESSION_KEY] = LEGACY_BACKEND
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 200 and response.context["user"] == rep
    assert client.session[BACKEND_SESSION_KEY] == BACKEND


@override_settings(MFA_REQUIRED_ROLES=[Role.MANAGER])
def test_a_second_factor_is_read_with_the_user(manager_client, manager):
    from allauth.mfa.models import Authenticator

    assert signed_in_user_get(manager.pk).loaded_has_second_factor is False
    response = manager_client.get(reverse("home"))
    assert response.status_code == 302 and "totp" in response["Location"]
    Authenticator.objects.create(user=manager, type=Authenticator.Type.TOTP, data={})
    assert signed_in_user_get(manager.pk).loaded_has_second_factor is True
    assert manager_client.get(reverse("home")).status_code == 200


def test_the_search_box_shows_the_page_search(rep_client):
    body = rep_client.get(reverse("contact_list") + "?q=%3Cb%3E").content.decode()
    assert 'id="nav-search"' in body and 'value="&lt;b&gt;"' in body


def _fields(admin, entity):
    return {
        "motto": custom_fields.custom_field_create(
            user=admin, entity=entity, label="Motto", kind="text", order=0
        ),
        "seats": custom_fields.custom_field_create(
            user=admin, entity=entity, label="Seats", kind="number", order=1
        ),
    }


LONG = "x" * 100
CUSTOM = {"motto": "<b>bold</b> " + LONG, "seats": 1200}


def _cells(body: str) -> tuple[str, str]:
    motto = body[body.index('data-custom-field="motto"') :].split("</td>", 1)[0]
    seats = body[body.index('<td class="small text-end" data-custom-field="seats">') :]
    return motto, seats.split("</td>", 1)[0]


def _assert_row(body: str, *, link: str, name: str):
    assert f'<a href="{link}">{name}</a>' in body
    motto, seats = _cells(body)
    assert motto.startswith('data-custom-field="motto">&lt;b&gt;bold&lt;/b&gt; xxx')
    assert motto.endswith("…") and "<b>" not in motto
    assert seats.endswith(">1,200")
    # Every row has as many cells as the header has columns.
    table = body[body.index("<table") : body.index("</table>")]
    header = table[: table.index("</thead>")]
    rows = table[table.index("<tbody>") :].split("</tr>")[:-1]
    assert rows and all(row.count("</td>") == header.count("</th>") for row in rows)


def test_contact_rows_with_custom_cells(rep_client, rep, admin):
    _fields(admin, "contact")
    account = AccountFactory(owner=rep, name="Acme & Co")
    contact = ContactFactory(
        owner=rep, account=account, first_name="<i>Ann</i>", last_name="Lee", custom=CUSTOM
    )
    body = rep_client.get(reverse("contact_list")).content.decode()
    _assert_row(body, link=contact.get_absolute_url(), name="&lt;i&gt;Ann&lt;/i&gt; Lee")
    assert f'<a href="{account.get_absolute_url()}">Acme &amp; Co</a>' in body
    assert f'name="ids" value="{contact.pk}" form="bulk-form"' in body


def test_lead_rows_with_custom_cells(rep_client, rep, admin):
    _fields(admin, "lead")
    lead = LeadFactory(owner=rep, first_name="Bo", last_name="<Ng>", custom=CUSTOM, campaign=None)
    body = rep_client.get(reverse("leads:lead_list")).content.decode()
    _assert_row(body, link=lead.get_absolute_url(), name="Bo &lt;Ng&gt;")
    assert f'name="ids" value="{lead.pk}" form="bulk-form"' in body


def test_deal_rows_with_custom_cells(rep_client, rep, admin):
    _fields(admin, "opportunity")
    deal = OpportunityFactory(owner=rep, name="Big <deal>", custom=CUSTOM, expected_close_date=None)
    body = rep_client.get(reverse("sales:opportunity_list")).content.decode()
    _assert_row(body, link=deal.get_absolute_url(), name="Big &lt;deal&gt;")
    assert '<td class="small">—</td>' in body  # no close date


def _summary(client):
    return client.get(reverse("contact_list")).context["quality_summary"]


@override_settings(QUALITY_SUMMARY_ROWS=2, QUALITY_SUMMARY_CACHE_SECONDS=60)
def test_a_sampled_quality_summary_is_kept_a_moment(rep_client, rep):
    from crm.models import Contact

    ContactFactory.create_batch(4, owner=rep)
    Contact.objects.update(quality=90)
    first = _summary(rep_client)
    assert first.sampled and first.average == 90
    Contact.objects.update(quality=10)
    assert _summary(rep_client) == first  # the same rows within a minute: kept
    # Other filters are other rows: read afresh.
    body = rep_client.get(reverse("contact_list") + "?quality=poor").context["quality_summary"]
    assert body.average == 10


@override_settings(QUALITY_SUMMARY_ROWS=50, QUALITY_SUMMARY_CACHE_SECONDS=60)
def test_a_whole_quality_summary_is_always_read_afresh(rep_client, rep):
    from crm.models import Contact

    ContactFactory.create_batch(3, owner=rep)
    Contact.objects.update(quality=90)
    assert _summary(rep_client).average == 90
    Contact.objects.update(quality=10)
    assert _summary(rep_client).average == 10
