"""Small registries that later stages fill from their ``apps.py``, so ``crm`` never imports them.

- ``search``: models that global search looks through, each scoped by ``visible_to(user)``.
- ``detail_panels``: extra panels on account and contact pages (open deals, tickets, health…).
- ``navigation``: the top navigation's entries, each in a menu named for a job (``NAV_GROUPS``),
  and the kinds of record the "new record" shortcut offers.
- ``home_widgets``: blocks on the role-aware home page.
- ``seed_steps``: the demo-data steps ``seed_demo`` runs, registered by dotted path so the seed
  code (``crm.seeding`` and each app's ``seed`` module) is imported only when seeding.
- ``work``: the kinds of durable background work the sweep wakes and operators look after.
- ``audit_actions``: the action codes of the security audit trail, with their labels.


- ``webhook_events``: the event types outbound webhooks report, each with its payload builder.


- ``api``: the REST API's resources (``/api/v1/<prefix>/``), each a viewset an app registers
  from its own ``api.py``; ``crm.api.urls`` builds one router from them.


- ``tabular``: the record kinds that import from and export to CSV and XLSX (``crm.tabular``).
- ``trash``: the record kinds whose deletion goes to the trash (``crm.services.trash``), each
  with who may delete one.
- ``retention_rules``: what personal data is let go after a set time (``crm.retention``), each
  rule registered by the app that owns the records.
- ``bulk``: the bulk actions of each list page (``crm.bulk``): change the owner, set a field,
  move to the trash, each row through its entity's service.
- ``personal_data``: what each app holds about a person (a lead or a contact), for the export
  of a person's data and their erasure (``crm.personal_data``).
- ``email_attachments``: the files an outbox message may carry, each made at send time from
  the kind and record named on the message row (``crm.services.outbox``).
- ``compose_targets``: the records an email can be written from (``/compose/<kind>/<pk>/``),
  each with who it goes to and the merge values its templates see; and the kinds of person
  whose consent decides whether an address may be written to and tracked.
- ``notification_kinds``: the kinds of in-app notification (the bell), each with its label;
  ``crm`` registers its own and each stage adds the ones it sends.
- ``meeting_subjects``: the record kinds a meeting can be scheduled from (account, contact,
  lead, deal), each with who is invited by default.
- ``mail_link_finders``, ``mail_reply_hooks``, ``inbound_mail_handlers``: what imported email
  (``crm.mail.imports``) is linked to, what a customer's reply sets off, and who else reads
  each imported message (calendar replies).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models

from crm.bulk import BulkRegistry
from crm.retention import RetentionRuleRegistry
from crm.tabular.kinds import TabularRegistry
from crm.text_search import text_search
from crm.work import WorkRegistry


@dataclass(frozen=True)
class SearchEntry:
    model: type[models.Model]
    label: str
    fields: tuple[str, ...]
    order_by: tuple[str, ...]
    select_related: tuple[str, ...] = ()
    describe: Callable[[models.Model], str] = str
    roles: frozenset[str] | None = None  # None: every role that can see the model


class SearchRegistry:
    def __init__(self):
        self._entries: dict[type[models.Model], SearchEntry] = {}

    def register(
        self, model, *, label, fields, order_by, select_related=(), describe=str, roles=None
    ):
        self._entries[model] = SearchEntry(
            model=model,
            label=label,
            fields=tuple(fields),
            order_by=tuple(order_by),
            select_related=tuple(select_related),
            describe=describe,
            roles=frozenset(roles) if roles else None,
        )

    def entries(self) -> list[SearchEntry]:
        return list(self._entries.values())

    def entry_for(self, model) -> SearchEntry:
        return self._entries[model]

    def search(self, *, user, query: str, limit: int = 10) -> list[tuple[SearchEntry, list]]:
        """Up to ``limit`` visible matches per registered model, in registration order."""
        results = []
        for entry in self._entries.values():
            if entry.roles is not None and not user.role_names.intersection(entry.roles):
                continue
            qs = entry.model.objects.visible_to(user)
            qs = text_search(qs, entry.fields, query, rank=True)
            if entry.select_related:
                qs = qs.select_related(*entry.select_related)
            # Best matches first where ranked (PostgreSQL): it also keeps the planner on the GIN
            # index instead of walking the sort index past a million non-matching rows.
            ordering = ("-search_rank", *entry.order_by)
            if "search_rank" not in qs.query.annotations:
                ordering = entry.order_by
            rows = list(qs.order_by(*ordering)[:limit])
            for row in rows:
                row.search_description = entry.describe(row)
            if rows:
                results.append((entry, rows))
        return results


@dataclass(frozen=True)
class Panel:
    """A block on a detail page: ``context(request, obj)`` returns the template's context, or None
    to hide the panel for this user.

    A panel that often has nothing to show says how to tell: ``probe(request)`` returns an
    expression about the record (``OuterRef("pk")``), true when there is something (usually an
    ``Exists``), or None when the panel does not apply to this user (``context`` decides then).
    A probe may be true of more than the panel shows (the rows whoever may see them) when that
    is cheaper to plan: ``context`` reads what the user sees.
    The page evaluates every panel's probe in one query; when a probe is false the panel takes
    ``empty(request, obj)`` (the context it would get with no rows; None hides it) instead of
    running its own queries.

    A panel that shows one small row can have its probe read the row itself (a subquery giving
    a JSON object, or NULL when there is none) and ``from_probe(request, obj, value)`` make the
    context of it: no query of its own. ``context`` remains for a page that does not probe."""

    title: str
    template: str
    context: Callable
    order: int = 100
    probe: Callable | None = None
    empty: Callable | None = None
    from_probe: Callable | None = None


class PanelRegistry:
    def __init__(self):
        self._panels: dict[type[models.Model], list[Panel]] = {}

    def register(self, model, panel: Panel):
        self._panels.setdefault(model, []).append(panel)
        self._panels[model].sort(key=lambda p: p.order)

    def for_model(self, model) -> list[Panel]:
        return list(self._panels.get(model, []))


@dataclass(frozen=True)
class HomeWidget:
    """A block on the home page; ``context(request)`` returns its context or None to hide it
    (``context(request, figures)`` for a block with ``figures``).
    For users holding one of ``focus`` roles it leads the page (what that role works on first);
    for the others it follows those. An ``aside`` block (recent activity) has the side column."""

    title: str
    template: str
    context: Callable
    order: int = 100
    focus: frozenset[str] = frozenset()
    url_name: str = ""  # the page the block's title links to ("see all")
    aside: bool = False
    # The block's dashboard-like numbers (counts and totals over many records): ``figures(request)``
    # computes them (None when the user may not see them), they are kept per user for
    # ``crm.views.home.HOME_FIGURES_SECONDS`` and passed on as ``context(request, figures)``.
    figures: Callable | None = None


@dataclass
class HomeRegistry:
    widgets: list[HomeWidget] = field(default_factory=list)

    def register(self, widget: HomeWidget):
        self.widgets.append(widget)
        self.widgets.sort(key=lambda w: w.order)


search = SearchRegistry()
detail_panels = PanelRegistry()
home_widgets = HomeRegistry()


class TimelineRegistry:
    """Models whose detail pages carry a timeline and tasks (logged to through one endpoint)."""

    def __init__(self):
        self._models: dict[str, type[models.Model]] = {}

    def register(self, model):
        self._models[model._meta.label_lower] = model

    def model_for(self, label: str):
        return self._models.get(label)

    def models(self) -> list[type[models.Model]]:
        return list(self._models.values())


timeline = TimelineRegistry()


@dataclass(frozen=True)
class NavGroup:
    """A menu of the top navigation, named for a job (selling, support...)."""

    key: str
    label: str


#: The navigation's menus, in the order they appear. Every entry belongs to one of them.
NAV_GROUPS = (
    NavGroup("sell", "Sell"),
    NavGroup("support", "Support"),
    NavGroup("customers", "Customers"),
    NavGroup("marketing", "Marketing"),
    NavGroup("insights", "Insights"),
    NavGroup("admin", "Admin"),
)
#: Where an entry registered without a known group lands, so it stays reachable; the
#: navigation tests fail while any entry sits there.
NAV_FALLBACK_GROUP = NavGroup("more", "More")


@dataclass(frozen=True)
class NavItem:
    """A link in the top navigation, inside the menu ``group`` (a ``NAV_GROUPS`` key), shown to
    users holding one of ``roles`` (None: any role)."""

    label: str
    url_name: str
    group: str
    order: int = 100
    roles: frozenset[str] | None = None


@dataclass(frozen=True)
class NewRecordItem:
    """A kind of record a user may create from anywhere (the "n" shortcut and its chooser):
    ``url_name`` opens the empty form; on the page of ``list_url_name`` (or below it) "n" opens
    that form directly."""

    label: str
    url_name: str
    list_url_name: str
    order: int = 100
    roles: frozenset[str] | None = None


class NavigationRegistry:
    def __init__(self):
        self._items: list[NavItem] = []
        self._new: list[NewRecordItem] = []
        #: Bumped by each registration, so menus built from the entries before it are not reused.
        self.version = 0

    def register(
        self, label: str, url_name: str, *, group: str = "", order: int = 100, roles=None
    ) -> None:
        """Adds an entry to the menu ``group`` (a ``NAV_GROUPS`` key; without one it lands in
        "More", which the navigation tests refuse)."""
        self._items.append(
            NavItem(label, url_name, group, order, frozenset(roles) if roles else None)
        )
        self._items.sort(key=lambda item: item.order)
        self.version += 1

    def register_new(
        self, label: str, url_name: str, *, list_url_name: str, order: int = 100, roles=None
    ) -> None:
        self._new.append(
            NewRecordItem(
                label, url_name, list_url_name, order, frozenset(roles) if roles else None
            )
        )
        self._new.sort(key=lambda item: item.order)
        self.version += 1

    def items(self) -> list[NavItem]:
        return list(self._items)

    def for_user(self, user) -> list[NavItem]:
        if not user.has_any_role:
            return []
        return [i for i in self._items if i.roles is None or user.role_names & i.roles]

    def groups_for(self, user) -> list[tuple[NavGroup, list[NavItem]]]:
        """The user's menus in ``NAV_GROUPS`` order, each with its entries; empty ones left out."""
        by_key: dict[str, list[NavItem]] = {}
        for item in self.for_user(user):
            by_key.setdefault(item.group, []).append(item)
        known = [(group, by_key.pop(group.key)) for group in NAV_GROUPS if group.key in by_key]
        stray = [item for items in by_key.values() for item in items]
        return known + ([(NAV_FALLBACK_GROUP, stray)] if stray else [])

    def new_for(self, user) -> list[NewRecordItem]:
        if not user.has_any_role:
            return []
        return [i for i in self._new if i.roles is None or user.role_names & i.roles]


