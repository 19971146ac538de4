from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.template import TemplateSyntaxError

from crm.currencies import normalize_currency
from crm.custom_fields.forms import CustomFieldsFormMixin
from crm.forms import OwnedModelForm, assignable_users
from crm.normalize import normalize_domain, normalize_email, normalize_phone
from crm.permissions import may_manage
from crm.segments.selectors import segments_usable_by
from crm.selectors import is_record_key
from crm.uploads import csv_upload_check
from crm.widgets import option_rows, read_choices_plainly
from leads.choices import DedupePolicy, DisqualifyReason, LeadStatus, StepAction
from leads.models import DEFAULT_CONSENT_WORDING, Lead, SequenceStep, SequenceStepVariant
from leads.selectors import sequence_list
from leads.services.imports import IMPORT_FIELDS
from leads.services.leads import LEAD_FIELDS
from leads.services.sequences import template_check

LEAD_FORM_FIELDS = list(LEAD_FIELDS)


class LeadForm(CustomFieldsFormMixin, OwnedModelForm):
    class Meta:
        model = Lead
        fields = LEAD_FORM_FIELDS
        widgets = {
            "timeline": forms.DateInput(attrs={"type": "date"}),
            "need": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and not self.user.is_sales_rep:
            # Managers and admins may leave the owner empty: the assignment rules decide.
            self.fields["owner"].initial = None
        self.fields["owner"].help_text = "Empty: the assignment rules pick a team and a rep."
        self.add_custom_fields(self.user)
        self.helper.layout = Layout(
            Fieldset(
                "Person",
                Row(Column("first_name"), Column("last_name")),
                Row(Column("email"), Column("phone")),
                "title",
            ),
            Fieldset(
                "Company",
                Row(Column("company_name"), Column("website")),
                Row(Column("industry"), Column("employees"), Column("country")),
            ),
            Fieldset("Origin", Row(Column("source"), Column("campaign"), Column("owner"))),
            Fieldset(
                "BANT",
                Row(Column("budget_amount"), Column("budget_currency"), Column("budget_confirmed")),
                Row(Column("authority"), Column("need_severity"), Column("timeline")),
                "need",
            ),
            Row(Column("email_consent"), Column("marketing_consent")),
            self.custom_fields_layout(),
        )

    def clean_budget_currency(self):
        return normalize_currency(self.cleaned_data.get("budget_currency"))

    def clean_email(self):
        return normalize_email(self.cleaned_data["email"])

    def clean_website(self):
        domain = normalize_domain(self.cleaned_data["website"])
        if domain and "." not in domain:
            raise ValidationError("Enter a website domain such as example.com.")
        return domain

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("country")
        try:
            cleaned["phone"] = normalize_phone(cleaned.get("phone", ""), str(country or "") or None)
        except ValidationError as exc:
            self.add_error("phone", exc)
        return cleaned


class DisqualifyForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "— why? —"), *DisqualifyReason.choices])
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            (s, s.label)
            for s in (
                LeadStatus.WORKING,
                LeadStatus.NURTURING,
                LeadStatus.QUALIFIED,
                LeadStatus.DISQUALIFIED,
            )
        ]
    )
    reason = forms.ChoiceField(choices=[("", "—"), *DisqualifyReason.choices], required=False)
    note = forms.CharField(required=False)


class ConvertForm(forms.Form):
    create_opportunity = forms.BooleanField(required=False, initial=True)
    opportunity_name = forms.CharField(required=False, max_length=200)
    opportunity_amount = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class ReassignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = assignable_users(user)


class EnrolForm(forms.Form):
    sequence = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sequence"].queryset = sequence_list(user=user).filter(is_active=True)
        # The sequences a user sees depend on nothing but who they are and the sequences.
        read_choices_plainly(self.fields["sequence"], user, name=("leads.sequences", user.pk))


