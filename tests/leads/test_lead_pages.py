import re
from datetime import timedelta

import factory
import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, OutboundEmail, Task
from leads.choices import LeadStatus, ScoringCriterion
from leads.models import Lead
from tests.factories.crm import ContactFactory, TaskFactory, UserFactory
from tests.factories.leads import (
    CampaignFactory,
    LeadFactory,
    ScoringRuleFactory,
    SequenceFactory,
    SequenceStepFactory,
)
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [3, 60])
def test_lead_list_keeps_its_query_count(
    rows, manager_client, rep, rep2, django_assert_max_num_queries
):
    campaigns = CampaignFactory.create_batch(3)
    LeadFactory.create_batch(
        rows, owner=factory.Iterator([rep, rep2]), campaign=factory.Iterator(campaigns)
    )
    # 9, the saved views menu and the custom field definitions (the roles and the bell's
    # count come with the user; the filter bar's owners are the bulk bar's too)
    with django_assert_max_num_queries(12):
        response = manager_client.get(reverse("leads:lead_list"))
    assert response.status_code == 200
    assert len(response.context["object_list"]) == min(rows, 50)


def test_rep_sees_only_own_leads_in_list_and_search(rep_client, rep, rep2):
    LeadFactory(owner=rep, last_name="Mine")
    LeadFactory(owner=rep2, last_name="Theirs")
    response = rep_client.get(reverse("leads:lead_list"))
    assert [lead.last_name for lead in response.context["object_list"]] == ["Mine"]
    assert rep_client.get(reverse("search"), {"q": "Theirs"}).context["results"] == []
    results = rep_client.get(reverse("search"), {"q": "Mine"}).context["results"]
    assert [row.last_name for entry, rows in results for row in rows] == ["Mine"]


def test_agent_sees_no_leads(agent_client, rep):
    LeadFactory(owner=rep)
    response = agent_client.get(reverse("leads:lead_list"))
    assert response.status_code == 200
    assert list(response.context["object_list"]) == []


def test_list_filters_and_sort(rep_client, rep):
    campaign = CampaignFactory()
    LeadFactory(owner=rep, last_name="Alpha", score=80, grade="A", campaign=campaign)
    LeadFactory(owner=rep, last_name="Beta", score=10, grade="D", status=LeadStatus.WORKING)
    LeadFactory(owner=rep, last_name="Gamma", score=55, grade="B", source="web_form")

    def names(**params):
        response = rep_client.get(reverse("leads:lead_list"), params)
        assert response.status_code == 200
        return [lead.last_name for lead in response.context["object_list"]]

    assert names(status="working") == ["Beta"]
    assert names(source="web_form") == ["Gamma"]
    assert names(campaign=campaign.pk) == ["Alpha"]
    assert names(grade="B") == ["Gamma"]
    assert names(score_min=50, sort="-score") == ["Alpha", "Gamma"]
    assert names(score_max=20) == ["Beta"]
    assert names(q="gamma") == ["Gamma"]
    assert names(sort="name") == ["Alpha", "Beta", "Gamma"]
    today = timezone.localdate().isoformat()
    assert len(names(created_min=today, created_max=today)) == 3


def test_list_survives_bad_filter_input(rep_client, rep):
    LeadFactory(owner=rep)
    response = rep_client.get(
        reverse("leads:lead_list"),
        {"score_min": "lots", "owner": "x", "campaign": "99999", "page": "-1", "sort": "secret"},
    )
    assert response.status_code == 200


def test_htmx_list_returns_only_the_table(rep_client, rep):
    LeadFactory(owner=rep, last_name="Tabled")
    body = rep_client.get(reverse("leads:lead_list"), HTTP_HX_REQUEST="true").content.decode()
    assert "Tabled" in body and '<nav class="navbar' not in body


def test_detail_page_shows_bant_score_and_timeline(rep_client, rep, django_assert_max_num_queries):
    lead = LeadFactory(
        owner=rep, budget_confirmed=True, score_breakdown=[{"rule": "VP", "points": 20, "note": ""}]
    )
    for _ in range(25):
        Activity.objects.create(
            kind="call",
            summary="Called",
            occurred_at=timezone.now(),
            actor=rep,
            subject_owner=rep,
            content_type_id=_ct(),
            object_id=lead.pk,
        )
        TaskFactory(assignee=rep, content_type_id=_ct(), object_id=lead.pk)
    # The page's fixed queries and the custom field definitions of its "More fields" rows, the
    # lead, one query telling which parts have rows (and whether the user may change it), then
    # the timeline, the tasks and the sequences to enrol in; nothing for empty parts.
    with django_assert_max_num_queries(10):
        response = rep_client.get(lead.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert "BANT" in body and "☑ Budget" in body and "☐ Authority" in body
    assert "+20" in body and "Called" in body


def _ct():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Lead).pk


