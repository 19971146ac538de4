"""The automations pages (``/automations/``): the three example rules built through the form,
pause/resume, the dry run, the run log, role checks and another manager's rules (404)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crm.automation.services import rule_create, rule_set_active
from crm.choices import Role, SizeBand
from crm.models import Notification, Rule, RuleRun, Task
from crm.models.automation import RuleRunState
from retention.models import RiskEpisode
from sales.services import opportunity_move_stage
from support.choices import Priority
from support.services.tickets import ticket_create
from tests.factories.automation import amount_rule, make_rule, settle
from tests.factories.crm import AccountFactory, TeamFactory, UserFactory
from tests.factories.retention import HealthScoreFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.segments import condition, group

pytestmark = pytest.mark.django_db


@pytest.fixture
def director(db):
    return UserFactory(username="director", roles=[Role.MANAGER])


def form_post(*, name, trigger, conditions=(), actions=(), run_as=None, **extra):
    """The builder's fields: conditions as (criterion, operator, value or list), actions as
    dicts of the row's inputs."""
    data = {"name": name, "trigger": trigger, "group-root-op": "and", "daily_cap": "3", **extra}
    if run_as is not None:
        data["run_as"] = str(run_as.pk)
    for number, (criterion, operator, value) in enumerate(conditions):
        uid = f"c{number}"
        data[f"cond-{uid}-group"] = "root"
        data[f"cond-{uid}-criterion"] = criterion
        data[f"cond-{uid}-operator"] = operator
        data[f"cond-{uid}-value"] = value
    for index, action in enumerate(actions):
        for key, value in action.items():
            data[f"action-{index}-{key}"] = value
        data[f"action-{index}-order"] = str(index + 1)
    return data


