import copy
import functools

import django_filters
from django import forms
from django.db.models import Q
from django.utils.choices import BaseChoiceIterator
from django.utils.translation import get_language
from django_countries import countries

from crm import catalog
from crm.choices import Industry, LifecycleStage, Role, SignInOutcome
from crm.custom_fields.filters import CustomFieldFilterMixin
from crm.models import (
    Account,
    AccountDuplicate,
    AuditEvent,
    Contact,
    ContactDuplicate,
    Meeting,
    Notification,
    SignInEvent,
    Task,
    Team,
    TrashedRecord,
    User,
)
from crm.models.users import users_with_role
from crm.quality import BANDS, GOOD_FROM, POOR_BELOW
from crm.selectors import is_record_key
from crm.text_search import text_search
from crm.widgets import FastSelect, read_choices_plainly, widget_renderer


class NormalChoices(BaseChoiceIterator):
    """Choices already as ``(value, label)`` pairs, iterated as they are: Django normalizes
    the list a callable returns on every pass over it (each of 250 countries, twice a page)."""

    def __init__(self, choices):
        self.choices = choices

    def __iter__(self):
        return iter(self.choices)

    def __len__(self):
        return len(self.choices)


@functools.cache
def _country_choices(language: str) -> NormalChoices:
    return NormalChoices([(code, str(name)) for code, name in countries])


def country_choices():
    """Countries by name, built once per language (django-countries sorts on every pass)."""
    return _country_choices(get_language() or "en")


@catalog.named("crm.people")
def people(request):
    """Users who can own records (anyone with a role), for owner filters."""
    return users_with_role()


class BuiltFields(dict):
    """The fields of a filter form class, made for its one form: django-filter builds a new
    form class, with new fields, for each FilterSet, so the form takes them as they are
    instead of deep-copying each (with its widget and choices) as Django does for a form class
    whose fields serve many forms."""

    def __deepcopy__(self, memo):
        return dict(self)


class ClassFilters(dict):
    """A FilterSet class's filters (``base_filters``), copied for each FilterSet with what each
    keeps of its own (its form field, its parent, its method bound to it) and their settings
    shared: django-filter deep-copies each filter with everything it was given (choices,
    widgets, querysets with their queries), some 370 objects for the lead list's eleven filters
    on every page. What a filter was given is never changed in place: a form field copies its
    widget, and a model choice field takes its own copy of the queryset."""

    def __deepcopy__(self, memo):
        return {name: _filter_copy(filter_) for name, filter_ in self.items()}


def _filter_copy(filter_):
    copied = copy.copy(filter_)
    copied.extra = dict(filter_.extra)
    copied.__dict__.pop("_field", None)
    if "filter" in filter_.__dict__:  # a method's filter is bound to the filter it belongs to
        copied.method = filter_.method
    return copied


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with a free-text ``q`` over the model's search fields."""

    search_fields: tuple[str, ...] = ()
    q = django_filters.CharFilter(method="filter_text", label="Search")

    def __init__(self, *args, **kwargs):
        cls = type(self)
        if type(cls.__dict__.get("base_filters")) is not ClassFilters:
            cls.base_filters = ClassFilters(cls.base_filters)
        super().__init__(*args, **kwargs)
        self.form.renderer = widget_renderer
        user = getattr(self.request, "user", None)
        for name, field in self.form.fields.items():
            # A filter whose options are the same for everyone names them (``catalog.named``).
            source = getattr(self.filters.get(name), "queryset", None)
            read_choices_plainly(field, user, name=getattr(source, "catalog_name", None))
            if type(field.widget) is forms.Select:
                field.widget = FastSelect(attrs=field.widget.attrs, choices=field.widget.choices)

    def get_form_class(self):
        form_class = super().get_form_class()
        form_class.base_fields = BuiltFields(form_class.base_fields)
        return form_class

    def filter_text(self, queryset, name, value):
        return text_search(queryset, self.search_fields, value, rank=True)


def quality_filter():
    """The "Quality" filter of the lead, contact and account lists (``crm.quality`` bands)."""
    return django_filters.ChoiceFilter(
        choices=BANDS, method="filter_quality", empty_label="Any quality", label="Quality"
    )


class QualityFilterMixin:
    def filter_quality(self, queryset, name, value):
        if value == "poor":
            return queryset.filter(quality__lt=POOR_BELOW)
        if value == "fair":
            return queryset.filter(quality__gte=POOR_BELOW, quality__lt=GOOD_FROM)
        if value == "good":
            return queryset.filter(quality__gte=GOOD_FROM)
        return queryset


