"""Every URL that takes a record's id answers 404 to a user who may not see that record (or,
for URLs that change it, may not change it): GET and POST, full page and HTMX request alike,
so a record's existence is never disclosed by a 403 or a 200.

The table below has a row for every URL pattern with an integer kwarg (``<int:pk>``,
``<int:account_pk>``…) found by walking the URL resolver; ``test_every_pk_url_has_a_row``
fails when a new one is added without a row, so no URL joins the site unguarded unnoticed.

Each row names the record it makes, who requests it and why they may not reach it, the
methods, and a *control*: a user who may reach the same record, whose same request must not
answer 404 (so each 404 comes from the visibility rule, not from a broken URL or a missing row).
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

from crm.choices import OutboxStatus, Role, TabularImportStatus
from crm.models import AccountDuplicate, ContactDuplicate, CustomField, ExchangeRate
from crm.services.api_tokens import api_token_create
from crm.services.trash import trash_delete
from crm.views import people as people_views
from leads.choices import ImportStatus, SegmentEnrolmentStatus
from retention.services import nps as nps_services
from sales import services as sales_services
from tests.factories.compose import EmailTemplateFactory
from tests.factories.crm import (
    AccountFactory,
    ContactFactory,
    MeetingFactory,
    OutboundEmailFactory,
    SavedViewFactory,
    TabularImportJobFactory,
    TaskFactory,
    TeamFactory,
    UserFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)
from tests.factories.email_campaigns import EmailCampaignFactory, EmailVariantFactory
from tests.factories.leads import (
    CampaignFactory,
    ImportJobFactory,
    LeadFactory,
    SegmentEnrolmentFactory,
    SequenceFactory,
)
from tests.factories.retention import (
    ChurnEventFactory,
    RecommendationFactory,
    SubscriptionFactory,
)
from tests.factories.sales import (
    OnboardingPlanFactory,
    OpportunityFactory,
    OrderFactory,
    ProductFactory,
    pipeline_named,
    stage_named,
)
from tests.factories.segments import SegmentFactory
from tests.factories.support import (
    ArticleCategoryFactory,
    ArticleFactory,
    AttachmentFactory,
    CannedReplyFactory,
    QueueFactory,
    TicketFactory,
)

# URL namespaces that are not the application's: Django admin guards its own pages (staff only).
EXCLUDED_NAMESPACES = {"admin"}

# Int-kwarg URLs that are deliberately not guarded by record visibility, with the reason.
# Public links (CSAT and NPS surveys, unsubscribe, email tracking, referral codes) take signed
# tokens or codes as <str:…> kwargs, never a record's id, so the walk below never collects them;
# an int-kwarg URL that must stay public would be listed here.
NOT_PK_GUARDED: dict[str, str] = {
    # allauth's pages of one security key ask for the password again first, for any id alike
    # (so a guess discloses nothing), then look the key up among the signed-in user's own: 404
    # for anyone else's (tests/crm/test_webauthn.py).
    "mfa_edit_webauthn": "allauth: reauthentication, then the user's own keys only",
    "mfa_remove_webauthn": "allauth: reauthentication, then the user's own keys only",
}


# The URL walk ---------------------------------------------------------------------------------


def pk_url_patterns(resolver=None, namespace="", converters=None):
    """``{name: route}`` of every URL pattern (namespaces included) with an integer kwarg,
    outside ``EXCLUDED_NAMESPACES``. Unnamed patterns are keyed by their route."""
    resolver = resolver or get_resolver()
    found = {}
    for pattern in resolver.url_patterns:
        pattern_converters = {**(converters or {}), **pattern.pattern.converters}
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                if pattern.namespace in EXCLUDED_NAMESPACES:
                    continue
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            for name, route in pk_url_patterns(pattern, inner, pattern_converters).items():
                found[name] = str(pattern.pattern) + route
        elif isinstance(pattern, URLPattern) and any(
            isinstance(c, IntConverter) for c in pattern_converters.values()
        ):
            route = str(pattern.pattern)
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            found[name or route] = route
    return found


def _rule_of(user):
    from crm.automation.services import rule_create

    return rule_create(
        user=user,
        data={
            "name": "Welcome new leads",
            "entity": "lead",
            "trigger": "created",
            "conditions": {"op": "and", "children": []},
            "actions": [{"kind": "add_note", "text": "Welcome"}],
        },
    )


# Who acts -------------------------------------------------------------------------------------


class World:
    """The users of every row: conftest's ``rep``, ``rep2``, ``agent``, ``manager`` (of the
    "Sales" team: rep and rep2) and ``admin``, and a team the manager does not manage."""

    def __init__(self, rep, rep2, agent, manager, admin):
        self.rep, self.rep2, self.agent, self.manager, self.admin = rep, rep2, agent, manager, admin
        self.agent2 = UserFactory(username="agent2", roles=[Role.SUPPORT_AGENT])
        self.outsider = UserFactory(username="outsider", roles=[Role.SALES_REP])
        self.other_manager = UserFactory(username="other_manager", roles=[Role.MANAGER])
        TeamFactory(name="Elsewhere", members=[self.outsider], managers=[self.other_manager])
        self.nobody = UserFactory(username="nobody")  # signed in, holds no role

    # Records the rows share.

    def account(self, owner):
        return AccountFactory(owner=owner)

    def contact(self, owner):
        return ContactFactory(owner=owner)  # of an account of theirs

    def contact_pair(self, owner):
        """A review-queue pair of two of ``owner``'s contacts (the same name, one email)."""
        from crm.services.customers import contact_create

        ContactFactory(owner=owner, first_name="Ada", last_name="Pairwise", email="", phone="")
        contact_create(user=owner, first_name="Ada", last_name="Pairwise", email="a@p.example")
        return ContactDuplicate.objects.get(other__owner=owner)

    def account_pair(self, owner):
        """A review-queue pair of two of ``owner``'s accounts (the same name, one domain)."""
        from crm.services.customers import account_create

        AccountFactory(owner=owner, name="Pairwise Ltd", domain="")
        account_create(user=owner, name="Pairwise", domain="pairwise.example")
        return AccountDuplicate.objects.get(other__owner=owner)

    def ticket(self, account_owner, **kwargs):
        """A ticket of an account of ``account_owner``'s, in no queue and assigned to no one."""
        return TicketFactory(contact=self.contact(account_owner), **kwargs)

    def lead_merge(self, owner):
        """A merge of two of ``owner``'s leads (what its undo page is about)."""
        from leads.services.merge import lead_merge

        keep = LeadFactory(owner=owner)
        lead_merge(keep=keep, merge=LeadFactory(owner=owner), user=owner)
        return keep.merges_kept.get()

    def ticket_merge(self, account_owner):
        """A merge of two tickets of ``account_owner``'s accounts, done by an agent."""
        from support.services.tickets import ticket_merge

        kept = self.ticket(account_owner)
        ticket_merge(source=self.ticket(account_owner), target=kept, user=self.agent)
        return kept.merges_kept.get()

    def contact_merge(self, owner):
        """A merge of two of ``owner``'s contacts (what its undo is about)."""
        from crm.services.customer_merges import contact_merge

        return contact_merge(keep=self.contact(owner), merge=self.contact(owner), user=owner)

    def account_merge(self, owner):
        from crm.services.customer_merges import account_merge

        return account_merge(keep=self.account(owner), merge=self.account(owner), user=owner)

    def deal(self, owner, **kwargs):
        return OpportunityFactory(owner=owner, **kwargs)

    def line_item(self, owner):
        deal = self.deal(owner)
        product = ProductFactory()
        return sales_services.line_item_add(opportunity=deal, user=owner, product=product)

    def quote(self, owner):
        deal = self.line_item(owner).opportunity
        return sales_services.quote_create(opportunity=deal, user=owner)

    def onboarding_task(self, owner):
        plan = OnboardingPlanFactory(opportunity=self.deal(owner, stage=stage_named("Closed won")))
        task = TaskFactory(
            assignee=owner, content_type=ContentType.objects.get_for_model(plan), object_id=plan.pk
        )
        return plan, task

    def email_campaign(self, created_by):
        campaign = EmailCampaignFactory(created_by=created_by)
        EmailVariantFactory(campaign=campaign)
        return campaign

    def restore_target(self, obj, **changes):
        """The restore URL's args and form for the change ``changes`` made to ``obj``."""
        type(obj).objects.filter(pk=obj.pk).update(**changes)
        event = obj.history_events.filter(pgh_label="update").latest("pgh_id")
        label = obj._meta.label_lower
        return target(label, obj.pk, event=event.pk, field=next(iter(changes)))

    def advocate(self, owner):
        return nps_services.advocate_candidate(contact=self.contact(owner))


