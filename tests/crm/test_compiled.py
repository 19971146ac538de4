"""Compiled queries (``crm.compiled``): built and compiled once per name, user and roles, then run
with each call's values; model instances with their related rows, ``values()`` rows, and a
query that can find nothing; a value kept by mistake is caught by the check the tests run
with, and one written into the SQL is refused."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import catalog, compiled
from crm.auth.backends import signed_in_user_get
from crm.models import Contact
from crm.selectors import scoped
from tests.factories.crm import ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def builds(monkeypatch):
    """How many times a query was compiled (not merely checked)."""
    count = []
    compile_once = compiled._compile

    def counted(*args, **kwargs):
        count.append(args[0])
        return compile_once(*args, **kwargs)

    monkeypatch.setattr(compiled, "_compile", counted)
    return count


def _signed_in(user):
    """``user`` as a request reads them, in a request that changed nothing of the catalog."""
    catalog.request_begins()
    return signed_in_user_get(user.pk)


def _changeable(user):
    def build(pk):
        return scoped(Contact, user=user, for_change=True).filter(pk=pk).select_related("owner")

    return build


def test_a_query_is_compiled_once_and_answers_for_each_value(
    rep, builds, django_assert_num_queries
):
    first, second = ContactFactory(owner=rep, last_name="Lovelace"), ContactFactory(owner=rep)
    user = _signed_in(rep)

    found = compiled.rows("test-changeable", _changeable(user), user=user, pk=first.pk)
    assert [c.last_name for c in found] == ["Lovelace"]
    found = compiled.rows("test-changeable", _changeable(user), user=user, pk=second.pk)
    assert found == [second]
    with django_assert_num_queries(1):  # the owner came with the row
        found = compiled.rows("test-changeable", _changeable(user), user=user, pk=first.pk)
        assert found[0].owner == rep
    assert builds == ["test-changeable"]


def test_each_user_and_set_of_roles_has_its_own(rep, rep2, builds):
    mine = ContactFactory(owner=rep)
    user, other = _signed_in(rep), _signed_in(rep2)
    assert compiled.rows("test-changeable", _changeable(user), user=user, pk=mine.pk) == [mine]
    assert compiled.rows("test-changeable", _changeable(other), user=other, pk=mine.pk) == []

    rep.groups.clear()  # no role: sees nothing, as a queryset it is ``none()``
    user = _signed_in(rep)
    assert compiled.rows("test-changeable", _changeable(user), user=user, pk=mine.pk) == []
    assert len(builds) == 3


def test_values_rows_and_times_are_put_in():
    contact = ContactFactory()
    now = timezone.now()

    def build(pk, since):
        rows = Contact.objects.filter(pk=pk, created_at__gte=since)
        return rows.values("id", next_id=F("id") + 1)

    user = _signed_in(contact.owner)
    earlier = now - dt.timedelta(hours=1)
    found = compiled.rows("test-values", build, user=user, pk=contact.pk, since=earlier)
    assert found == [{"id": contact.pk, "next_id": contact.pk + 1}]
    later = now + dt.timedelta(hours=1)
    assert compiled.rows("test-values", build, user=user, pk=contact.pk, since=later) == []


def test_a_value_derived_or_read_inside_build_is_refused(rep):
    contact = ContactFactory(owner=rep)
    user = _signed_in(rep)

    def derived(pk, now):
        return Contact.objects.filter(pk=pk, created_at__gte=now - dt.timedelta(days=1))

    def clock(pk):
        return Contact.objects.filter(pk=pk, created_at__lte=timezone.now())

    for name, build, values in (
        ("test-derived", derived, {"now": timezone.now()}),
        ("test-clock", clock, {}),
    ):
        with pytest.raises(ValueError, match="derived from the values or the clock"):
            compiled.rows(name, build, user=user, pk=contact.pk, **values)


def test_a_value_written_into_the_sql_or_deciding_its_shape_is_refused(rep):
    contact = ContactFactory(owner=rep)
    user = _signed_in(rep)

    def written(pk):
        return Contact.objects.annotate(key=RawSQL(f"{int(pk)}", ())).filter(pk=contact.pk)

    def shaped(pk):
        return Contact.objects.filter(pk=pk) if pk % 2 else Contact.objects.filter(id__gte=pk)

    for name, build in (("test-written", written), ("test-shaped", shaped)):
        with pytest.raises(ValueError, match="its SQL depends on the values"):
            compiled.rows(name, build, user=user, pk=contact.pk)


def test_the_check_catches_a_kept_query_that_no_longer_matches(rep, settings):
    """A name that does not decide the query (here a flag read from outside) is a mistake
    the tests' check finds on the first run that differs."""
    contact = ContactFactory(owner=rep, last_name="Lovelace")
    user = _signed_in(rep)
    flag = {"recent": False}

    def build(pk):
        rows = Contact.objects.filter(pk=pk)
        return rows.filter(last_name="Lovelace") if flag["recent"] else rows

    assert compiled.rows("test-flag", build, user=user, pk=contact.pk) == [contact]
    flag["recent"] = True
    with pytest.raises(AssertionError, match="differs from the queryset built afresh"):
        compiled.rows("test-flag", build, user=user, pk=contact.pk)


