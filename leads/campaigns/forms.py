"""Forms of the email campaign pages: the campaign's settings, its 1–4 variants, scheduling."""

from datetime import timedelta
from decimal import Decimal

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.template import TemplateSyntaxError
from django.utils import timezone

from crm.filtersets import SearchFilterSet
from crm.segments.choices import SegmentTarget
from crm.segments.selectors import segments_usable_by
from leads.choices import EmailCampaignStatus, RecipientStatus, SkipReason
from leads.models import Campaign, CampaignRecipient, EmailCampaign
from leads.services.sequences import template_check

MAX_VARIANTS = 4
MERGE_FIELDS = ("first_name", "last_name", "full_name", "company", "title", "owner_name")


class EmailCampaignForm(forms.ModelForm):
    """A campaign's settings; the share of recipients in the A/B test is asked as a percent."""

    test_percent = forms.IntegerField(
        label="Test share (%)",
        min_value=1,
        max_value=100,
        initial=100,
        help_text="With a winner to send: the share of recipients split over the variants; "
        "the rest get the winner.",
    )

    class Meta:
        model = EmailCampaign
        fields = ["name", "campaign", "segment", "rate_per_minute", "track_opens"]
        labels = {
            "campaign": "Marketing campaign",
            "segment": "Audience (contact segment)",
            "rate_per_minute": "Emails per minute",
            "track_opens": "Track opens",
        }

    winner_after_hours = forms.IntegerField(
        label="Send the winner after (hours)",
        required=False,
        min_value=1,
        max_value=24 * 14,
        help_text="Empty: no winner step, every recipient is in the test.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["campaign"].queryset = Campaign.objects.visible_to(user).order_by("name")
        self.fields["campaign"].help_text = "Its cost is what the campaign's ROI is measured on."
        self.fields["segment"].queryset = segments_usable_by(user, SegmentTarget.CONTACT)
        self.fields[
            "segment"
        ].help_text = "Only its contacts with marketing consent and a reachable address are mailed."
        self.fields["rate_per_minute"].help_text = "Sends are throttled to this many a minute."
        if self.instance.pk:
            self.initial["test_percent"] = int(self.instance.test_fraction * 100)
            self.initial["winner_after_hours"] = self.instance.winner_after_hours
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field.widget, forms.CheckboxInput) else None
            field.widget.attrs.setdefault("class", css or "form-control")
        self.fields["campaign"].widget.attrs["class"] = "form-select"
        self.fields["segment"].widget.attrs["class"] = "form-select"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("winner_after_hours") is None and (cleaned.get("test_percent") or 100) < 100:
            self.add_error(
                "test_percent",
                "A test share below 100% needs a winner step: set “Send the winner after”.",
            )
        return cleaned

    def settings(self) -> dict:
        """The cleaned values the service takes."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "campaign": data["campaign"],
            "segment": data["segment"],
            "rate_per_minute": data["rate_per_minute"],
            "track_opens": data["track_opens"],
            "test_fraction": Decimal(data["test_percent"]) / 100,
            "winner_after_hours": data.get("winner_after_hours"),
        }


def _check_template(value: str) -> str:
    try:
        template_check(value)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"This template does not work: {exc}") from None
    return value


class EmailVariantForm(forms.Form):
    """One variant; an entirely empty one is left out."""

    subject = forms.CharField(
        max_length=200, required=False, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    body = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"class": "form-control", "rows": 6})
    )

    def clean_subject(self):
        return _check_template(self.cleaned_data["subject"].strip())

    def clean_body(self):
        return _check_template(self.cleaned_data["body"].strip())

    def clean(self):
        cleaned = super().clean()
        subject, body = cleaned.get("subject"), cleaned.get("body")
        if subject and not body and "body" not in self.errors:
            self.add_error("body", "A variant with a subject needs a body.")
        if body and not subject and "subject" not in self.errors:
            self.add_error("subject", "A variant with a body needs a subject.")
        return cleaned

    @property
    def is_blank(self) -> bool:
        return not (self.cleaned_data.get("subject") or self.cleaned_data.get("body"))


class BaseVariantFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        if not self.variants():
            raise ValidationError("Write at least one variant (subject and body).")

    def variants(self) -> list[tuple[str, str]]:
        """``(subject, body)`` of the filled-in variants, in order (they become A, B, C, D)."""
        return [
            (form.cleaned_data["subject"], form.cleaned_data["body"])
            for form in self.forms
            if form.cleaned_data and not form.is_blank
        ]


def variant_formset(data=None, *, campaign: EmailCampaign | None = None) -> BaseVariantFormSet:
    """Four variant slots, the campaign's variants in the first ones."""
    initial = []
    if campaign is not None and campaign.pk:
        initial = [
            {"subject": v.subject, "body": v.body} for v in campaign.variants.order_by("label")
        ]
    formset_class = forms.formset_factory(
        EmailVariantForm,
        formset=BaseVariantFormSet,
        extra=MAX_VARIANTS - len(initial),
        max_num=MAX_VARIANTS,
        absolute_max=MAX_VARIANTS,
        validate_max=True,
    )
    return formset_class(data, initial=initial or None, prefix="variant")


class ScheduleForm(forms.Form):
    """When to start sending: a time, or now when left empty."""

    at = forms.DateTimeField(
        label="Send at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "class": "form-control"}),
        help_text="Empty: send now (the first batch goes out within a minute).",
    )

    def clean_at(self):
        at = self.cleaned_data["at"]
        if at is not None and at < timezone.now() - timedelta(minutes=1):
            raise ValidationError("That time has passed; leave it empty to send now.")
        return at


class EmailCampaignFilterSet(SearchFilterSet):
    search_fields = ("name",)
    status = django_filters.ChoiceFilter(
        choices=EmailCampaignStatus.choices, empty_label="Any status"
    )
    campaign = django_filters.ModelChoiceFilter(
        queryset=lambda request: Campaign.objects.visible_to(request.user).order_by("name"),
        empty_label="Any marketing campaign",
        label="Marketing campaign",
    )

    class Meta:
        model = EmailCampaign
        fields = ["q", "status", "campaign"]


class RecipientFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RecipientStatus.choices, empty_label="Any status")
    skip_reason = django_filters.ChoiceFilter(
        choices=[c for c in SkipReason.choices if c[0]],
        empty_label="Any reason",
        label="Skipped because",
    )
    variant = django_filters.ChoiceFilter(
        choices=[(c, c) for c in "ABCD"],
        field_name="variant__label",
        empty_label="Any variant",
    )

    class Meta:
        model = CampaignRecipient
        fields = ["status", "skip_reason", "variant"]
