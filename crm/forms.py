from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.choices import ActivityKind, Role
from crm.currencies import company_currency, currency_choices, normalize_currency
from crm.custom_fields.forms import CustomFieldsFormMixin
from crm.models import (
    Account,
    Activity,
    Contact,
    EmailTemplate,
    Task,
    Team,
    User,
    WebhookEndpoint,
)
from crm.models.users import users_with_role
from crm.normalize import normalize_domain, normalize_email, normalize_phone
from crm.services.currencies import clean_rate
from crm.services.customers import ACCOUNT_FIELDS
from crm.widgets import AutocompleteSelect


def assignable_users(user):
    """Whom ``user`` may make the owner of a record: anyone for admins, their teams for
    managers, themselves otherwise."""
    people = users_with_role()
    if user.is_admin_role:
        return people
    if user.is_manager:
        return people.filter(pk__in=user.managed_user_ids)
    return User.objects.filter(pk=user.pk)


class CurrencyChoiceField(forms.ChoiceField):
    """A currency picked from the ISO 4217 list; a typed code (API, scripts) may be lower case."""

    def to_python(self, value):
        return super().to_python(value).strip().upper()

    def validate(self, value):
        if value and not self.valid_value(value):
            normalize_currency(value)  # says why: not an active ISO 4217 code
        super().validate(value)


class OwnedModelForm(forms.ModelForm):
    """A form for a record with an owner; the owner choices follow the user's role."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if "owner" in self.fields:
            self.fields["owner"].queryset = assignable_users(user)
            self.fields["owner"].required = False
            if self.instance.pk is None:
                self.fields["owner"].initial = user.pk
        self.helper = FormHelper()
        self.helper.form_tag = False


class AccountForm(CustomFieldsFormMixin, OwnedModelForm):
    class Meta:
        model = Account
        fields = list(ACCOUNT_FIELDS)
        widgets = {"billing_address": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_fields(self.user)
        self.helper.layout = Layout(
            "name",
            Row(Column("domain"), Column("industry")),
            Row(Column("size_band"), Column("country")),
            Row(Column("owner"), Column("lifecycle_stage")),
            Row(Column("billing_address"), Column("currency")),
            self.custom_fields_layout(),
        )
        self.fields["currency"] = CurrencyChoiceField(
            label="Preferred currency",
            required=False,
            choices=[("", f"The company currency ({company_currency()})"), *currency_choices()],
            help_text=Account._meta.get_field("currency").help_text,
        )

    def clean_domain(self):
        domain = normalize_domain(self.cleaned_data["domain"])
        if domain and "." not in domain:
            raise ValidationError("Enter a website domain such as example.com.")
        return domain


class ContactForm(CustomFieldsFormMixin, OwnedModelForm):
    class Meta:
        model = Contact
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "account",
            "owner",
            "email_consent",
            "marketing_consent",
        ]
        widgets = {"account": AutocompleteSelect("account_autocomplete")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = Account.objects.visible_to(self.user)
        self.add_custom_fields(self.user)
        self.helper.layout = Layout(
            Row(Column("first_name"), Column("last_name")),
            Row(Column("email"), Column("phone")),
            Row(Column("title"), Column("account")),
            "owner",
            Row(Column("email_consent"), Column("marketing_consent")),
            self.custom_fields_layout(),
        )

    def clean_email(self):
        return normalize_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("account")
        region = str(account.country) if account and account.country else None
        try:
            cleaned["phone"] = normalize_phone(cleaned.get("phone", ""), region)
        except ValidationError as exc:
            self.add_error("phone", exc)
        return cleaned


class ActivityForm(forms.ModelForm):
    """Logging a call, email, meeting or note on a record's timeline."""

    class Meta:
        model = Activity
        fields = ["kind", "summary", "body", "occurred_at"]
        widgets = {
            "occurred_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "body": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"body": "Details", "occurred_at": "When"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            c for c in ActivityKind.choices if c[0] != ActivityKind.SYSTEM
        ]
        self.fields["occurred_at"].required = False
        self.fields["occurred_at"].help_text = "Leave empty for now."

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at") or timezone.now()
        if value > timezone.now() + timezone.timedelta(days=1):
            raise ValidationError("An activity that happened cannot be in the future.")
        return value


class TaskForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["title", "due_at", "assignee", "notes"]
        widgets = {
            "due_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "notes": forms.Textarea(attrs={"rows": 2}),
            "assignee": AutocompleteSelect("user_autocomplete"),
        }
        labels = {"due_at": "Due"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = users_with_role()
        self.fields["assignee"].required = False
        self.fields["assignee"].help_text = "Empty: you."
        self.user = user

    def clean_assignee(self):
        return self.cleaned_data.get("assignee") or self.user


class TaskEditForm(TaskForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


# People and teams (admins) -----------------------------------------------------------------


def _role_field(label="Roles", required=True):
    return forms.MultipleChoiceField(
        label=label,
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        required=required,
    )


def _teams_field(label):
    return forms.ModelMultipleChoiceField(
        label=label,
        queryset=Team.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


class InviteForm(forms.Form):
    """Who to invite, and with which roles and teams; they get an email to set a password."""

    email = forms.EmailField(max_length=254)
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        help_text="Letters, digits and @ . + - _ only; they can also sign in with their email.",
        error_messages={"invalid": "Use only letters, digits and @ . + - _ in a username."},
    )
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    roles = _role_field()
    teams = _teams_field("Member of teams")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("email"), Column("username")),
            Row(Column("first_name"), Column("last_name")),
            Row(Column("roles"), Column("teams")),
        )

    def clean_email(self):
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("A user with this email address exists already.")
        return email

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("This username is taken.")
        return username


