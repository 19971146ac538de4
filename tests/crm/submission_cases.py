"""The action forms a double click must not carry out twice, each as: who sends it, the page
that shows it, what it sends, and a count of what it makes."""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, Activity, Task
from leads.choices import EmailCampaignStatus
from leads.models import EmailCampaign, Enrollment, ImportJob, SegmentEnrolment
from retention.models import ChurnEvent, NpsRun
from sales import services as sales_services
from sales.models import Opportunity, Order, Quote
from support.models import Ticket
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.email_campaigns import EmailCampaignFactory, EmailVariantFactory
from tests.factories.leads import CampaignFactory, LeadFactory, SequenceFactory
from tests.factories.retention import RecommendationFactory
from tests.factories.sales import OpportunityFactory, ProductFactory, stage_named
from tests.factories.segments import SegmentFactory


@dataclass
class Action:
    user: object
    page: str  # the page that shows the form
    data: Callable[[], dict]  # a new body each time (an uploaded file is read once)
    count: Callable[[], int]  # what one send makes more of
    action: str | None = None  # where the form is sent; None: the page itself
    htmx: bool = False

    @property
    def url(self) -> str:
        return self.action or self.page

    @property
    def headers(self) -> dict:
        return {"HX-Request": "true"} if self.htmx else {}


CASES: dict[str, Callable] = {}


def case(name: str):
    def register(make):
        CASES[name] = make
        return make

    return register


FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S)
KEY = re.compile(r'name="_submission" value="([^"]+)"')


def form_key(client, action: Action) -> str:
    """The key in the action's form, as the page shows it."""
    response = client.get(action.page)
    assert response.status_code == 200, action.page
    for attrs, body in FORM.findall(response.content.decode()):
        if 'method="post"' not in attrs:
            continue
        if action.action and f'action="{action.action}"' not in attrs:
            continue
        if not action.action and "action=" in attrs:
            continue
        if found := KEY.search(body):
            return found.group(1)
    raise AssertionError(f"no form with a key for {action.url} on {action.page}")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _deal(rep):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep)
    return OpportunityFactory(owner=rep, account=account, primary_contact=contact)


@case("lead convert")
def _lead_convert(request):
    rep = request.getfixturevalue("rep")
    lead = LeadFactory(owner=rep, company_name="Once Ltd", website="once.example")
    return Action(
        rep,
        reverse("leads:lead_convert", args=[lead.pk]),
        lambda: {"create_opportunity": "on", "opportunity_name": "Once rollout"},
        lambda: Opportunity.objects.filter(name="Once rollout").count(),
    )


@case("deal won")
def _deal_won(request):
    rep = request.getfixturevalue("rep")
    deal = _deal(rep)
    return Action(
        rep,
        deal.get_absolute_url(),
        dict,
        lambda: Order.objects.filter(opportunity=deal).count(),
        action=reverse("sales:opportunity_win", args=[deal.pk]),
    )


@case("deal lost")
def _deal_lost(request):
    rep = request.getfixturevalue("rep")
    deal = _deal(rep)
    return Action(
        rep,
        reverse("sales:opportunity_lose", args=[deal.pk]),
        lambda: {"reason": "price", "note": "Too dear"},
        lambda: deal.stage_changes.count(),
    )


@case("deal stage move")
def _deal_moved(request):
    rep = request.getfixturevalue("rep")
    deal = _deal(rep)
    stage = stage_named("Proposal")
    return Action(
        rep,
        deal.get_absolute_url(),
        lambda: {"stage": stage.pk},
        lambda: deal.stage_changes.count(),
        action=reverse("sales:opportunity_move", args=[deal.pk]),
    )


@case("quote")
def _quote(request):
    rep = request.getfixturevalue("rep")
    deal = _deal(rep)
    sales_services.line_item_add(opportunity=deal, user=rep, product=ProductFactory())
    return Action(
        rep,
        deal.get_absolute_url(),
        dict,
        lambda: Quote.objects.filter(opportunity=deal).count(),
        action=reverse("sales:quote_create", args=[deal.pk]),
    )


@case("deal line item (HTMX)")
def _line_item(request):
    rep = request.getfixturevalue("rep")
    deal = _deal(rep)
    product = ProductFactory()
    return Action(
        rep,
        deal.get_absolute_url(),
        lambda: {"product": product.pk, "quantity": "1"},
        lambda: deal.line_items.count(),
        action=reverse("sales:line_item_add", args=[deal.pk]),
        htmx=True,
    )


def _task(request, htmx: bool):
    rep = request.getfixturevalue("rep")
    account = AccountFactory(owner=rep)
    return Action(
        rep,
        account.get_absolute_url(),
        lambda: {"task-title": "Call back", "task-due_at": "2030-01-02T10:00"},
        lambda: Task.objects.filter(title="Call back").count(),
        action=reverse("task_create", args=["crm.account", account.pk]),
        htmx=htmx,
    )


@case("task")
def _task_page(request):
    return _task(request, htmx=False)


@case("task (HTMX)")
def _task_htmx(request):
    return _task(request, htmx=True)


@case("activity (HTMX)")
def _activity(request):
    rep = request.getfixturevalue("rep")
    account = AccountFactory(owner=rep)
    return Action(
        rep,
        account.get_absolute_url(),
        lambda: {"activity-kind": "call", "activity-summary": "Called them"},
        lambda: Activity.objects.filter(summary="Called them").count(),
        action=reverse("activity_create", args=["crm.account", account.pk]),
        htmx=True,
    )


