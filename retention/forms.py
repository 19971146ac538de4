from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms

from crm.currencies import normalize_currency
from crm.custom_fields.forms import CustomFieldsFormMixin
from crm.forms import OwnedModelForm
from crm.segments.selectors import segments_usable_by
from crm.selectors import account_list
from crm.uploads import csv_upload_check
from crm.widgets import AutocompleteSelect
from retention.choices import ChurnReason, SubscriptionStatus
from retention.models import ChurnEvent, Subscription


class SubscriptionCreateForm(CustomFieldsFormMixin, OwnedModelForm):
    status = forms.ChoiceField(
        choices=[
            (SubscriptionStatus.ACTIVE, "Active"),
            (SubscriptionStatus.TRIAL, "Trial"),
        ]
    )

    class Meta:
        model = Subscription
        fields = [
            "account",
            "plan",
            "product_sku",
            "seats",
            "mrr",
            "currency",
            "status",
            "start_date",
            "term_months",
            "auto_renew",
            "owner",
        ]
        widgets = {
            "account": AutocompleteSelect("account_autocomplete"),
            "start_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = account_list(user=self.user)
        self.add_custom_fields(self.user)
        self.helper.layout = Layout(
            Row(Column("account"), Column("owner")),
            Row(Column("plan"), Column("product_sku")),
            Row(Column("mrr"), Column("currency"), Column("seats")),
            Row(Column("status"), Column("start_date"), Column("term_months")),
            "auto_renew",
            self.custom_fields_layout(),
        )

    def clean_currency(self):
        return normalize_currency(self.cleaned_data["currency"])

    def clean_mrr(self):
        value = self.cleaned_data["mrr"]
        if value is not None and value < 0:
            raise forms.ValidationError("MRR cannot be negative.")
        return value


class SubscriptionEditForm(CustomFieldsFormMixin, OwnedModelForm):
    """What a person edits directly; MRR, seats and status have their own actions (ledger)."""

    class Meta:
        model = Subscription
        fields = ["plan", "owner", "term_months", "renewal_date", "auto_renew"]
        widgets = {"renewal_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_fields(self.user)
        self.helper.layout = Layout(
            Row(Column("plan"), Column("owner")),
            Row(Column("term_months"), Column("renewal_date")),
            "auto_renew",
            self.custom_fields_layout(),
        )


class SubscriptionStatusForm(forms.Form):
    status = forms.ChoiceField(choices=SubscriptionStatus.choices)
    note = forms.CharField(max_length=200, required=False)


class SubscriptionChangeForm(forms.Form):
    mrr = forms.DecimalField(label="MRR", max_digits=14, decimal_places=2, min_value=0)
    seats = forms.IntegerField(min_value=1)
    note = forms.CharField(max_length=200, required=False)


class UsageImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV: account or account_domain, kind, feature, quantity, occurred_at"
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        csv_upload_check(upload, max_bytes=20 * 1024 * 1024)
        return upload


class ChurnForm(forms.ModelForm):
    reason = forms.ChoiceField(choices=ChurnReason.choices)

    class Meta:
        model = ChurnEvent
        fields = ["date", "reason", "note"]
        widgets = {
            "date": forms.DateInput(attrs={"type": "date"}),
            "note": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class NpsRunForm(forms.Form):
    """Start an NPS run: a name and, optionally, the contact segment to ask."""

    name = forms.CharField(max_length=150, required=False, label="Run name")
    segment = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="Contacts of paying accounts",
        label="Ask",
        help_text="A segment of contacts you may use; its members you can see are asked.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = segments_usable_by(user, "contact")