def _notification_for(user) -> int:
    from crm.models import Notification
    from crm.services.notifications import notify

    notify(recipient=user, kind="assigned", verb="A lead for you", dedupe_key="visibility")
    return Notification.objects.get(recipient=user, dedupe_key="visibility").pk


def _meeting_on_lead(owner):
    return MeetingFactory(organizer=owner, about=LeadFactory(owner=owner))


def _mail_on_lead(owner) -> int:
    """An email shown only on a lead of ``owner``'s."""
    from django.utils import timezone

    from crm.models import MailLink, MailMessage, MailThread

    lead = LeadFactory(owner=owner)
    mail = MailMessage.objects.create(
        message_id=f"<visibility.{lead.pk}@lead.example>",
        thread=MailThread.objects.create(root_message_id=f"<visibility.{lead.pk}@lead.example>"),
        direction="in",
        from_email=lead.email,
        sent_at=timezone.now(),
    )
    MailLink.objects.create(
        message=mail,
        content_type=ContentType.objects.get_for_model(lead),
        object_id=lead.pk,
        sent_at=mail.sent_at,
    )
    return mail.pk


def _delivery_args(delivery) -> tuple[int, int]:
    return delivery.endpoint_id, delivery.pk


@dataclass(frozen=True)
class Target:
    """What a row's ``make`` returns: the URL's args, the query string and the POST data."""

    args: tuple
    query: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


def _scheduled_email(sender):
    from datetime import timedelta

    from django.utils import timezone

    from crm.services.compose import email_compose

    deal = OpportunityFactory(owner=sender)
    return email_compose(
        user=sender,
        kind="deal",
        record=deal,
        to_email="buyer@example.com",
        subject="Next week",
        body="Talk soon.",
        send_at=timezone.now() + timedelta(days=1),
    )


def target(*args, query=None, **data):
    return Target(args, query or {}, data)


@dataclass(frozen=True)
class Row:
    """One URL and one rule it enforces (a URL may have a row per rule: advocate_detail has
    one for reading and one for changing)."""

    url: str  # the URL's name, with its namespace
    actor: str  # a World attribute: who requests
    make: Callable[[World], Target]  # makes the record (with factories); the URL's args
    methods: tuple  # "GET" for pages, "POST" for actions; each is also sent as an HTMX request
    control: str  # a World attribute: who may reach the record (their request is not a 404)
    why: str  # why ``actor`` must not reach it


GET, POST, BOTH = ("GET",), ("POST",), ("GET", "POST")
FUTURE = "2031-01-01T10:00"