navigation = NavigationRegistry()


@dataclass(frozen=True)
class SeedStep:
    name: str
    func: Callable | str  # ``func(ctx)``, or its dotted path ("leads.seed.seed")
    order: int = 100
    atomic: bool = True  # run in a transaction of its own (False: the step commits as it goes)

    def run(self, ctx):
        func = self.func
        if isinstance(func, str):
            from django.utils.module_loading import import_string

            func = import_string(func)
        return func(ctx)


class SeedRegistry:
    """The steps ``seed_demo`` runs, in ``(order, name)`` order."""

    def __init__(self):
        self._steps: dict[str, SeedStep] = {}

    def register(self, name: str, func: Callable | str, order: int = 100, *, atomic: bool = True):
        self._steps[name] = SeedStep(name=name, func=func, order=order, atomic=atomic)

    def unregister(self, name: str):
        self._steps.pop(name, None)

    def steps(self) -> list[SeedStep]:
        return sorted(self._steps.values(), key=lambda s: (s.order, s.name))


seed_steps = SeedRegistry()


# Kinds of durable work (``crm.work``): each app registers its rows' sweep, problems and retry.
work = WorkRegistry()


class AuditActionRegistry:
    """The action codes the security audit trail accepts (``crm.models.AuditEvent.action``),
    each with its label. ``crm`` registers ``crm.choices.AuditAction``; a later feature
    (exports, API tokens, data erasure, webhooks) registers its own codes in its ``apps.py``."""

    def __init__(self):
        self._labels: dict[str, str] = {}

    def register(self, code: str, label: str) -> None:
        if len(code) > 64:
            raise ValueError(f"audit action code too long: {code!r}")
        self._labels[code] = str(label)

    def register_choices(self, choices) -> None:
        for code, label in choices.choices:
            self.register(code, label)

    def is_known(self, code: str) -> bool:
        return code in self._labels

    def label(self, code: str) -> str:
        return self._labels.get(code, code)

    def choices(self) -> list[tuple[str, str]]:
        return sorted(self._labels.items(), key=lambda item: item[1].lower())