class PersonAccessForm(forms.Form):
    """A user's roles and teams, as the admin wants them; ``_state`` is what the page showed,
    so a change someone made since is not overwritten unseen."""

    roles = _role_field(required=False)
    member_of = _teams_field("Member of teams")
    manager_of = _teams_field("Manager of teams")
    state = forms.CharField(widget=forms.HiddenInput, required=False)

    def add_prefix(self, field_name):
        return "_state" if field_name == "state" else super().add_prefix(field_name)


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.order_by("username"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    managers = forms.ModelMultipleChoiceField(
        queryset=User.objects.order_by("username"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Managers see and change everything of their teams' members.",
    )
    state = forms.CharField(widget=forms.HiddenInput, required=False)

    def add_prefix(self, field_name):
        return "_state" if field_name == "state" else super().add_prefix(field_name)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout("name", Row(Column("members"), Column("managers")), "state")


class WebhookEndpointForm(forms.ModelForm):
    """An endpoint's address, description and events. The address is checked (scheme, and
    every address its host resolves to, against server-side request forgery) when saved."""

    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Where the CRM POSTs each event (https; the host must resolve to a public "
        "address).",
    )
    event_types = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        help_text="None ticked: every event, including those added in later versions.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types"]

    def __init__(self, *args, user, **kwargs):
        from crm.registry import webhook_events

        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["event_types"].choices = webhook_events.choices()
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_url(self):
        from crm.webhooks.targets import TargetRefused, target_check

        url = self.cleaned_data["url"]
        try:
            target_check(url)
        except TargetRefused as exc:
            raise ValidationError(str(exc)) from None
        return url


class PersonEraseForm(forms.Form):
    """The confirmation of an erasure: the person's name typed again, and the reason."""

    confirm = forms.CharField(
        label="Type the name shown above to confirm", max_length=300, strip=True
    )
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the audit trail (the request's reference, the rule applied). "
        "The person's names, addresses and phone numbers are removed from it.",
    )

    def __init__(self, *args, expected: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm(self):
        typed = " ".join(self.cleaned_data["confirm"].split())
        if typed.casefold() != " ".join(self.expected.split()).casefold():
            raise ValidationError(f"Type “{self.expected}” exactly to confirm.")
        return typed

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Give the reason for the erasure.")
        return reason


class SavedViewForm(forms.Form):
    """A saved view's name, the list columns it shows, sharing and default."""

    name = forms.CharField(max_length=80)
    columns = forms.MultipleChoiceField(
        label="Columns shown", required=False, widget=forms.CheckboxSelectMultiple
    )
    shared = forms.BooleanField(label="Share with my team", required=False)
    default = forms.BooleanField(label="Open this list with it", required=False)

    def __init__(self, *args, columns, **kwargs):
        """``columns``: the list's ``(key, label)`` a view may hide."""
        super().__init__(*args, **kwargs)
        self.column_keys = [key for key, _ in columns]
        self.fields["columns"].choices = columns
        if not columns:
            del self.fields["columns"]

    def hidden_columns(self) -> list[str]:
        shown = set(self.cleaned_data.get("columns") or ())
        return [key for key in self.column_keys if key not in shown]


# --- email templates and writing email from a record ------------------------------------------


class EmailTemplateForm(forms.ModelForm):
    """A template's fields; the merge fields are checked by the service on save."""

    class Meta:
        model = EmailTemplate
        fields = ["name", "subject", "body", "sharing"]
        widgets = {"body": forms.Textarea(attrs={"rows": 10})}
        labels = {"sharing": "Shared with"}

    def __init__(self, *args, user, **kwargs):
        from crm.services.compose import MERGE_FIELDS, sharing_choices

        super().__init__(*args, **kwargs)
        choices = sharing_choices(user)
        if self.instance.pk and self.instance.sharing not in dict(choices):
            choices = [*choices, (self.instance.sharing, self.instance.get_sharing_display())]
        self.fields["sharing"].choices = choices
        fields = "; ".join(f"{group}: " + ", ".join(names) for group, names in MERGE_FIELDS.items())
        self.fields["body"].help_text = (
            'Merge fields such as {{ contact.first_name }} or {{ contact.first_name|default:"there" '
            "}} are filled in from the record. Available: " + fields + "."
        )
        self.helper = FormHelper()
        self.helper.form_tag = False


class SignatureForm(forms.Form):
    signature = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        max_length=2000,
        help_text="Plain text; templates place it with {{ user.signature }}.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (``request.FILES.getlist``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)] if data else []


class ComposeForm(forms.Form):
    """An email written from a record."""

    to_email = forms.EmailField(label="To")
    cc = forms.CharField(
        label="Cc", required=False, max_length=1000, help_text="Addresses separated by commas."
    )
    template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.none(), required=False, empty_label="No template"
    )
    subject = forms.CharField(max_length=255)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}))
    attachments = MultipleFileField(required=False)
    send_at = forms.DateTimeField(
        label="Send at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty to send now.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = (
            EmailTemplate.objects.visible_to(user).active().order_by("name", "id")
        )
        self.fields["to_email"].widget.attrs["list"] = "compose-recipients"
        from crm.services.compose import attachment_max_bytes, attachment_max_files

        self.fields["attachments"].help_text = (
            f"Up to {attachment_max_files()} files of {attachment_max_bytes() // (1024 * 1024)} MB "
            "each: PDF, PNG, JPEG, GIF or plain text."
        )

    def clean_cc(self):
        addresses = [a.strip() for a in self.cleaned_data["cc"].replace(";", ",").split(",")]
        addresses = [a for a in addresses if a]
        field = forms.EmailField()
        for address in addresses:
            try:
                field.clean(address)
            except ValidationError:
                raise ValidationError(f"“{address}” is not an email address.") from None
        if len(addresses) > 20:
            raise ValidationError("At most 20 addresses can be copied.")
        return addresses

    def clean_send_at(self):
        value = self.cleaned_data.get("send_at")
        if value is not None and value <= timezone.now():
            raise ValidationError("Choose a time in the future, or leave it empty to send now.")
        return value