TABLE = [
    # crm: the user's own API tokens ----------------------------------------------------------
    Row(
        "api_token_revoke",
        "rep",
        lambda w: target(
            api_token_create(user=w.rep2, name="script", scope="write", days=30).token.pk
        ),
        POST,
        "rep2",
        "a token is its owner's alone (even an admin revokes another's in Django admin)",
    ),
    # crm: notifications (each user's own, whatever their role) ---------------------------
    Row(
        "notification_open",
        "admin",
        lambda w: target(_notification_for(w.rep2)),
        GET,
        "rep2",
        "a notification is its recipient's alone, even for an admin",
    ),
    Row(
        "notification_read",
        "manager",
        lambda w: target(_notification_for(w.rep2)),
        POST,
        "rep2",
        "a notification is its recipient's alone, even for their manager",
    ),
    # crm: email on records (seen through a record the user may see) --------------------------
    Row(
        "mail_message_detail",
        "rep",
        lambda w: target(_mail_on_lead(w.rep2)),
        GET,
        "rep2",
        "an email shown only on another rep's lead",
    ),
    # crm: the trash (each user's own deletions and records; managers their teams'; admins all)
    Row(
        "trash_restore",
        "rep",
        lambda w: target(trash_delete(obj=w.account(w.rep2), user=w.rep2).pk),
        POST,
        "rep2",
        "what another rep deleted, of theirs",
    ),
    Row(
        "trash_restore",
        "manager",
        lambda w: target(trash_delete(obj=w.account(w.outsider), user=w.outsider).pk),
        POST,
        "other_manager",
        "what a member of another team deleted",
    ),
    Row(
        "trash_delete_forever",
        "rep2",
        lambda w: target(trash_delete(obj=w.account(w.rep2), user=w.rep2).pk),
        POST,
        "admin",
        "only admins delete from the trash for good, even what the user deleted",
    ),
    # crm: meetings (organizer, guests who are users, whoever sees the record they are about)
    Row(
        "meeting_detail",
        "rep",
        lambda w: target(_meeting_on_lead(w.rep2).pk),
        GET,
        "rep2",
        "another rep's meeting about their lead",
    ),
    Row(
        "meeting_edit",
        "rep",
        lambda w: target(
            _meeting_on_lead(w.rep2).pk, title="Mine now", starts_at=FUTURE, duration=30
        ),
        BOTH,
        "rep2",
        "another rep's meeting about their lead",
    ),
    Row(
        "meeting_edit",
        "rep",
        lambda w: target(MeetingFactory(organizer=w.rep2, about=w.contact(w.rep2)).pk),
        BOTH,
        "manager",
        "a meeting on a contact everyone reads is its organizer's (and their managers') to change",
    ),
    Row(
        "meeting_cancel",
        "manager",
        lambda w: target(_meeting_on_lead(w.outsider).pk),
        POST,
        "other_manager",
        "a meeting of a team the manager does not manage",
    ),
    Row(
        "meeting_create",
        "rep",
        lambda w: target("leads.lead", LeadFactory(owner=w.rep2).pk, title="Sneaky"),
        BOTH,
        "rep2",
        "scheduling about another rep's lead",
    ),
    Row(
        "meeting_create",
        "agent",
        lambda w: target("sales.opportunity", w.deal(w.rep).pk, title="Sneaky"),
        BOTH,
        "rep",
        "agents see no deals",
    ),
    # crm: accounts and contacts (every role reads them, owners change them) ----------------
    Row(
        "account_detail",
        "nobody",
        lambda w: target(w.account(w.rep).pk),
        GET,
        "agent",
        "a user without a role sees no account",
    ),
    Row(
        "account_edit",
        "agent",
        lambda w: target(w.account(w.rep).pk, name="Hijacked", lifecycle_stage="prospect"),
        BOTH,
        "rep",
        "agents read accounts, they do not change them",
    ),
    Row(
        "account_delete",
        "rep",
        lambda w: target(w.account(w.rep2).pk),
        BOTH,
        "rep2",
        "a rep changes only the accounts they own",
    ),
    Row(
        "contact_detail",
        "nobody",
        lambda w: target(w.contact(w.rep).pk),
        GET,
        "agent",
        "a user without a role sees no contact",
    ),
    Row(
        "contact_edit",
        "manager",
        lambda w: target(w.contact(w.outsider).pk, last_name="Hijacked"),
        BOTH,
        "other_manager",
        "a manager changes only the contacts of the teams they manage",
    ),
    Row(
        "contact_merge",
        "rep",
        lambda w: target(w.contact(w.rep2).pk, query={"with": w.contact(w.rep2).pk}),
        BOTH,
        "rep2",
        "a rep merges only contacts they own",
    ),
    Row(
        "contact_merge_undo",
        "rep",
        lambda w: target(w.contact_merge(w.rep2).pk),
        POST,
        "rep2",
        "a merge of another rep's contacts",
    ),
    Row(
        "account_merge",
        "agent",
        lambda w: target(w.account(w.rep).pk, query={"with": w.account(w.rep).pk}),
        BOTH,
        "rep",
        "agents read accounts, they do not merge them",
    ),
    Row(
        "account_merge_undo",
        "manager",
        lambda w: target(w.account_merge(w.outsider).pk),
        POST,
        "other_manager",
        "a merge of accounts of a team the manager does not manage",
    ),
    Row(
        "contact_delete",
        "agent",
        lambda w: target(w.contact(w.rep).pk),
        BOTH,
        "rep",
        "agents read contacts, they do not change them",
    ),
    # crm: the review queues of likely duplicates (who may change one of the two answers) ---
    Row(
        "contact_duplicate_dismiss",
        "rep",
        lambda w: target(w.contact_pair(w.rep2).pk),
        POST,
        "rep2",
        "a rep answers “not a duplicate” only for pairs with a contact of theirs",
    ),
    Row(
        "contact_duplicate_dismiss",
        "nobody",
        lambda w: target(w.contact_pair(w.rep).pk),
        POST,
        "rep",
        "a user without a role sees no contact",
    ),
    Row(
        "account_duplicate_dismiss",
        "agent",
        lambda w: target(w.account_pair(w.rep).pk),
        POST,
        "rep",
        "agents read accounts, they do not change them",
    ),
    # crm: tasks and timelines ---------------------------------------------------------------
    Row(
        "task_edit",
        "rep",
        lambda w: target(TaskFactory(assignee=w.rep2).pk, title="Mine now", due_at=FUTURE),
        BOTH,
        "rep2",
        "another rep's task",
    ),
    Row(
        "task_toggle",
        "manager",
        lambda w: target(TaskFactory(assignee=w.outsider).pk),
        POST,
        "other_manager",
        "a task of a team the manager does not manage",
    ),
    Row(
        "activity_create",
        "rep",
        lambda w: target(
            "leads.lead",
            LeadFactory(owner=w.rep2).pk,
            **{"activity-kind": "call", "activity-summary": "Called"},
        ),
        POST,
        "rep2",
        "the timeline of another rep's lead",
    ),
    Row(
        "task_create",
        "agent",
        lambda w: target(
            "sales.opportunity",
            w.deal(w.rep).pk,
            **{"task-title": "Call back", "task-due_at": FUTURE},
        ),
        POST,
        "rep",
        "agents see no deals",
    ),
    Row(
        "activity_create",
        "rep",
        lambda w: target(
            "support.ticket",
            w.ticket(w.rep).pk,
            **{"activity-kind": "note", "activity-summary": "Read-only"},
        ),
        POST,
        "agent",
        "a rep reads the tickets of accounts they own; writing to a timeline needs change rights",
    ),
    Row(
        "task_create",
        "agent",
        lambda w: target(
            "crm.account",
            w.account(w.rep).pk,
            **{"task-title": "Call back", "task-due_at": FUTURE},
        ),
        POST,
        "rep",
        "agents read accounts, they do not add tasks to them",
    ),
    Row(
        "timeline_more",
        "rep",
        lambda w: target("support.ticket", w.ticket(w.rep2).pk),
        GET,
        "rep2",
        "a rep sees only the tickets of accounts they own",
    ),
    # crm: a person's data ---------------------------------------------------------------------
    Row(
        "person_data_export",
        "rep",
        lambda w: target("crm.contact", w.contact(w.rep2).pk),
        GET,
        "rep2",
        "a rep reads every contact but exports only the people they may change",
    ),
    Row(
        "person_data_export",
        "agent",
        lambda w: target("leads.lead", LeadFactory(owner=w.rep).pk),
        GET,
        "rep",
        "agents see no leads",
    ),
    Row(
        "person_erase",
        "manager",
        lambda w: target("crm.contact", w.contact(w.rep).pk),
        BOTH,
        "admin",
        "only admins erase a person",
    ),
    Row(
        "person_erase",
        "rep",
        lambda w: target("leads.lead", LeadFactory(owner=w.rep).pk),
        BOTH,
        "admin",
        "only admins erase a person, even the lead's owner",
    ),
    # crm: field history ---------------------------------------------------------------------
    Row(
        "record_history",
        "rep",
        lambda w: target("sales.opportunity", w.deal(w.rep2).pk),
        GET,
        "rep2",
        "another rep's deal and its history",
    ),
    Row(
        "record_history",
        "agent",
        lambda w: target("leads.lead", LeadFactory(owner=w.rep).pk),
        GET,
        "rep",
        "agents see no leads",
    ),
    Row(
        "record_history",
        "rep",
        lambda w: target("support.ticket", w.ticket(w.rep2).pk),
        GET,
        "agent",
        "a rep sees only the tickets of accounts they own",
    ),
    Row(
        "record_restore",
        "agent",
        lambda w: w.restore_target(w.account(w.rep), name="Renamed"),
        POST,
        "rep",
        "agents read accounts, they do not change them (nor put their fields back)",
    ),
    Row(
        "record_restore",
        "rep",
        lambda w: w.restore_target(w.deal(w.rep2), next_step="Changed"),
        POST,
        "rep2",
        "another rep's deal",
    ),
    # crm: the operators' page ----------------------------------------------------------------
    Row(
        "work_retry",
        "manager",
        lambda w: target("outbox", OutboundEmailFactory(status=OutboxStatus.FAILED).pk),
        POST,
        "admin",
        "only admins look after background work",
    ),
    # crm: people, teams (admins only; everyone else gets 404, even for their own team) ------
    Row(
        "person_detail",
        "manager",
        lambda w: target(w.rep.pk),
        GET,
        "admin",
        "only admins see the People pages, even of their team's members",
    ),
    Row(
        "person_access",
        "manager",
        lambda w: target(w.rep.pk, roles=["Sales rep"], _state=people_views._access_state(w.rep)),
        POST,
        "admin",
        "only admins give roles and teams",
    ),
    Row(
        "person_deactivate",
        "rep",
        lambda w: target(w.rep2.pk),
        POST,
        "admin",
        "only admins deactivate users",
    ),
    Row(
        "person_reactivate",
        "agent",
        lambda w: target(UserFactory(username="gone", is_active=False).pk),
        POST,
        "admin",
        "only admins reactivate users",
    ),
    Row(
        "person_mfa_reset",
        "manager",
        lambda w: target(w.rep.pk),
        POST,
        "admin",
        "only admins reset a second factor",
    ),
    Row(
        "person_unlock",
        "manager",
        lambda w: target(w.rep.pk),
        POST,
        "admin",
        "only admins clear a lockout",
    ),
    Row(
        "person_invitation_resend",
        "manager",
        lambda w: target(w.rep.pk),
        POST,
        "admin",
        "only admins send invitations",
    ),
    Row(
        "team_edit",
        "manager",
        lambda w: target(w.manager.managed_teams.get().pk, name="Mine"),
        BOTH,
        "admin",
        "only admins edit teams, even the one a manager manages",
    ),
    # crm: webhooks (admins only) -------------------------------------------------------------
    *(
        Row(
            name,
            actor,
            lambda w: target(WebhookEndpointFactory().pk),
            methods,
            "admin",
            "only admins manage webhook endpoints",
        )
        for name, methods in [
            ("webhook_detail", GET),
            ("webhook_edit", BOTH),
            ("webhook_delete", BOTH),
            ("webhook_rotate", POST),
            ("webhook_test", POST),
            ("webhook_enable", POST),
        ]
        for actor in ("manager", "rep")
    ),
    Row(
        "webhook_delivery",
        "manager",
        lambda w: target(*_delivery_args(WebhookDeliveryFactory(state="delivered"))),
        GET,
        "admin",
        "only admins read webhook deliveries",
    ),
    Row(
        "webhook_replay",
        "agent",
        lambda w: target(*_delivery_args(WebhookDeliveryFactory(state="failed"))),
        POST,
        "admin",
        "only admins replay webhook deliveries",
    ),
    # crm: exchange rates (managers and admins) ---------------------------------------------
    *(
        Row(
            "exchange_rate_delete",
            actor,
            lambda w: target(
                ExchangeRate.objects.create(
                    currency="USD", valid_from=datetime.date(2026, 1, 1), rate="0.9"
                ).pk
            ),
            POST,
            "manager",
            "only managers and admins change exchange rates",
        )
        for actor in ("rep", "agent")
    ),
    # crm: custom fields (admins) -----------------------------------------------------------
    *(
        Row(
            url,
            actor,
            lambda w: target(
                CustomField.objects.create(
                    entity="account", key="tier", label="Tier", kind="text"
                ).pk
            ),
            methods,
            "admin",
            "only admins define custom fields",
        )
        for url, methods in (
            ("custom_field_edit", BOTH),
            ("custom_field_archive", POST),
            ("custom_field_delete", BOTH),
        )
        for actor in ("rep", "manager")
    ),
    # crm: email templates and writing email from a record ----------------------------------
    Row(
        "email_template_edit",
        "rep",
        lambda w: target(
            EmailTemplateFactory(owner=w.rep2).pk, name="Mine now", subject="s", body="b"
        ),
        BOTH,
        "rep2",
        "another rep's private template",
    ),
    Row(
        "email_template_archive",
        "rep",
        lambda w: target(EmailTemplateFactory(owner=w.rep2, sharing="all").pk),
        POST,
        "rep2",
        "a template shared with everyone is still changed only by its owner",
    ),
    Row(
        "compose",
        "rep",
        lambda w: target("deal", w.deal(w.rep2).pk, to_email="x@example.com", subject="s"),
        BOTH,
        "rep2",
        "a rep writes only from deals they see",
    ),
    Row(
        "compose",
        "rep",
        lambda w: target("lead", LeadFactory(owner=w.rep2).pk),
        GET,
        "rep2",
        "a rep writes only to leads they see",
    ),
    Row(
        "compose_template",
        "agent",
        lambda w: target("deal", w.deal(w.rep).pk),
        GET,
        "rep",
        "agents see no deals",
    ),
    Row(
        "composed_email_cancel",
        "rep",
        lambda w: target(_scheduled_email(w.rep2).pk),
        POST,
        "rep2",
        "only its sender (and their managers) cancel an email",
    ),
    # crm: automations (managers of the rule's team, admins) -------------------------------------
    *(
        Row(
            name,
            actor,
            lambda w: target(_rule_of(w.manager).pk),
            methods,
            "manager",
            why,
        )
        for name, methods in [
            ("rule_detail", GET),
            ("rule_export", GET),
            ("rule_edit", BOTH),
            ("rule_toggle", POST),
            ("rule_delete", BOTH),
            ("rule_dry_run", POST),
        ]
        for actor, why in [
            ("rep", "reps build no rules"),
            ("other_manager", "another team's manager's rule"),
        ]
    ),
    # crm: segments --------------------------------------------------------------------------
    Row(
        "segment_edit",
        "rep",
        lambda w: target(SegmentFactory(owner=w.rep2, shared=False).pk, name="Mine now"),
        BOTH,
        "rep2",
        "another rep's private segment",
    ),
    Row(
        "segment_export",
        "manager",
        lambda w: target(SegmentFactory(owner=w.outsider, shared=False).pk),
        GET,
        "other_manager",
        "a private segment of a team the manager does not manage",
    ),
    Row(
        "segment_delete",
        "rep",
        lambda w: target(SegmentFactory(owner=w.rep2, shared=True).pk),
        BOTH,
        "rep2",
        "another rep's shared segment is read only to them",
    ),
    # crm: saved views of the lists (the owner's alone to change; shared ones read by the team)
    Row(
        "saved_view_edit",
        "rep2",
        lambda w: target(SavedViewFactory(owner=w.rep, shared_with_team=True).pk, name="Mine"),
        BOTH,
        "rep",
        "a teammate's shared view is theirs to apply, not to change",
    ),
    Row(
        "saved_view_update",
        "outsider",
        lambda w: target(SavedViewFactory(owner=w.rep).pk),
        POST,
        "rep",
        "another user's private view",
    ),
    Row(
        "saved_view_delete",
        "admin",
        lambda w: target(SavedViewFactory(owner=w.rep, shared_with_team=True).pk),
        POST,
        "rep",
        "even an admin does not delete another user's view",
    ),
    # leads ----------------------------------------------------------------------------------
    Row(
        "leads:lead_detail",
        "rep",
        lambda w: target(LeadFactory(owner=w.rep2).pk),
        GET,
        "rep2",
        "another rep's lead",
    ),
    Row(
        "leads:lead_edit",
        "agent",
        lambda w: target(LeadFactory(owner=w.rep).pk, last_name="Hijacked"),
        BOTH,
        "rep",
        "agents see no leads",
    ),
    Row(
        "leads:lead_delete",
        "manager",
        lambda w: target(LeadFactory(owner=w.outsider).pk),
        BOTH,
        "other_manager",
        "a lead of a team the manager does not manage",
    ),
    Row(
        "leads:lead_status",
        "rep",
        lambda w: target(LeadFactory(owner=w.rep2).pk, status="contacted"),
        POST,
        "rep2",
        "another rep's lead",
    ),
    Row(
        "leads:lead_convert",
        "rep",
        lambda w: target(LeadFactory(owner=w.rep2).pk, opportunity_name="Stolen"),
        BOTH,
        "rep2",
        "another rep's lead",
    ),
    Row(
        "leads:lead_reassign",
        "rep",
        lambda w: target(LeadFactory(owner=w.rep).pk, owner=w.rep2.pk),
        POST,
        "manager",
        "a rep sees their own lead but only managers reassign it",
    ),
    Row(
        "leads:lead_not_duplicate",
        "rep2",
        lambda w: target(LeadFactory(owner=w.rep, possible_duplicate=True).pk),
        POST,
        "rep",
        "a rep answers only for the leads they may change",
    ),
    Row(
        "leads:lead_replied",
        "agent",
        lambda w: target(LeadFactory(owner=w.rep).pk),
        POST,
        "rep",
        "agents see no leads",
    ),
    Row(
        "leads:lead_enrol",
        "rep",
        lambda w: target(LeadFactory(owner=w.rep2).pk, sequence=SequenceFactory().pk),
        POST,
        "rep2",
        "another rep's lead",
    ),
    Row(
        "leads:lead_merge",
        "rep",
        lambda w: target(
            LeadFactory(owner=w.rep2).pk, query={"with": LeadFactory(owner=w.rep2).pk}
        ),
        BOTH,
        "rep2",
        "another rep's leads",
    ),
    Row(
        "leads:lead_merge_undo",
        "rep",
        lambda w: target(w.lead_merge(w.rep2).pk),
        BOTH,
        "rep2",
        "a merge of another rep's leads",
    ),
    Row(
        "leads:lead_merge_into_contact",
        "manager",
        lambda w: target(LeadFactory(owner=w.outsider).pk, contact=w.contact(w.outsider).pk),
        BOTH,
        "other_manager",
        "a lead of a team the manager does not manage",
    ),
    Row(
        "leads:campaign_detail",
        "nobody",
        lambda w: target(CampaignFactory().pk),
        GET,
        "rep",
        "a user without a role sees no campaign",
    ),
    Row(
        "leads:import_detail",
        "manager",
        lambda w: target(ImportJobFactory(created_by=w.other_manager).pk, col_0="first_name"),
        BOTH,
        "other_manager",
        "another manager's import",
    ),
    Row(
        "leads:import_progress",
        "rep",
        lambda w: target(ImportJobFactory(created_by=w.manager).pk),
        GET,
        "manager",
        "imports are for managers and admins",
    ),
    Row(
        "leads:import_resume",
        "manager",
        lambda w: target(
            ImportJobFactory(created_by=w.other_manager, status=ImportStatus.FAILED).pk
        ),
        POST,
        "other_manager",
        "another manager's import",
    ),
    Row(
        "leads:import_errors",
        "agent",
        lambda w: target(ImportJobFactory(created_by=w.manager, status=ImportStatus.DONE).pk),
        GET,
        "manager",
        "imports are for managers and admins",
    ),
    Row(
        "tabular_import_detail",
        "rep",
        lambda w: target(TabularImportJobFactory(created_by=w.rep2).pk, col_0="name"),
        BOTH,
        "rep2",
        "another rep's record import",
    ),
    Row(
        "tabular_import_progress",
        "manager",
        lambda w: target(TabularImportJobFactory(created_by=w.outsider).pk),
        GET,
        "other_manager",
        "a record import of a team the manager does not manage",
    ),
    Row(
        "tabular_import_resume",
        "rep",
        lambda w: target(
            TabularImportJobFactory(created_by=w.rep2, status=TabularImportStatus.FAILED).pk
        ),
        POST,
        "rep2",
        "another rep's record import",
    ),
    Row(
        "tabular_import_errors",
        "agent",
        lambda w: target(
            TabularImportJobFactory(created_by=w.rep, status=TabularImportStatus.DONE).pk
        ),
        GET,
        "rep",
        "an agent neither sees a rep's import nor imports accounts",
    ),
    Row(
        "leads:sequence_detail",
        "agent",
        lambda w: target(SequenceFactory().pk),
        GET,
        "rep",
        "agents see no sequences",
    ),
    Row(
        "leads:segment_enrolment_detail",
        "rep",
        lambda w: target(SegmentEnrolmentFactory(created_by=w.rep2).pk),
        GET,
        "rep2",
        "another rep's segment enrolment",
    ),
    Row(
        "leads:segment_enrolment_resume",
        "manager",
        lambda w: target(
            SegmentEnrolmentFactory(created_by=w.outsider, status=SegmentEnrolmentStatus.FAILED).pk
        ),
        POST,
        "other_manager",
        "a segment enrolment of a team the manager does not manage",
    ),
    Row(
        "leads:sequence_enrol_segment",
        "agent",
        lambda w: target(
            SequenceFactory().pk,
            segment=SegmentFactory(owner=w.rep, target="lead", shared=True).pk,
        ),
        POST,
        "rep",
        "agents see no sequences",
    ),
    # leads: email campaigns (managers and admins) -------------------------------------------
    Row(
        "leads:email_campaign_detail",
        "manager",
        lambda w: target(w.email_campaign(w.other_manager).pk),
        GET,
        "other_manager",
        "another team's email campaign",
    ),
    Row(
        "leads:email_campaign_edit",
        "rep",
        lambda w: target(w.email_campaign(w.manager).pk, name="Hijacked"),
        BOTH,
        "manager",
        "reps run no email campaigns",
    ),
    Row(
        "leads:email_campaign_schedule",
        "manager",
        lambda w: target(w.email_campaign(w.other_manager).pk),
        POST,
        "other_manager",
        "another team's email campaign",
    ),
    Row(
        "leads:email_campaign_unschedule",
        "agent",
        lambda w: target(w.email_campaign(w.manager).pk),
        POST,
        "manager",
        "agents run no email campaigns",
    ),
    Row(
        "leads:email_campaign_cancel",
        "rep",
        lambda w: target(w.email_campaign(w.manager).pk),
        POST,
        "manager",
        "reps run no email campaigns",
    ),
    Row(
        "leads:campaign_roi",
        "rep",
        lambda w: target(CampaignFactory().pk),
        GET,
        "manager",
        "revenue credited to campaigns is for those who run them",
    ),
    # sales: deals ---------------------------------------------------------------------------
    Row(
        "sales:opportunity_detail",
        "agent",
        lambda w: target(w.deal(w.rep).pk),
        GET,
        "rep",
        "agents see no deals",
    ),
    Row(
        "sales:opportunity_edit",
        "rep",
        lambda w: target(w.deal(w.rep2).pk, name="Hijacked"),
        BOTH,
        "rep2",
        "another rep's deal",
    ),
    Row(
        "sales:opportunity_move",
        "manager",
        lambda w: target(w.deal(w.outsider).pk, stage=stage_named("Proposal").pk),
        POST,
        "other_manager",
        "a deal of a team the manager does not manage",
    ),
    Row(
        "sales:opportunity_win",
        "rep",
        lambda w: target(w.deal(w.rep2).pk),
        POST,
        "rep2",
        "another rep's deal",
    ),
    Row(
        "sales:opportunity_lose",
        "agent",
        lambda w: target(w.deal(w.rep).pk, reason="price"),
        BOTH,
        "rep",
        "agents see no deals",
    ),
    Row(
        "sales:line_item_add",
        "rep",
        lambda w: target(w.deal(w.rep2).pk, product=ProductFactory().pk, quantity=1),
        POST,
        "rep2",
        "another rep's deal",
    ),
    Row(
        "sales:opportunity_amount_from_lines",
        "rep",
        lambda w: target(w.line_item(w.rep2).opportunity_id),
        POST,
        "rep2",
        "another rep's deal",
    ),
    Row(
        "sales:quote_create",
        "manager",
        lambda w: target(w.line_item(w.outsider).opportunity_id),
        POST,
        "other_manager",
        "a deal of a team the manager does not manage",
    ),
    Row(
        "sales:line_item_update",
        "rep",
        lambda w: target(w.line_item(w.rep2).pk, quantity=3, unit_price="1", discount_percent=0),
        POST,
        "rep2",
        "a line of another rep's deal",
    ),
    Row(
        "sales:line_item_remove",
        "agent",
        lambda w: target(w.line_item(w.rep).pk),
        POST,
        "rep",
        "agents see no deals",
    ),
    Row(
        "sales:board",
        "agent",
        lambda w: target(pipeline_named().pk),
        GET,
        "rep",
        "agents see no deals",
    ),
    Row(
        "sales:quote_detail",
        "rep",
        lambda w: target(w.quote(w.rep2).pk),
        GET,
        "rep2",
        "a quote of another rep's deal",
    ),
    Row(
        "sales:quote_pdf",
        "rep",
        lambda w: target(w.quote(w.rep2).pk),
        GET,
        "rep2",
        "the PDF of a quote of another rep's deal",
    ),
    Row(
        "sales:quote_send",
        "manager",
        lambda w: target(w.quote(w.outsider).pk, to_email="x@example.com", subject="Offer"),
        BOTH,
        "other_manager",
        "a quote of a team the manager does not manage",
    ),
    Row(
        "sales:quote_status",
        "manager",
        lambda w: target(w.quote(w.outsider).pk, status="sent"),
        POST,
        "other_manager",
        "a quote of a team the manager does not manage",
    ),
    Row(
        "sales:order_detail",
        "agent",
        lambda w: target(OrderFactory(account=w.account(w.rep)).pk),
        GET,
        "rep",
        "agents see no amounts",
    ),
    Row(
        "sales:onboarding_detail",
        "rep",
        lambda w: target(w.onboarding_task(w.rep2)[0].pk),
        GET,
        "rep2",
        "the onboarding of another rep's deal",
    ),
    Row(
        "sales:onboarding_item_done",
        "rep",
        lambda w: target(*(obj.pk for obj in w.onboarding_task(w.rep2))),
        POST,
        "rep2",
        "the onboarding of another rep's deal",
    ),
    Row(
        "sales:opportunity_delete",
        "rep",
        lambda w: target(w.deal(w.rep).pk),
        BOTH,
        "manager",
        "deals are deleted by managers and admins, not by their owners alone",
    ),
    Row(
        "sales:opportunity_delete",
        "manager",
        lambda w: target(w.deal(w.outsider).pk),
        BOTH,
        "other_manager",
        "a deal of a team the manager does not manage",
    ),
    # support --------------------------------------------------------------------------------
    Row(
        "support:ticket_delete",
        "agent",
        lambda w: target(w.ticket(w.rep).pk),
        BOTH,
        "manager",
        "tickets are deleted by managers and admins, not by agents",
    ),
    Row(
        "support:ticket_delete",
        "other_manager",
        lambda w: target(w.ticket(w.rep).pk),
        BOTH,
        "admin",
        "a ticket of another team's account",
    ),
    Row(
        "support:ticket_detail",
        "rep",
        lambda w: target(w.ticket(w.rep2).pk),
        GET,
        "rep2",
        "a rep sees only the tickets of accounts they own",
    ),
    Row(
        "support:ticket_reply",
        "rep",
        lambda w: target(w.ticket(w.rep).pk, body="We are on it."),
        POST,
        "agent",
        "a rep reads the tickets of their accounts but does not answer them",
    ),
    Row(
        "support:ticket_note",
        "manager",
        lambda w: target(w.ticket(w.outsider).pk, body="Internal"),
        POST,
        "agent",
        "a ticket outside the manager's teams, queues and accounts",
    ),
    Row(
        "support:ticket_status",
        "rep",
        lambda w: target(w.ticket(w.rep).pk, status="pending"),
        POST,
        "agent",
        "a rep reads the tickets of their accounts but does not change them",
    ),
    Row(
        "support:ticket_fields",
        "rep",
        lambda w: target(w.ticket(w.rep).pk),
        BOTH,
        "agent",
        "a rep reads the tickets of their accounts but does not change their fields",
    ),
    Row(
        "support:ticket_assign",
        "manager",
        lambda w: target(w.ticket(w.outsider).pk, assignee=w.agent.pk),
        POST,
        "agent",
        "a ticket outside the manager's teams, queues and accounts",
    ),
    Row(
        "support:ticket_priority",
        "rep",
        lambda w: target(w.ticket(w.rep).pk, priority="urgent"),
        POST,
        "agent",
        "a rep reads the tickets of their accounts but does not change them",
    ),
    Row(
        "support:ticket_merge",
        "rep",
        lambda w: target(w.ticket(w.rep).pk, target=w.ticket(w.rep).reference),
        POST,
        "agent",
        "a rep reads the tickets of their accounts but does not merge them",
    ),
    Row(
        "support:ticket_merge_undo",
        "rep",
        lambda w: target(w.ticket_merge(w.rep).pk),
        BOTH,
        "agent",
        "a rep reads the tickets of their accounts but does not undo their merges",
    ),
    Row(
        "support:canned_preview",
        "rep",
        lambda w: target(w.ticket(w.rep).pk, query={"canned": CannedReplyFactory().pk}),
        GET,
        "agent",
        "a rep reads the tickets of their accounts but does not answer them",
    ),
    Row(
        "support:canned_edit",
        "agent",
        lambda w: target(CannedReplyFactory().pk, title="Hijacked", body="x", is_active="on"),
        BOTH,
        "manager",
        "agents use canned replies, managers write them",
    ),
    Row(
        "support:canned_delete",
        "rep",
        lambda w: target(CannedReplyFactory().pk),
        BOTH,
        "manager",
        "canned replies are desk settings only managers and admins change",
    ),
    Row(
        "support:article_detail",
        "rep",
        lambda w: target(ArticleFactory(status="draft").pk),
        GET,
        "agent",
        "reps read published articles only; drafts are the desk's",
    ),
    Row(
        "support:article_edit",
        "rep",
        lambda w: target(ArticleFactory().pk, title="Hijacked", body="x", visibility="public"),
        BOTH,
        "agent",
        "reps read the knowledge base, the desk writes it",
    ),
    Row(
        "support:article_status",
        "rep",
        lambda w: target(ArticleFactory().pk, status="archived"),
        POST,
        "agent",
        "reps read the knowledge base, the desk publishes and archives",
    ),
    Row(
        "support:article_category_edit",
        "agent",
        lambda w: target(ArticleCategoryFactory().pk, name="Hijacked", order=1),
        BOTH,
        "manager",
        "the knowledge base's categories are desk settings only managers and admins change",
    ),
    Row(
        "support:queue_assignment",
        "agent",
        lambda w: target(QueueFactory().pk, assignment_mode="manual"),
        POST,
        "manager",
        "queues are desk settings only managers and admins change",
    ),
    Row(
        "support:queue_shift",
        "agent",
        lambda w: target(QueueFactory(agents=[w.agent2]).pk, on_shift="1"),
        POST,
        "agent2",
        "an agent goes on shift only in queues they work",
    ),
    Row(
        "support:attachment_download",
        "rep",
        lambda w: target(AttachmentFactory(ticket=w.ticket(w.rep2)).pk),
        GET,
        "rep2",
        "a file on a ticket of another rep's account",
    ),
    # retention ------------------------------------------------------------------------------
    Row(
        "retention:subscription_detail",
        "agent",
        lambda w: target(SubscriptionFactory(account=w.account(w.rep)).pk),
        GET,
        "rep",
        "agents see no MRR",
    ),
    Row(
        "retention:subscription_edit",
        "rep",
        lambda w: target(SubscriptionFactory(account=w.account(w.rep2)).pk, plan="Hijacked"),
        BOTH,
        "rep2",
        "another rep's subscription",
    ),
    Row(
        "retention:subscription_status",
        "manager",
        lambda w: target(SubscriptionFactory(account=w.account(w.outsider)).pk, status="cancelled"),
        POST,
        "other_manager",
        "a subscription of a team the manager does not manage",
    ),
    Row(
        "retention:subscription_change",
        "rep",
        lambda w: target(SubscriptionFactory(account=w.account(w.rep2)).pk, mrr="600.00", seats=12),
        POST,
        "rep2",
        "another rep's subscription",
    ),
    Row(
        "retention:churn_record",
        "rep",
        lambda w: target(w.account(w.rep2).pk, reason="price", date="2026-01-01"),
        BOTH,
        "rep2",
        "a rep reads another rep's account but does not record its churn",
    ),
    Row(
        "retention:churn_winback",
        "agent",
        lambda w: target(ChurnEventFactory(account=w.account(w.rep)).pk),
        POST,
        "rep",
        "agents see no churned MRR",
    ),
    Row(
        "retention:recommendation_take",
        "rep",
        lambda w: target(RecommendationFactory(account=w.account(w.rep2)).pk),
        POST,
        "rep2",
        "an upsell for another rep's account",
    ),
    Row(
        "retention:recommendation_dismiss",
        "agent",
        lambda w: target(RecommendationFactory(account=w.account(w.rep)).pk),
        POST,
        "rep",
        "agents see no upsell",
    ),
    Row(
        "retention:advocate_detail",
        "nobody",
        lambda w: target(w.advocate(w.rep).pk, action="reference", is_reference="1"),
        BOTH,
        "rep",
        "a user without a role sees no advocate",
    ),
    Row(
        "retention:advocate_detail",
        "rep2",
        lambda w: target(w.advocate(w.rep).pk, action="reference", is_reference="1"),
        POST,
        "rep",
        "another rep reads the advocate (contacts are shared) but does not change it",
    ),
]