class DateRangeFilter(django_filters.DateFromToRangeFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget",
            django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
        )
        super().__init__(*args, **kwargs)


class AccountFilterSet(CustomFieldFilterMixin, QualityFilterMixin, SearchFilterSet):
    search_fields = ("name", "domain")
    owner = django_filters.ModelChoiceFilter(queryset=people, empty_label="Any owner")
    lifecycle_stage = django_filters.ChoiceFilter(
        choices=LifecycleStage.choices, empty_label="Any stage"
    )
    industry = django_filters.ChoiceFilter(choices=Industry.choices, empty_label="Any industry")
    country = django_filters.ChoiceFilter(choices=country_choices, empty_label="Any country")
    created = DateRangeFilter(field_name="created_at", label="Created between")
    quality = quality_filter()

    class Meta:
        model = Account
        fields = ["q", "owner", "lifecycle_stage", "industry", "country", "created", "quality"]


class ContactFilterSet(CustomFieldFilterMixin, QualityFilterMixin, SearchFilterSet):
    search_fields = ("first_name", "last_name", "email", "title")
    owner = django_filters.ModelChoiceFilter(queryset=people, empty_label="Any owner")
    account = django_filters.NumberFilter(field_name="account_id", widget=forms.HiddenInput)
    lifecycle_stage = django_filters.ChoiceFilter(
        field_name="account__lifecycle_stage",
        choices=LifecycleStage.choices,
        empty_label="Any stage",
        label="Account stage",
    )
    industry = django_filters.ChoiceFilter(
        field_name="account__industry", choices=Industry.choices, empty_label="Any industry"
    )
    country = django_filters.ChoiceFilter(
        field_name="account__country", choices=country_choices, empty_label="Any country"
    )
    created = DateRangeFilter(field_name="created_at", label="Created between")
    quality = quality_filter()

    class Meta:
        model = Contact
        fields = [
            "q",
            "owner",
            "account",
            "lifecycle_stage",
            "industry",
            "country",
            "created",
            "quality",
        ]


class TaskFilterSet(SearchFilterSet):
    search_fields = ("title",)
    state = django_filters.ChoiceFilter(
        choices=[("open", "Open"), ("overdue", "Overdue"), ("done", "Done")],
        method="filter_state",
        empty_label="Any state",
        label="State",
    )
    assignee = django_filters.ModelChoiceFilter(queryset=people, empty_label="Anyone")
    due = DateRangeFilter(field_name="due_at", label="Due between")
    created = DateRangeFilter(field_name="created_at", label="Created between")

    class Meta:
        model = Task
        fields = ["q", "state", "assignee", "due", "created"]

    def filter_state(self, queryset, name, value):
        from django.utils import timezone

        if value == "open":
            return queryset.filter(done_at__isnull=True)
        if value == "overdue":
            return queryset.filter(done_at__isnull=True, due_at__lt=timezone.now())
        if value == "done":
            return queryset.filter(done_at__isnull=False)
        return queryset


class PersonFilterSet(django_filters.FilterSet):
    """The People page's filter bar: text over name, username and email; role; team; active."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    role = django_filters.ChoiceFilter(
        choices=Role.choices, method="filter_role", empty_label="Any role", label="Role"
    )
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), method="filter_team", empty_label="Any team", label="Team"
    )
    active = django_filters.ChoiceFilter(
        choices=[("yes", "Active"), ("no", "Deactivated")],
        method="filter_active",
        empty_label="Active or not",
        label="Active",
    )

    class Meta:
        model = User
        fields = ["q", "role", "team", "active"]

    def filter_text(self, queryset, name, value):
        query = Q()
        for word in value.split()[:8]:
            query &= (
                Q(username__icontains=word)
                | Q(email__icontains=word)
                | Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
            )
        return queryset.filter(query)

    def filter_role(self, queryset, name, value):
        if value == Role.ADMIN:
            return queryset.filter(Q(groups__name=value) | Q(is_superuser=True)).distinct()
        return queryset.filter(groups__name=value).distinct()

    def filter_team(self, queryset, name, value):
        return queryset.filter(Q(teams=value) | Q(managed_teams=value)).distinct()

    def filter_active(self, queryset, name, value):
        return queryset.filter(is_active=value == "yes")


def audit_action_choices():
    from crm.registry import audit_actions

    return audit_actions.choices()


def everyone(request):
    return User.objects.all()


class AuditEventFilterSet(django_filters.FilterSet):
    """The Audit page's filter bar (and its CSV export's): action, who did it, to whom, when."""

    action = django_filters.ChoiceFilter(
        choices=audit_action_choices, empty_label="Any action", label="Action"
    )
    actor = django_filters.ModelChoiceFilter(
        queryset=everyone, empty_label="Anyone", label="Done by"
    )
    target_user = django_filters.ModelChoiceFilter(
        queryset=everyone, empty_label="Anyone", label="About user"
    )
    when = DateRangeFilter(field_name="at", label="Between")
    ip = django_filters.CharFilter(
        field_name="ip", lookup_expr="startswith", label="Address", max_length=45
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_user", "when", "ip"]


def trash_kind_choices():
    from crm import registry

    return registry.trash.choices()


class TrashedRecordFilterSet(django_filters.FilterSet):
    """The Trash page's filter bar: what kind of record, and its name."""

    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    kind = django_filters.ChoiceFilter(
        choices=trash_kind_choices, empty_label="Any kind", label="Kind"
    )

    class Meta:
        model = TrashedRecord
        fields = ["q", "kind"]