def test_create_lead_normalises_scores_and_logs(rep_client, rep):
    ScoringRuleFactory(criterion=ScoringCriterion.TITLE_CONTAINS, value="VP", points=30)
    response = rep_client.post(
        reverse("leads:lead_create"),
        {
            "first_name": "Vera",
            "last_name": "Paulsen",
            "email": " Vera.Paulsen@Example.COM ",
            "phone": "030 1234567",
            "country": "DE",
            "title": "VP Sales",
            "website": "https://www.example.com/about",
            "source": "manual",
            "budget_currency": "EUR",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    lead = Lead.objects.get()
    assert lead.email == "vera.paulsen@example.com"
    assert lead.phone == "+49301234567"
    assert lead.website == "example.com"
    assert lead.owner == rep
    assert lead.score == 30 and lead.score_breakdown[0]["points"] == 30
    assert Activity.objects.for_object(lead).filter(summary__startswith="Lead created").exists()


def test_create_lead_bad_input_and_duplicates_re_render(rep_client, rep):
    response = rep_client.post(
        reverse("leads:lead_create"),
        {"last_name": "", "email": "nope", "phone": "12", "employees": "-3", "source": "x"},
    )
    assert response.status_code == 200
    assert {"last_name", "email", "phone", "employees", "source"} <= set(
        response.context["form"].errors
    )
    ContactFactory(email="known@example.com")
    response = rep_client.post(
        reverse("leads:lead_create"),
        {
            "last_name": "Known",
            "email": "KNOWN@example.com",
            "source": "manual",
            "budget_currency": "EUR",
        },
    )
    assert response.status_code == 200
    assert "This person is already the contact" in str(response.context["form"].non_field_errors())
    assert not Lead.objects.exists()


def test_qualify_disqualify_and_convert_through_pages(rep_client, rep):
    lead = LeadFactory(owner=rep, website="acme.example", company_name="Acme")
    url = reverse("leads:lead_status", args=[lead.pk])
    rep_client.post(url, {"status": "disqualified"})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW  # a reason is required
    rep_client.post(url, {"status": "qualified"})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.QUALIFIED
    response = rep_client.post(reverse("leads:lead_convert", args=[lead.pk]), {})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert response["Location"] == lead.converted_contact.get_absolute_url()
    assert lead.converted_account.domain == "acme.example"
    # A double submit changes nothing
    rep_client.post(reverse("leads:lead_convert", args=[lead.pk]), {})
    from crm.models import Account, Contact

    assert Account.objects.count() == 1 and Contact.objects.count() == 1


def test_other_reps_leads_are_hidden_on_every_url(rep_client, rep2):
    lead = LeadFactory(owner=rep2)
    sequence = SequenceFactory()
    assert_hidden(
        rep_client,
        get=[
            lead.get_absolute_url(),
            reverse("leads:lead_edit", args=[lead.pk]),
            reverse("leads:lead_delete", args=[lead.pk]),
            reverse("leads:lead_convert", args=[lead.pk]),
        ],
        post=[
            (reverse("leads:lead_edit", args=[lead.pk]), {"last_name": "x"}),
            (reverse("leads:lead_delete", args=[lead.pk]), {}),
            (reverse("leads:lead_status", args=[lead.pk]), {"status": "qualified"}),
            (reverse("leads:lead_convert", args=[lead.pk]), {}),
            (reverse("leads:lead_reassign", args=[lead.pk]), {"owner": rep2.pk}),
            (reverse("leads:lead_replied", args=[lead.pk]), {}),
            (reverse("leads:lead_enrol", args=[lead.pk]), {"sequence": sequence.pk}),
            (
                reverse("activity_create", args=["leads.lead", lead.pk]),
                {"activity-kind": "call", "activity-summary": "x"},
            ),
            (
                reverse("task_create", args=["leads.lead", lead.pk]),
                {"task-title": "x", "task-due_at": "2030-01-01T10:00"},
            ),
        ],
    )
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_bulk_actions_touch_only_changeable_leads(rep_client, rep, rep2):
    mine = LeadFactory.create_batch(2, owner=rep)
    theirs = LeadFactory(owner=rep2)
    ids = [lead.pk for lead in mine] + [theirs.pk]
    rep_client.post(
        reverse("leads:lead_bulk"), {"action": "status", "status": "working", "ids": ids}
    )
    assert set(Lead.objects.filter(status="working").values_list("pk", flat=True)) == {
        m.pk for m in mine
    }
    # a rep cannot bulk-assign
    rep_client.post(reverse("leads:lead_bulk"), {"action": "assign", "owner": rep.pk, "ids": ids})
    theirs.refresh_from_db()
    assert theirs.owner == rep2
    sequence = SequenceFactory()
    SequenceStepFactory(sequence=sequence, position=1)
    rep_client.post(
        reverse("leads:lead_bulk"), {"action": "enrol", "sequence": sequence.pk, "ids": ids}
    )
    assert sequence.enrollments.count() == 2
    rep_client.post(reverse("leads:lead_bulk"), {"action": "delete", "ids": ids})
    assert list(Lead.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_a_bulk_edit_leaves_alone_leads_changed_since_the_list_was_read(manager_client, rep, rep2):
    changed, unchanged = LeadFactory.create_batch(2, owner=rep)
    page = manager_client.get(reverse("leads:lead_list")).content.decode()
    seen_at = re.search(r'name="seen_at" value="([^"]+)"', page).group(1)
    Lead.objects.filter(pk=changed.pk).update(
        status=LeadStatus.WORKING, updated_at=timezone.now() + timedelta(seconds=1)
    )

    response = manager_client.post(
        reverse("leads:lead_bulk"),
        {
            "action": "assign",
            "owner": rep2.pk,
            "ids": [changed.pk, unchanged.pk],
            "seen_at": seen_at,
        },
        follow=True,
    )

    assert Lead.objects.get(pk=changed.pk).owner == rep
    assert Lead.objects.get(pk=unchanged.pk).owner == rep2
    assert "1 lead changed by someone else since you loaded the list" in response.content.decode()


def test_bulk_bad_input_does_nothing(rep_client, rep):
    lead = LeadFactory(owner=rep)
    response = rep_client.post(
        reverse("leads:lead_bulk"), {"action": "status", "ids": ["x", lead.pk]}
    )
    assert response.status_code == 302
    response = rep_client.post(reverse("leads:lead_bulk"), {"action": "explode", "ids": [lead.pk]})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_manager_bulk_reassigns_and_new_owner_is_emailed(manager_client, rep, rep2):
    leads = LeadFactory.create_batch(3, owner=rep)
    manager_client.post(
        reverse("leads:lead_bulk"),
        {"action": "assign", "owner": rep2.pk, "ids": [lead.pk for lead in leads]},
    )
    assert Lead.objects.filter(owner=rep2).count() == 3
    email = OutboundEmail.objects.get(to_email=rep2.email)
    assert "3 leads" in email.subject


def test_manager_reassigns_single_lead(manager_client, rep, rep2):
    lead = LeadFactory(owner=rep)
    manager_client.post(reverse("leads:lead_reassign", args=[lead.pk]), {"owner": rep2.pk})
    lead.refresh_from_db()
    assert lead.owner == rep2
    assert OutboundEmail.objects.filter(
        to_email=rep2.email, subject__contains="reassigned"
    ).exists()
    outsider = UserFactory(username="outsider")
    manager_client.post(reverse("leads:lead_reassign", args=[lead.pk]), {"owner": outsider.pk})
    lead.refresh_from_db()
    assert lead.owner == rep2


def test_home_shows_overdue_lead_follow_ups(rep_client, rep):
    lead = LeadFactory(owner=rep, last_name="Quiet")
    TaskFactory(
        assignee=rep,
        title="Call Quiet back",
        due_at=timezone.now() - timedelta(days=1),
        content_type_id=_ct(),
        object_id=lead.pk,
    )
    body = rep_client.get(reverse("home")).content.decode()
    assert "Overdue lead follow-ups" in body and "Call Quiet back" in body
    assert Task.objects.count() == 1


def test_navigation_shows_leads_to_reps(rep_client):
    assert 'href="/leads/"' in rep_client.get(reverse("home")).content.decode()


def test_navigation_hides_leads_from_agents(agent_client):
    assert 'href="/leads/"' not in agent_client.get(reverse("home")).content.decode()