audit_actions = AuditActionRegistry()


@dataclass(frozen=True)
class HistoryEntry:
    """A record kind with a History page (README, "Field history").

    ``related``: (model, foreign key to this record) pairs whose history shows on this record's
    page too (a deal's line items and quotes). ``restore(obj=, user=, field=, value=)`` puts one
    field back through the record's own update service; ``restorable`` names the fields it
    takes (the edit form's)."""

    model: type[models.Model]
    related: tuple[tuple[type[models.Model], str], ...] = ()
    restore: Callable | None = None
    restorable: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


class HistoryRegistry:
    def __init__(self):
        self._entries: dict[str, HistoryEntry] = {}

    def register(self, model, *, related=(), restore=None, restorable=()):
        entry = HistoryEntry(model, tuple(related), restore, frozenset(restorable))
        self._entries[entry.label] = entry

    def entry_for(self, label: str) -> HistoryEntry | None:
        return self._entries.get(label)

    def entries(self) -> list[HistoryEntry]:
        return list(self._entries.values())


history = HistoryRegistry()


@dataclass(frozen=True)
class WebhookEvent:
    """A kind of event the CRM tells webhook endpoints about. ``payload(obj)`` (or its dotted
    path) builds the event's ``data`` from the record; ``fields`` names them for the manual."""

    type: str
    label: str
    description: str
    payload: Callable | str
    fields: tuple[str, ...] = ()

    def build(self, obj) -> dict:
        func = self.payload
        if isinstance(func, str):
            from django.utils.module_loading import import_string

            func = import_string(func)
        return func(obj)