MEETING_DURATIONS = [(15, "15 minutes"), (30, "30 minutes"), (45, "45 minutes"), (60, "1 hour")]
MEETING_DURATIONS += [(90, "1½ hours"), (120, "2 hours"), (180, "3 hours")]


class MeetingForm(forms.Form):
    """Schedule or change a meeting: when, where, and whom to invite (the record's people
    offered as checkboxes, other addresses typed, colleagues picked)."""

    title = forms.CharField(max_length=200)
    starts_at = forms.DateTimeField(
        label="Starts", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    duration = forms.TypedChoiceField(choices=MEETING_DURATIONS, coerce=int, initial=30)
    location = forms.CharField(
        max_length=500, required=False, help_text="A room or address, or a video call link."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    invitees = forms.MultipleChoiceField(
        label="Invite", required=False, widget=forms.CheckboxSelectMultiple
    )
    extra_emails = forms.CharField(
        label="Other guests",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Email addresses, separated by commas or new lines.",
    )
    users = forms.ModelMultipleChoiceField(
        label="Colleagues",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-inline"}),
    )

    def __init__(self, *args, offered=(), organizer=None, **kwargs):
        """``offered``: ``(email, label)`` of the people the record suggests; ``organizer`` is
        not offered as a colleague to invite."""
        super().__init__(*args, **kwargs)
        self.fields["invitees"].choices = list(offered)
        self.fields["users"].queryset = (
            users_with_role()
            .exclude(email="")
            .exclude(pk=getattr(organizer, "pk", None))
            .order_by("first_name", "last_name", "username")
        )

    def clean_extra_emails(self):
        text = self.cleaned_data.get("extra_emails", "")
        addresses = [a.strip() for a in text.replace(";", ",").replace("\n", ",").split(",")]
        cleaned = []
        for address in filter(None, addresses):
            try:
                forms.EmailField().clean(address)
            except ValidationError:
                raise ValidationError(f"“{address}” is not an email address.") from None
            cleaned.append(normalize_email(address))
        return cleaned

    def clean(self):
        data = super().clean()
        starts_at = data.get("starts_at")
        if starts_at and self.instance_starts_at != starts_at and starts_at < timezone.now():
            self.add_error("starts_at", "Pick a time in the future.")
        return data

    instance_starts_at = None  # an edit may keep a start that has passed


class ExchangeRateForm(forms.Form):
    """One dated rate entered by hand on the exchange-rate page."""

    currency = forms.ChoiceField(choices=())
    valid_from = forms.DateField(label="Valid from", widget=forms.DateInput(attrs={"type": "date"}))
    rate = forms.DecimalField(
        min_value=Decimal("0.0000000001"),
        help_text="How many units of the company currency one unit of this currency is worth.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        company = company_currency()
        self.fields["currency"].choices = [c for c in currency_choices() if c[0] != company]

    def clean_rate(self):
        return clean_rate(self.cleaned_data["rate"])


class ExchangeRateUploadForm(forms.Form):
    """A CSV of rates, one ``currency,date,rate`` per line."""

    file = forms.FileField(
        label="CSV file", help_text="Lines of currency,date,rate, e.g. USD,2026-01-31,0.92"
    )