def build(client, entity, data) -> Rule:
    response = client.post(f"{reverse('rule_create')}?entity={entity}", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = Rule.objects.latest("id")
    assert response["Location"] == rule.get_absolute_url()
    return rule


def switch_on(client, rule):
    response = client.post(reverse("rule_toggle", args=[rule.pk]), {"active": "on"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.active


def test_a_manager_builds_the_big_deal_rule_in_the_browser(manager_client, manager, director, rep):
    negotiation = stage_named("Negotiation")
    rule = build(
        manager_client,
        "deal",
        form_post(
            name="Big deal reaches Negotiation",
            trigger="stage",
            trigger_stage=str(negotiation.pk),
            run_as=manager,
            conditions=[("amount", "gte", "50000")],
            actions=[
                {"kind": "notify", "to": f"user:{director.pk}", "message": "Big deal"},
                {
                    "kind": "create_task",
                    "title": "Legal review",
                    "due_in_days": "3",
                    "assignee": "owner",
                },
            ],
        ),
    )
    assert not rule.active
    assert rule.trigger_params == {"value": str(negotiation.pk)}
    assert rule.conditions == group("and", condition("amount", "gte", 50000))
    assert [a["kind"] for a in rule.actions] == ["notify", "create_task"]

    deal = OpportunityFactory(owner=rep, amount=Decimal("75000"))
    switch_on(manager_client, rule)
    opportunity_move_stage(opportunity=deal, stage=negotiation, user=rep)
    settle()
    assert Notification.objects.filter(recipient=director, kind="automation").count() == 1
    assert Task.objects.filter(title="Legal review", assignee=rep, object_id=deal.pk).exists()

    page = manager_client.get(rule.get_absolute_url()).content.decode()
    assert f"Deal #{deal.pk}" in page and "Created the task “Legal review”" in page
    assert deal.get_absolute_url() in page


def test_a_manager_builds_the_urgent_enterprise_ticket_rule(manager_client, manager, rep):
    rule = build(
        manager_client,
        "ticket",
        form_post(
            name="Enterprise customer opens an urgent ticket",
            trigger="created",
            run_as=manager,
            conditions=[
                ("priority", "in", ["urgent"]),
                ("account_size", "in", [SizeBand.ENTERPRISE]),
            ],
            actions=[{"kind": "notify", "to": "account_owner", "message": "Urgent ticket"}],
        ),
    )
    switch_on(manager_client, rule)
    account = AccountFactory(owner=rep, size_band=SizeBand.ENTERPRISE)
    ticket_create(subject="Everything is down", account=account, priority=Priority.URGENT)
    settle()
    assert Notification.objects.filter(recipient=rep, kind="automation").count() == 1


def test_a_manager_builds_the_health_below_40_rule(manager_client, manager, rep):
    rule = build(
        manager_client,
        "account",
        form_post(
            name="Health drops below 40",
            trigger="field",
            trigger_field="health_score",
            trigger_operator="lt",
            trigger_value="40",
            run_as=manager,
            actions=[{"kind": "save_playbook"}],
        ),
    )
    account = AccountFactory(owner=rep)
    health = HealthScoreFactory(account=account, score=75)
    switch_on(manager_client, rule)
    health.score = 32
    health.save()
    settle()
    assert RuleRun.objects.get(rule=rule).state == RuleRunState.DONE
    assert RiskEpisode.objects.get(account=account).playbook_run_at is not None


def test_bad_input_re_renders_the_form_with_every_problem(manager_client):
    data = form_post(
        name="",
        trigger="field",
        trigger_field="amount",
        trigger_operator="gte",
        trigger_value="lots",
        actions=[{"kind": "create_task", "title": "", "assignee": "owner"}],
    )
    response = manager_client.post(f"{reverse('rule_create')}?entity=deal", data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Give the rule a name." in body
    assert "Enter a number for “Amount”." in body
    assert "Enter the task" in body
    assert 'value="lots"' in body  # nothing typed is lost
    assert not Rule.objects.exists()


def test_the_dry_run_button_counts_and_the_rule_pauses_and_resumes(manager_client, manager, rep):
    for amount in (60000, 70000, 10):
        OpportunityFactory(owner=rep, amount=Decimal(amount))
    rule = amount_rule(manager)
    response = manager_client.post(reverse("rule_dry_run", args=[rule.pk]), HTTP_HX_REQUEST="true")
    assert "Would fire on 2 records." in response.content.decode()
    switch_on(manager_client, rule)
    response = manager_client.post(reverse("rule_toggle", args=[rule.pk]), {})
    rule.refresh_from_db()
    assert not rule.active


def test_a_manager_deletes_a_rule_after_confirming_and_its_run_log_goes_with_it(
    manager_client, manager, rep
):
    OpportunityFactory(owner=rep, amount=Decimal(60000))
    rule = amount_rule(manager, name="Big <deal>")
    switch_on(manager_client, rule)
    settle()
    assert RuleRun.objects.filter(rule=rule).count() == 1
    # The detail page links to a page that asks first; a GET deletes nothing
    assert (
        reverse("rule_delete", args=[rule.pk])
        in manager_client.get(rule.get_absolute_url()).content.decode()
    )
    page = manager_client.get(reverse("rule_delete", args=[rule.pk])).content.decode()
    assert "Big &lt;deal&gt;" in page and Rule.objects.filter(pk=rule.pk).exists()
    response = manager_client.post(reverse("rule_delete", args=[rule.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("rule_list")
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert not RuleRun.objects.filter(rule_id=rule.pk).exists()
    assert manager_client.get(rule.get_absolute_url()).status_code == 404


@pytest.mark.parametrize("client_name", ["rep_client", "agent_client"])
def test_reps_and_agents_get_404_everywhere(request, client_name, manager):
    rule = make_rule(
        manager,
        active=False,
        name="Any",
        entity="lead",
        trigger="created",
        actions=[{"kind": "add_note", "text": "x"}],
    )
    client = request.getfixturevalue(client_name)
    for url in (
        reverse("rule_list"),
        reverse("rule_create") + "?entity=lead",
        rule.get_absolute_url(),
        reverse("rule_edit", args=[rule.pk]),
        reverse("rule_action_row") + "?entity=lead",
        reverse("rules_export"),
        reverse("rules_import"),
        reverse("rule_export", args=[rule.pk]),
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("rule_toggle", args=[rule.pk]),
        reverse("rule_dry_run", args=[rule.pk]),
        reverse("rule_from_starter", args=["quiet-lead"]),
    ):
        assert client.post(url, {"active": "on"}).status_code == 404, url


def test_another_managers_rules_and_run_logs_are_404(client, manager):
    other = UserFactory(username="other-manager", roles=[Role.MANAGER])
    TeamFactory(name="Other team", members=[UserFactory(roles=[Role.SALES_REP])], managers=[other])
    rule = make_rule(
        manager,
        active=False,
        name="Mine",
        entity="lead",
        trigger="created",
        actions=[{"kind": "add_note", "text": "x"}],
    )
    client.force_login(other)
    assert "Mine" not in client.get(reverse("rule_list")).content.decode()
    for url in (rule.get_absolute_url(), reverse("rule_edit", args=[rule.pk])):
        assert client.get(url).status_code == 404
    response = client.post(reverse("rule_toggle", args=[rule.pk]), {"active": "on"})
    assert response.status_code == 404
    rule.refresh_from_db()
    assert not rule.active


def test_the_list_and_the_run_log_take_a_fixed_number_of_queries(
    manager_client, manager, rep, django_assert_max_num_queries
):
    for number in range(6):
        rule = amount_rule(
            manager,
            name=f"Rule {number}",
            actions=[{"kind": "add_note", "text": "Big"}, {"kind": "add_note", "text": "!"}],
        )
    for _ in range(8):
        OpportunityFactory(owner=rep, amount=Decimal("90000"))
    rule_set_active(rule=rule, user=manager, active=True)
    settle()
    assert RuleRun.objects.filter(rule=rule, state=RuleRunState.DONE).count() == 8

    with django_assert_max_num_queries(12):
        response = manager_client.get(reverse("rule_list"))
    assert response.status_code == 200 and "Rule 5" in response.content.decode()
    with django_assert_max_num_queries(12):
        response = manager_client.get(rule.get_absolute_url())
    assert response.content.decode().count("Added a note to the timeline.") == 16


def test_the_builder_pages_render(manager_client):
    assert manager_client.get(reverse("rule_create")).status_code == 200
    for entity in ("lead", "contact", "account", "deal", "ticket"):
        response = manager_client.get(f"{reverse('rule_create')}?entity={entity}")
        assert response.status_code == 200, entity
    response = manager_client.get(
        reverse("rule_action_row") + "?entity=deal&index=2&action-2-kind=create_task",
        HTTP_HX_REQUEST="true",
    )
    assert 'name="action-2-title"' in response.content.decode()


def test_time_triggers_are_built_through_the_form(manager_client, manager):
    date_rule = build(
        manager_client,
        "deal",
        form_post(
            name="Close is near",
            trigger="date",
            trigger_date_field="expected_close_date",
            trigger_date_days="5",
            trigger_date_when="before",
            run_as=manager,
            actions=[{"kind": "add_note", "text": "Five days to close"}],
        ),
    )
    assert date_rule.trigger_params == {"field": "expected_close_date", "days": 5, "when": "before"}
    idle_rule = build(
        manager_client,
        "lead",
        form_post(
            name="Gone quiet",
            trigger="idle",
            trigger_idle_days="21",
            run_as=manager,
            actions=[{"kind": "add_note", "text": "Quiet"}],
        ),
    )
    assert idle_rule.trigger_params == {"days": 21}
    page = manager_client.get(reverse("rule_list")).content.decode()
    assert "5 days before expected close date" in page and "Nothing happened for 21 days" in page


def test_rules_export_and_import_as_json_by_names(manager_client, manager, director, rep):
    import io
    import json

    team = TeamFactory(name="Inbound", members=[rep])
    rule = rule_create(
        user=manager,
        data={
            "name": "Big deal reaches Negotiation",
            "entity": "deal",
            "trigger": "stage",
            "trigger_params": {"value": str(stage_named("Negotiation").pk)},
            "conditions": group("and", condition("amount", "gte", 50000)),
            "actions": [
                {"kind": "notify", "to": [f"user:{director.pk}", "owner"], "message": "Big"},
                {"kind": "round_robin", "team": team.pk},
            ],
        },
    )
    response = manager_client.get(reverse("rule_export", args=[rule.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    document = json.loads(response.content)
    exported = document["rules"][0]
    assert exported["trigger_params"] == {"value": "New business · Negotiation"}
    assert exported["actions"][0]["to"] == ["user:@director", "owner"]
    assert exported["actions"][1]["team"] == "Inbound"
    assert "Big deal" in manager_client.get(reverse("rules_export")).content.decode()

    # Imported back (another installation would resolve the same names)
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "rules.json"
    response = manager_client.post(reverse("rules_import"), {"file": upload})
    assert response.status_code == 302
    copy = Rule.objects.exclude(pk=rule.pk).get()
    assert (copy.active, copy.run_as, copy.created_by) == (False, manager, manager)
    assert copy.trigger_params == rule.trigger_params
    assert copy.actions == rule.actions and copy.conditions == rule.conditions


def test_an_import_that_does_not_check_out_imports_nothing_and_says_why(manager_client):
    import io
    import json

    document = {
        "format": "crm-automation-rules",
        "version": 1,
        "rules": [
            {
                "name": "Fine",
                "entity": "lead",
                "trigger": "created",
                "conditions": group("and"),
                "actions": [{"kind": "add_note", "text": "Hi"}],
            },
            {
                "name": "Broken",
                "entity": "lead",
                "trigger": "created",
                "conditions": group("and"),
                "actions": [{"kind": "assign", "user": "@nobody"}],
            },
        ],
    }
    for content, expected in (
        (json.dumps(document), "Rule 2 (“Broken”): There is no active user “nobody” here."),
        ("not json", "The file is not JSON."),
        (json.dumps({"rules": []}), "This is not a file of exported automation rules."),
    ):
        upload = io.BytesIO(content.encode())
        upload.name = "rules.json"
        response = manager_client.post(reverse("rules_import"), {"file": upload})
        assert response.status_code == 400
        assert expected in response.content.decode()
    assert not Rule.objects.exists()


def test_templates_make_editable_rules(manager_client, manager):
    page = manager_client.get(reverse("rule_list")).content.decode()
    assert "Save the customer when health drops below 40" in page
    for key in (
        "save-playbook",
        "quiet-lead",
        "big-deal-negotiation",
        "urgent-enterprise-ticket",
        "close-date-near",
    ):
        response = manager_client.post(reverse("rule_from_starter", args=[key]))
        rule = Rule.objects.latest("id")
        assert response.status_code == 302 and response["Location"] == reverse(
            "rule_edit", args=[rule.pk]
        ), key
        assert not rule.active and rule.run_as == manager
    assert Rule.objects.count() == 5
    assert manager_client.post(reverse("rule_from_starter", args=["nope"])).status_code == 404


def test_an_action_with_a_list_to_pick_from_is_built_through_the_form(manager_client, manager):
    from tests.factories.leads import SequenceFactory

    sequence = SequenceFactory(name="Welcome")
    response = manager_client.get(
        reverse("rule_action_row") + "?entity=lead&index=0&action-0-kind=enrol_sequence"
    )
    assert 'name="action-0-sequence"' in response.content.decode()
    rule = build(
        manager_client,
        "lead",
        form_post(
            name="Welcome new leads",
            trigger="created",
            run_as=manager,
            actions=[{"kind": "enrol_sequence", "sequence": str(sequence.pk)}],
        ),
    )
    assert rule.actions == [{"kind": "enrol_sequence", "sequence": sequence.pk}]


def test_the_run_log_links_only_records_that_still_open(manager_client, manager, rep):
    rule = amount_rule(manager)
    kept, gone = (OpportunityFactory(owner=rep, amount=Decimal("90000")) for _ in range(2))
    rule_set_active(rule=rule, user=manager, active=True)
    settle()
    gone_url = gone.get_absolute_url()
    gone_pk = gone.pk
    gone.delete()

    page = manager_client.get(rule.get_absolute_url()).content.decode()
    assert f'href="{kept.get_absolute_url()}"' in page
    assert f"Deal #{gone_pk}" in page
    assert gone_url not in page