class WebhookEventRegistry:
    """The event catalogue (``crm.webhooks.emit`` sends only registered types), filled by each
    app in its ``apps.py``, in the order shown to admins."""

    def __init__(self):
        self._events: dict[str, WebhookEvent] = {}

    def register(self, type: str, *, label: str, description: str, payload, fields=()):
        self._events[type] = WebhookEvent(type, label, description, payload, tuple(fields))

    def get(self, type: str) -> WebhookEvent | None:
        return self._events.get(type)

    def events(self) -> list[WebhookEvent]:
        return list(self._events.values())

    def choices(self) -> list[tuple[str, str]]:
        return [(e.type, f"{e.type} — {e.label}") for e in self._events.values()]


webhook_events = WebhookEventRegistry()


@dataclass(frozen=True)
class ApiResource:
    prefix: str
    viewset: type  # a view set class, or its dotted path (imported when the URLs are built)
    basename: str


class ApiRegistry:
    """The REST API's resources: each app registers its view sets (by dotted path, so nothing
    of DRF is imported before the URLs are built), in registration order."""

    def __init__(self):
        self._resources: dict[str, ApiResource] = {}

    def register(self, prefix: str, viewset, *, basename: str | None = None):
        self._resources[prefix] = ApiResource(prefix, viewset, basename or prefix.replace("/", "-"))

    def resources(self) -> list[ApiResource]:
        return list(self._resources.values())


api = ApiRegistry()


# Record kinds that import and export as files (``crm.tabular``): each app registers its own.
tabular = TabularRegistry()


@dataclass(frozen=True)
class TrashKind:
    """A record kind whose deletion goes to the trash. ``may_delete(user, obj)`` says whether
    ``user`` may delete ``obj`` (the Delete action is shown and taken only then); ``owner``
    names the field holding the user the trashed entry shows as its owner."""

    model: type[models.Model]
    label: str
    may_delete: Callable
    owner: str = "owner"

    @property
    def name(self) -> str:
        return self.model._meta.label_lower


class TrashRegistry:
    def __init__(self):
        self._kinds: dict[str, TrashKind] = {}

    def register(self, model, *, label: str, may_delete: Callable, owner: str = "owner"):
        kind = TrashKind(model, label, may_delete, owner)
        self._kinds[kind.name] = kind

    def get(self, name: str) -> TrashKind | None:
        return self._kinds.get(name)

    def for_model(self, model) -> TrashKind | None:
        return self._kinds.get(model._meta.label_lower)

    def kinds(self) -> list[TrashKind]:
        return list(self._kinds.values())

    def choices(self) -> list[tuple[str, str]]:
        return [(kind.name, kind.label) for kind in self._kinds.values()]


trash = TrashRegistry()
# Retention rules (``crm.retention``): leads and support register theirs.
retention_rules = RetentionRuleRegistry()