@case("account")
def _account(request):
    return Action(
        request.getfixturevalue("rep"),
        reverse("account_create"),
        lambda: {"name": "Once Inc", "lifecycle_stage": "prospect"},
        lambda: Account.objects.filter(name="Once Inc").count(),
    )


@case("email campaign draft")
def _campaign_draft(request):
    manager = request.getfixturevalue("manager")
    segment = SegmentFactory(owner=manager, name="VPs")
    campaign = CampaignFactory()

    def data():
        body = {
            "name": "Spring offer",
            "campaign": campaign.pk,
            "segment": segment.pk,
            "rate_per_minute": 100,
            "test_percent": 100,
            "winner_after_hours": "",
            "variant-TOTAL_FORMS": 4,
            "variant-INITIAL_FORMS": 0,
            "variant-MIN_NUM_FORMS": 0,
            "variant-MAX_NUM_FORMS": 4,
        }
        for i in range(4):
            body[f"variant-{i}-subject"] = "Hello {{ first_name }}" if i == 0 else ""
            body[f"variant-{i}-body"] = "Spring is here." if i == 0 else ""
        return body

    return Action(
        manager,
        reverse("leads:email_campaign_create"),
        data,
        lambda: EmailCampaign.objects.filter(name="Spring offer").count(),
    )


@case("email campaign send")
def _campaign_send(request):
    manager = request.getfixturevalue("manager")
    campaign = EmailCampaignFactory(created_by=manager)
    EmailVariantFactory(campaign=campaign)
    return Action(
        manager,
        campaign.get_absolute_url(),
        lambda: {"at": ""},
        lambda: EmailCampaign.objects.filter(
            pk=campaign.pk, status=EmailCampaignStatus.SCHEDULED
        ).count(),
        action=reverse("leads:email_campaign_schedule", args=[campaign.pk]),
    )


@case("NPS run")
def _nps_run(request):
    return Action(
        request.getfixturevalue("manager"),
        reverse("retention:nps"),
        lambda: {"name": "Autumn NPS"},
        lambda: NpsRun.objects.filter(name="Autumn NPS").count(),
    )


@case("lead import upload")
def _lead_import(request):
    csv = b"email,first_name,last_name,company\nann@example.com,Ann,Lee,Lee Ltd\n"
    return Action(
        request.getfixturevalue("manager"),
        reverse("leads:import_start"),
        lambda: {"file": SimpleUploadedFile("leads.csv", csv), "policy": "skip"},
        lambda: ImportJob.objects.count(),
    )


@case("lead bulk enrol")
def _lead_bulk(request):
    rep = request.getfixturevalue("rep")
    leads = LeadFactory.create_batch(2, owner=rep)
    sequence = SequenceFactory()
    return Action(
        rep,
        reverse("leads:lead_list"),
        lambda: {"action": "enrol", "ids": [lead.pk for lead in leads], "sequence": sequence.pk},
        lambda: Enrollment.objects.filter(sequence=sequence).count(),
        action=reverse("leads:lead_bulk"),
    )


@case("segment enrolment")
def _segment_enrolment(request):
    manager = request.getfixturevalue("manager")
    sequence = SequenceFactory()
    segment = SegmentFactory(owner=manager, target="lead", name="Hot leads")
    return Action(
        manager,
        sequence.get_absolute_url(),
        lambda: {"segment": segment.pk},
        lambda: SegmentEnrolment.objects.filter(sequence=sequence).count(),
        action=reverse("leads:sequence_enrol_segment", args=[sequence.pk]),
    )


@case("ticket")
def _ticket(request):
    contact = ContactFactory()
    return Action(
        request.getfixturevalue("agent"),
        reverse("support:ticket_create"),
        lambda: {
            "subject": "Printer on fire",
            "description": "Customer called",
            "contact": contact.pk,
            "channel": "phone",
            "priority": "normal",
        },
        lambda: Ticket.objects.filter(subject="Printer on fire").count(),
    )


@case("expansion deal")
def _expansion(request):
    rep = request.getfixturevalue("rep")
    account = AccountFactory(owner=rep)
    recommendation = RecommendationFactory(account=account)
    return Action(
        rep,
        reverse("retention:upsell"),
        dict,
        lambda: Opportunity.objects.filter(account=account).count(),
        action=reverse("retention:recommendation_take", args=[recommendation.pk]),
    )


@case("churn")
def _churn(request):
    rep = request.getfixturevalue("rep")
    account = AccountFactory(owner=rep)
    today = timezone.localdate()
    return Action(
        rep,
        reverse("retention:churn_record", args=[account.pk]),
        lambda: {"date": (today - dt.timedelta(days=1)).isoformat(), "reason": "price"},
        lambda: ChurnEvent.objects.filter(account=account).count(),
    )


@case("webhook test event")
def _webhook_test_event(request):
    from crm.models import WebhookDelivery
    from tests.factories.crm import WebhookEndpointFactory

    admin = request.getfixturevalue("admin")
    endpoint = WebhookEndpointFactory()
    return Action(
        admin,
        endpoint.get_absolute_url(),
        dict,
        lambda: WebhookDelivery.objects.filter(endpoint=endpoint).count(),
        action=reverse("webhook_test", args=[endpoint.pk]),
    )


@case("webhook replay")
def _webhook_replay(request):
    from crm.models import WebhookDelivery
    from tests.factories.crm import WebhookDeliveryFactory

    admin = request.getfixturevalue("admin")
    delivery = WebhookDeliveryFactory(state="failed")
    return Action(
        admin,
        delivery.endpoint.get_absolute_url(),
        dict,
        lambda: WebhookDelivery.objects.filter(replay_of=delivery).count(),
        action=reverse("webhook_replay", args=[delivery.endpoint_id, delivery.pk]),
    )