class SegmentEnrolForm(forms.Form):
    """Enrol the leads of a segment in a sequence: only segments of leads the user may use."""

    segment = forms.ModelChoiceField(
        queryset=None, empty_label="Choose a segment of leads…", label="Segment"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = segments_usable_by(user, "lead")


BULK_ACTIONS = [
    ("assign", "Assign to…"),
    ("status", "Change status to…"),
    ("enrol", "Enrol in sequence…"),
    ("delete", "Delete"),
]


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    owner = forms.ModelChoiceField(queryset=None, required=False)
    status = forms.ChoiceField(
        choices=[("", "—"), *StatusForm.base_fields["status"].choices], required=False
    )
    reason = forms.ChoiceField(choices=[("", "—"), *DisqualifyReason.choices], required=False)
    sequence = forms.ModelChoiceField(queryset=None, required=False)
    seen_at = forms.DateTimeField(
        required=False,
        widget=forms.HiddenInput,
        help_text="When the list was read: rows changed since are left alone.",
    )

    def __init__(self, *args, user, people=None, **kwargs):
        """``people``: ``users_with_role()`` read already (the filter bar's owners), from which
        the owners offered are picked instead of reading them again."""
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["owner"].queryset = assignable_users(user)
        self.fields["sequence"].queryset = sequence_list(user=user).filter(is_active=True)
        # The sequences a user sees depend on nothing but who they are and the sequences.
        read_choices_plainly(self.fields["sequence"], user, name=("leads.sequences", user.pk))
        if not may_manage(user):
            self.fields["action"].choices = [c for c in BULK_ACTIONS if c[0] != "assign"]
        self.people = people

    @property
    def sequence_options(self):
        """The active sequences the bar offers (from the catalog: ``crm.catalog``)."""
        return option_rows(self.fields["sequence"])

    @property
    def owner_choices(self):
        """The owners the bar offers: ``assignable_users`` (picked from ``people`` when given)."""
        if self.people is not None and (self.user.is_admin_role or self.user.is_manager):
            if self.user.is_admin_role:
                return self.people
            return [u for u in self.people if u.pk in self.user.managed_user_ids]
        return self.fields["owner"].queryset

    def clean_ids(self):
        return self.cleaned_data["ids"]

    def full_clean(self):
        # ids are checked against visibility by the view; here they only need to be integers.
        ids = self.data.getlist("ids")
        self.fields["ids"].choices = [(v, v) for v in ids if is_record_key(v)]
        super().full_clean()

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        needed = {"assign": "owner", "status": "status", "enrol": "sequence"}.get(action)
        if needed and not cleaned.get(needed):
            self.add_error(needed, "Choose one for this action.")
        if (
            action == "status"
            and cleaned.get("status") == LeadStatus.DISQUALIFIED
            and not cleaned.get("reason")
        ):
            self.add_error("reason", "Say why the leads are disqualified.")
        return cleaned


class WebToLeadForm(forms.Form):
    """The public form. ``website_url`` is the honeypot: hidden from people, filled by bots."""

    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100)
    email = forms.EmailField()
    phone = forms.CharField(max_length=30, required=False)
    company_name = forms.CharField(label="Company", max_length=200, required=False)
    title = forms.CharField(label="Job title", max_length=150, required=False)
    message = forms.CharField(
        label="How can we help?", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    consent = forms.BooleanField(required=False, label=DEFAULT_CONSENT_WORDING)
    website_url = forms.CharField(required=False, label="Leave this empty")

    def __init__(self, *args, consent_wording: str = DEFAULT_CONSENT_WORDING, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["consent"].label = consent_wording

    def clean_email(self):
        return normalize_email(self.cleaned_data["email"])

    def clean_phone(self):
        return normalize_phone(self.cleaned_data.get("phone", ""))


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="A CSV file with a header row (UTF-8).")
    policy = forms.ChoiceField(choices=DedupePolicy.choices, initial=DedupePolicy.SKIP)
    owner = forms.ModelChoiceField(
        queryset=None, required=False, help_text="Empty: the assignment rules decide."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = assignable_users(user)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt")):
            raise ValidationError("Upload a .csv file.")
        csv_upload_check(upload)
        return upload


class ImportMappingForm(forms.Form):
    """One select per CSV column: which lead field it fills (or none)."""

    def __init__(self, *args, headers, initial_mapping, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— ignore —")] + [
            (name, Lead._meta.get_field(name).verbose_name.capitalize())
            if name != "campaign"
            else (name, "Campaign (slug or name)")
            for name in IMPORT_FIELDS
        ]
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or f"Column {index + 1}",
                choices=choices,
                required=False,
                initial=initial_mapping.get(header, ""),
            )

    def clean(self):
        cleaned = super().clean()
        used = [v for k, v in cleaned.items() if k.startswith("col_") and v]
        doubled = {v for v in used if used.count(v) > 1}
        if doubled:
            raise ValidationError(
                f"Each field can come from one column only: {', '.join(doubled)}."
            )
        if "last_name" not in used:
            raise ValidationError("Map a column to the last name.")
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data[f"col_{i}"]
            for i, header in enumerate(self.headers)
            if self.cleaned_data.get(f"col_{i}")
        }


class SequenceStepAdminForm(forms.ModelForm):
    class Meta:
        model = SequenceStep
        fields = [
            "sequence",
            "position",
            "action",
            "delay_days",
            "subject",
            "body",
            "task_title",
            "winner_after_hours",
        ]

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "body", "task_title"):
            try:
                template_check(cleaned.get(name) or "")
            except TemplateSyntaxError as exc:
                self.add_error(name, str(exc))
        return cleaned


class SequenceStepVariantAdminForm(forms.ModelForm):
    class Meta:
        model = SequenceStepVariant
        fields = ["label", "subject", "body"]

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "body"):
            try:
                template_check(cleaned.get(name) or "")
            except TemplateSyntaxError as exc:
                self.add_error(name, str(exc))
        return cleaned


class SequenceStepVariantFormSet(forms.BaseInlineFormSet):
    """An A/B test has two to four variants, on an email step; none keeps the step's own."""

    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if not kept:
            return
        if len(kept) == 1:
            raise ValidationError("An A/B test needs at least two variants (or none).")
        if self.instance.action != StepAction.EMAIL:
            raise ValidationError("Only email steps can have variants.")