@dataclass(frozen=True)
class PersonalDataKind:
    """One kind of data an app holds about a person (README, "Personal data: export and
    erasure"). ``collect(person)`` returns the rows (dicts of plain values) the export shows;
    ``erase(person, erasure)`` anonymises or deletes them and returns how many rows it changed.
    ``models`` are the models whose rows it covers (a test fails when a model that references a
    lead or a contact, or has an email column, is covered by no kind). Erasure runs kinds in
    ``order``: records first (10), then what hangs off them (50), field history last (90), so
    history also loses the values the erasure itself just wrote."""

    name: str
    label: str
    collect: Callable
    erase: Callable | None
    models: tuple[type[models.Model], ...]
    order: int = 50


class PersonalDataRegistry:
    """Kinds of personal data, and how a person is found: ``matchers`` widen a ``Person`` (the
    lead a contact was converted from, every record with the same email address) until it
    stops growing. A table added later that can hold a person (a trash of deleted records
    keeping their fields, for one) registers a kind of its own: its ``erase`` deletes or
    scrubs the person's rows, and ``tests/crm/test_personal_data.py`` fails until it does."""

    def __init__(self):
        self._kinds: dict[str, PersonalDataKind] = {}
        self._matchers: list[Callable] = []
        self._subjects: dict[str, type[models.Model]] = {}

    def register(self, name, label, *, collect, erase=None, models=(), order=50):
        if name in self._kinds:
            raise ValueError(f"personal data kind {name!r} registered twice")
        self._kinds[name] = PersonalDataKind(name, str(label), collect, erase, tuple(models), order)

    def register_matcher(self, func: Callable) -> None:
        """``func(person) -> bool``: add to ``person`` the records it knows to be theirs; True
        when it added any."""
        self._matchers.append(func)

    def register_subject(self, model) -> None:
        """A record kind that is a person (export and erase pages start from it)."""
        self._subjects[model._meta.label_lower] = model

    def subject_model(self, label: str):
        return self._subjects.get(label)

    def subjects(self) -> list[type[models.Model]]:
        return list(self._subjects.values())

    def matchers(self) -> list[Callable]:
        return list(self._matchers)

    def kinds(self) -> list[PersonalDataKind]:
        return list(self._kinds.values())

    def kind(self, name: str) -> PersonalDataKind:
        return self._kinds[name]

    def covered_models(self) -> set[type[models.Model]]:
        return {model for kind in self._kinds.values() for model in kind.models}


personal_data = PersonalDataRegistry()


@dataclass(frozen=True)
class EmailAttachment:
    """A file the outbox attaches to a message when it hands it to the mail server."""

    filename: str
    content: bytes
    mimetype: str
    # Parameters of the part's Content-Type (a calendar invitation's ``method``: mail clients
    # offer Accept/Decline only when it is there).
    params: tuple[tuple[str, str], ...] = ()


class AttachmentGone(Exception):
    """The record an attachment is made from no longer exists: the message cannot be sent as
    it was meant to be, so the outbox fails it instead of retrying."""


class EmailAttachmentRegistry:
    """The kinds of file an outbox message may carry (a quote's PDF…), each with the function
    that makes the file from the ``ref`` stored on the message row. The row keeps only the
    kind and the ref, so a retry after a crashed worker makes the same file again."""

    def __init__(self):
        self._makers: dict[str, Callable[[dict], EmailAttachment]] = {}

    def register(self, kind: str, maker: Callable[[dict], EmailAttachment]) -> None:
        self._makers[kind] = maker

    def make(self, spec: dict) -> EmailAttachment:
        maker = self._makers.get(spec.get("kind", ""))
        if maker is None:
            raise AttachmentGone(f"No attachment of kind {spec.get('kind')!r}")
        return maker(spec.get("ref") or {})


email_attachments = EmailAttachmentRegistry()


class NotificationKindRegistry:
    """The kinds of notification a user can get and choose to receive by email."""

    def __init__(self):
        self._labels: dict[str, str] = {}

    def register(self, key: str, label: str) -> None:
        self._labels[key] = label

    def choices(self) -> list[tuple[str, str]]:
        return list(self._labels.items())

    def label(self, key: str) -> str:
        return self._labels.get(key, key)

    def __contains__(self, key) -> bool:
        return key in self._labels


notification_kinds = NotificationKindRegistry()
bulk = BulkRegistry()