def test_an_integer_column_of_any_size_takes_the_values(rep):
    """Stand-ins within every integer column's range: a 32-bit or positive column compiles to
    the same SQL as a key (Django writes an out-of-range value as an empty condition)."""
    contact = ContactFactory(owner=rep)
    user = _signed_in(rep)

    def build(pk, most):
        return Contact.objects.filter(Q(quality__lte=most) | Q(quality__isnull=True), pk=pk)

    assert compiled.rows("test-small", build, user=user, pk=contact.pk, most=32000) == [contact]
    if contact.quality is not None:
        found = compiled.rows("test-small", build, user=user, pk=contact.pk, most=-1)
        assert found == []


def test_a_record_page_compiles_its_record_and_probes_once_per_user(rep_client, rep, builds):
    """The contact page reads its probes with the record, in one query compiled once."""
    first, second = ContactFactory(owner=rep), ContactFactory(owner=rep)
    for contact in (first, second, first):
        response = rep_client.get(reverse("contact_detail", args=[contact.pk]))
        assert response.status_code == 200
        assert response.context["object"] == contact
    view = type(response.context["view"])
    assert builds.count(("contact_get", False, "record-probes", view)) == 1
    assert not [name for name in builds if "record-probes" in name and "contact_get" not in name]
    with CaptureQueriesContext(connection) as queries:
        response = rep_client.get(reverse("contact_detail", args=[second.pk]))
    (record,) = [q["sql"] for q in queries if 'FROM "crm_contact"' in q["sql"]]
    assert str(second.pk) in record and "EXISTS" in record
    assert response.context["view"].probed["_timeline"] is False


@pytest.mark.parametrize(
    ("factory", "url_name", "selector", "table"),
    [
        (LeadFactory, "leads:lead_detail", "lead_get", "leads_lead"),
        (OpportunityFactory, "sales:opportunity_detail", "opportunity_get", "sales_opportunity"),
        (
            SubscriptionFactory,
            "retention:subscription_detail",
            "subscription_get",
            "retention_subscription",
        ),
    ],
)
def test_every_record_page_reads_its_probes_with_the_record(
    rep_client, rep, builds, factory, url_name, selector, table
):
    """Lead, deal and subscription pages as the contact's: one compiled query gives the record
    and its probes."""
    record = factory(owner=rep)
    url = reverse(url_name, args=[record.pk])
    assert rep_client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = rep_client.get(url)
    assert response.status_code == 200
    view = response.context["view"]
    assert view.probed["_changeable"] is True
    (name,) = [name for name in builds if "record-probes" in name]
    assert name[0] == selector and name[-1] is type(view)
    (read,) = [q["sql"] for q in queries if f'FROM "{table}"' in q["sql"] and "EXISTS" in q["sql"]]
    assert str(record.pk) in read


def test_generic_records_load_one_query_a_kind_whatever_the_number_of_keys(
    rep, builds, django_assert_num_queries
):
    from crm.models import Task
    from tests.factories.crm import AccountFactory, TaskFactory

    contacts = [ContactFactory(owner=rep) for _ in range(3)]
    account = AccountFactory(owner=rep)
    tasks = [TaskFactory(assignee=rep, subject=s) for s in (*contacts, account, contacts[0])]
    gone_pk = max(c.pk for c in contacts) + 1000  # about a contact that is not there
    Task.objects.filter(pk=tasks[-1].pk).update(object_id=gone_pk)
    user = _signed_in(rep)

    for some in (2, 5):  # two keys, then four: the same compiled query
        fresh = list(Task.objects.filter(pk__in=[t.pk for t in tasks[:some]]).order_by("pk"))
        with django_assert_num_queries(2 if some == 5 else 1):  # contacts, then accounts too
            compiled.load_generic(fresh, "subject", user=user)
        with django_assert_num_queries(0):
            subjects = [task.subject for task in fresh]
            assert [compiled.loaded(task, "subject") for task in fresh] == subjects
        expected = [*contacts, account, None][:some]
        assert subjects == expected
        assert all(s is None or s.pk != gone_pk for s in subjects)
    assert builds.count(("generic", tasks[0].content_type_id)) == 1
    unloaded = Task.objects.get(pk=tasks[0].pk)
    with django_assert_num_queries(1):  # not loaded: read through the key
        assert compiled.loaded(unloaded, "subject") == contacts[0]


def test_a_process_keeps_the_queries_used_last(rep, builds, monkeypatch):
    """Compiled queries are large (50 to 100 KiB): the process keeps the ones used last."""
    monkeypatch.setattr(catalog, "RECENT_AT_MOST", 2)
    contact = ContactFactory(owner=rep)
    user = _signed_in(rep)

    def run(name):
        return compiled.rows(
            name, lambda pk: Contact.objects.filter(pk=pk), user=user, pk=contact.pk
        )

    for name in ("first", "second", "first", "third", "first", "second"):
        assert run(name) == [contact]
    # "second" was dropped for "third" (the least used last), "first" never was.
    assert builds == ["first", "second", "third", "second"]