def row_id(row):
    return f"{row.url}-{row.actor}"


@pytest.fixture
def world(rep, rep2, agent, manager, admin, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # import files and attachments
    return World(rep, rep2, agent, manager, admin)


def _request(client, method, url, query, data, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        return client.get(url, query, headers=headers)
    return client.post(f"{url}?{urlencode(query)}" if query else url, data, headers=headers)


@pytest.mark.parametrize("row", TABLE, ids=row_id)
def test_records_outside_visibility_answer_404(client, world, row):
    # Given the row's record and a user who may not see (or change) it
    goal = row.make(world)
    url = reverse(row.url, args=goal.args)

    # When that user requests it, page and HTMX alike, then every answer is a 404
    client.force_login(getattr(world, row.actor))
    answers = {
        f"{'HTMX ' if htmx else ''}{method}": _request(
            client, method, url, goal.query, goal.data, htmx
        ).status_code
        for method in row.methods
        for htmx in (False, True)
    }
    assert set(answers.values()) == {404}, f"{row.actor} ({row.why}) on {url}: {answers}"

    # And the same request by a user who may reach it is no 404: the record and URL are real
    client.force_login(getattr(world, row.control))
    method = row.methods[0]
    status = _request(client, method, url, goal.query, goal.data, htmx=False).status_code
    assert status < 400, f"control {row.control} {method} {url} answered {status}"


def test_every_pk_url_has_a_row():
    collected = set(pk_url_patterns())
    covered = {row.url for row in TABLE}
    assert not covered & set(NOT_PK_GUARDED), "a URL is both guarded and exempt"
    missing = collected - covered - set(NOT_PK_GUARDED)
    assert not missing, f"pk URLs without a row in TABLE (add one): {sorted(missing)}"
    stale = (covered | set(NOT_PK_GUARDED)) - collected
    assert not stale, f"rows for URLs that no longer take a pk: {sorted(stale)}"