@dataclass(frozen=True)
class Recipient:
    """An address offered in the To field of an email written from a record."""

    email: str
    name: str


@dataclass(frozen=True)
class ComposeTarget:
    """A record kind an email can be written from. ``recipients(record)`` lists the addresses
    offered (the first is the default To); ``merge(record)`` returns the merge groups its
    templates see (``{"contact": {...}, "account": {...}}``, plain strings; the ``user`` group
    is added by ``crm``)."""

    kind: str
    model: type[models.Model]
    label: str
    recipients: Callable
    merge: Callable


@dataclass(frozen=True)
class ComposePerson:
    """A kind of person an address may belong to (a contact, a lead): ``opted_out(qs)`` and
    ``trackable(qs)`` narrow a queryset of them to those who said no to email, and to those
    whose consent allows counting opens and clicks."""

    model: type[models.Model]
    opted_out: Callable
    trackable: Callable
    email_field: str = "email"


class ComposeRegistry:
    def __init__(self):
        self._targets: dict[str, ComposeTarget] = {}
        self._people: list[ComposePerson] = []

    def register(self, kind: str, model, *, label: str, recipients, merge) -> None:
        self._targets[kind] = ComposeTarget(kind, model, label, recipients, merge)

    def register_person(self, model, *, opted_out, trackable, email_field="email") -> None:
        self._people.append(ComposePerson(model, opted_out, trackable, email_field))

    def get(self, kind: str) -> ComposeTarget | None:
        return self._targets.get(kind)

    def kind_for(self, model) -> str:
        for target in self._targets.values():
            if target.model is model or isinstance(model, target.model):
                return target.kind
        return ""

    def targets(self) -> list[ComposeTarget]:
        return list(self._targets.values())

    def people(self) -> list[ComposePerson]:
        return list(self._people)


compose_targets = ComposeRegistry()


@dataclass(frozen=True)
class MeetingSubject:
    """A record kind meetings are scheduled from. ``invitees(obj)`` returns the people invited
    by default, as ``(email, name, contact_or_None)`` tuples (a lead's address, a deal's
    contact)."""

    model: type[models.Model]
    invitees: Callable

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


class MeetingSubjectRegistry:
    def __init__(self):
        self._subjects: dict[str, MeetingSubject] = {}

    def register(self, model, *, invitees: Callable = lambda obj: []) -> None:
        subject = MeetingSubject(model, invitees)
        self._subjects[subject.label] = subject

    def get(self, label: str) -> MeetingSubject | None:
        return self._subjects.get(label)

    def for_model(self, model) -> MeetingSubject | None:
        return self._subjects.get(model._meta.label_lower)

    def subjects(self) -> list[MeetingSubject]:
        return list(self._subjects.values())


meeting_subjects = MeetingSubjectRegistry()


class CallableRegistry:
    """An ordered list of callables an app adds to from its ``apps.py``."""

    def __init__(self):
        self._funcs: list[Callable] = []

    def register(self, func: Callable) -> Callable:
        if func not in self._funcs:
            self._funcs.append(func)
        return func

    def __iter__(self):
        return iter(list(self._funcs))


#: Records an imported email is linked to beyond the contacts and accounts of its addresses
#: (``crm.mail.imports``): ``finder(*, emails, contacts, accounts) -> list of records``, given
#: the counterparts' normalised addresses and the contacts and accounts they matched. Leads add
#: the leads of those addresses, sales the open deals of those contacts and accounts.
mail_link_finders = CallableRegistry()

#: Called once per record a newly imported email from a customer (inbound) is linked to:
#: ``hook(*, mail, record)`` with the stored ``crm.MailMessage``; leads marks a lead (or the
#: lead a contact was converted from) replied, which stops its sequences.
mail_reply_hooks = CallableRegistry()

#: Called for every imported, non-private message, inside the import, after storing:
#: ``handler(*, message: email.message.EmailMessage, mailbox)`` (``mailbox`` is the user's
#: ``crm.Mailbox``, or None for mail from the logging address). Calendar replies (text/calendar
#: METHOD:REPLY parts) are handled this way. A handler is called once per stored message, and
#: also for a message not stored because it matched no record or is among colleagues only (so
#: possibly again when that message is seen again): it must be idempotent. Never for private
#: messages or mail of an excluded domain. Each runs in a savepoint; one that raises is logged
#: and leaves the import standing.
inbound_mail_handlers = CallableRegistry()