class SignInEventFilterSet(django_filters.FilterSet):
    """The Sign-ins tab's filter bar (and its CSV export's): whose account, how it ended, when,
    from which address (or the start of one: ``10.0.`` finds a whole network)."""

    user = django_filters.ModelChoiceFilter(queryset=everyone, empty_label="Anyone", label="User")
    outcome = django_filters.ChoiceFilter(
        choices=SignInOutcome.choices, empty_label="Any outcome", label="Outcome"
    )
    when = DateRangeFilter(field_name="at", label="Between")
    ip = django_filters.CharFilter(
        field_name="ip", lookup_expr="startswith", label="Address", max_length=45
    )

    class Meta:
        model = SignInEvent
        fields = ["user", "outcome", "when", "ip"]


class DuplicatePairFilterSet(django_filters.FilterSet):
    """The filters of a duplicates review queue: whose records, and one record's pairs."""

    first = ""  # the pair's first record: "contact" or "account"
    owner = django_filters.ModelChoiceFilter(
        queryset=people, empty_label="Any owner", method="filter_owner", label="Owner"
    )
    record = django_filters.CharFilter(
        method="filter_record", label="Record #", widget=forms.HiddenInput
    )

    def filter_owner(self, queryset, name, value):
        return queryset.filter(Q(**{f"{self.first}__owner": value}) | Q(other__owner=value))

    def filter_record(self, queryset, name, value):
        if not is_record_key(value):
            return queryset.none()
        return queryset.filter(Q(**{f"{self.first}_id": int(value)}) | Q(other_id=int(value)))


class ContactDuplicateFilterSet(DuplicatePairFilterSet):
    first = "contact"

    class Meta:
        model = ContactDuplicate
        fields = ["owner", "record"]


class AccountDuplicateFilterSet(DuplicatePairFilterSet):
    first = "account"

    class Meta:
        model = AccountDuplicate
        fields = ["owner", "record"]


def notification_kind_choices():
    from crm import registry

    return registry.notification_kinds.choices()


class NotificationFilterSet(django_filters.FilterSet):
    """The Notifications page's filter bar: unread or all, and of which kind."""

    state = django_filters.ChoiceFilter(
        choices=[("unread", "Unread"), ("read", "Read")],
        empty_label="Read and unread",
        label="Shown",
        method="filter_state",
    )
    kind = django_filters.ChoiceFilter(
        choices=notification_kind_choices, empty_label="Any kind", label="Kind"
    )

    class Meta:
        model = Notification
        fields = ["state", "kind"]

    def filter_state(self, queryset, name, value):
        if value == "unread":
            return queryset.filter(read_at__isnull=True)
        if value == "read":
            return queryset.filter(read_at__isnull=False)
        return queryset


class MeetingFilterSet(SearchFilterSet):
    """ "My meetings": upcoming ones unless the user asks for past or cancelled ones."""

    search_fields = ("title",)
    when = django_filters.ChoiceFilter(
        choices=[("upcoming", "Upcoming"), ("past", "Past"), ("cancelled", "Cancelled")],
        method="filter_when",
        empty_label="Upcoming",
        label="When",
    )

    class Meta:
        model = Meeting
        fields = ["q", "when"]

    def filter_when(self, queryset, name, value):
        from django.utils import timezone

        if value == "past":
            return queryset.scheduled().filter(ends_at__lt=timezone.now())
        if value == "cancelled":
            return queryset.filter(status="cancelled")
        return queryset.upcoming()
