from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.core.exceptions import ValidationError

from crm.currencies import company_currency, currency_choices, normalize_currency
from crm.custom_fields.forms import CustomFieldsFormMixin
from crm.forms import CurrencyChoiceField, OwnedModelForm
from crm.models import Account, Contact
from crm.uploads import csv_upload_check
from crm.widgets import AutocompleteSelect
from sales.choices import Billing, ForecastCategory, LostReason, PeriodKind, StageKind
from sales.models import Opportunity, OpportunityLineItem, Product, SellerProfile, Stage
from sales.services.quotes import SELLER_PROFILE_FIELDS


class StageField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.pipeline.name}: {obj.name}"


class OpportunityForm(CustomFieldsFormMixin, OwnedModelForm):
    class Meta:
        model = Opportunity
        fields = [
            "name",
            "account",
            "primary_contact",
            "owner",
            "stage",
            "amount",
            "currency",
            "probability",
            "forecast_category",
            "expected_close_date",
            "next_step",
            "campaign",
        ]
        field_classes = {"stage": StageField}
        widgets = {
            "account": AutocompleteSelect("account_autocomplete"),
            "primary_contact": AutocompleteSelect("contact_autocomplete"),
            "expected_close_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = Account.objects.visible_to(self.user)
        self.fields["primary_contact"].queryset = Contact.objects.visible_to(self.user)
        stages = Stage.objects.select_related("pipeline").filter(pipeline__is_active=True)
        current = self.instance.stage_id if self.instance.pk else None
        self.fields["stage"].queryset = stages.filter(kind=StageKind.OPEN) | Stage.objects.filter(
            pk=current
        ).select_related("pipeline")
        self.fields["stage"].queryset = self.fields["stage"].queryset.order_by(
            "pipeline__order", "order"
        )
        self.fields["stage"].required = False
        self.fields["stage"].help_text = "Empty: the first stage of the default pipeline."
        self.fields["probability"].required = False
        self.fields["probability"].help_text = "Empty: the stage's default."
        self.fields["forecast_category"].choices = [
            c for c in ForecastCategory.choices if c[0] != ForecastCategory.CLOSED
        ] + (
            [(ForecastCategory.CLOSED, "Closed")]
            if self.instance.pk and self.instance.is_closed
            else []
        )
        has_lines = bool(self.instance.pk) and self.instance.line_items.exists()
        if has_lines:
            self.fields["amount"].help_text = (
                f"The line items' total is {self.instance.lines_value:,.2f}; another amount "
                "is kept as a manual amount until you go back to the lines' total."
            )
        if self.instance.pk and self.instance.is_closed:
            self.fields["stage"].disabled = True
        if self.instance.pk is None:
            self.fields["currency"].required = False
            self.fields[
                "currency"
            ].help_text = "Empty: the account's preferred currency, else the company's."
            if not self.is_bound and "currency" not in kwargs.get("initial", {}):
                self.initial["currency"] = ""
        elif has_lines:
            self.fields[
                "currency"
            ].help_text = "Changing it re-prices the line items at today's exchange rates."
        self.add_custom_fields(self.user)
        self.helper.layout = Layout(
            "name",
            Row(Column("account"), Column("primary_contact")),
            Row(Column("owner"), Column("stage")),
            Row(Column("amount"), Column("currency"), Column("probability")),
            Row(Column("forecast_category"), Column("expected_close_date")),
            "next_step",
            "campaign",
            self.custom_fields_layout(),
        )

    def clean_currency(self):
        value = self.cleaned_data.get("currency")
        if not value and self.instance.pk is None:
            return ""
        return normalize_currency(value)

    def clean_amount(self):
        amount = self.cleaned_data.get("amount")
        if amount is not None and amount < 0:
            raise ValidationError("An amount cannot be negative.")
        return amount

    def clean(self):
        cleaned = super().clean()
        account, contact = cleaned.get("account"), cleaned.get("primary_contact")
        if account and contact and contact.account_id and contact.account_id != account.pk:
            self.add_error("primary_contact", "This contact works at another account.")
        return cleaned


class ProductField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.sku}) · {obj.currency} {obj.price:,.2f}"


class LineItemForm(forms.ModelForm):
    class Meta:
        model = OpportunityLineItem
        fields = ["product", "quantity", "unit_price", "discount_percent", "tax_rate", "billing"]
        field_classes = {"product": ProductField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(is_active=True)
        self.fields["unit_price"].required = False
        self.fields["unit_price"].help_text = (
            "In the deal's currency. Empty: the list price, converted at today's rate when the "
            "product is priced in another currency."
        )
        self.fields["billing"].required = False
        self.fields["billing"].choices = [("", "As the product")] + list(Billing.choices)
        self.fields["discount_percent"].required = False
        self.fields["tax_rate"].required = False
        self.fields["tax_rate"].help_text = "Empty: the product's rate."
        for f in self.fields.values():
            f.widget.attrs.setdefault("class", "form-control form-control-sm")
        self.fields["product"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["billing"].widget.attrs["class"] = "form-select form-select-sm"


class LineItemEditForm(forms.Form):
    quantity = forms.IntegerField(min_value=1)
    unit_price = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)
    discount_percent = forms.DecimalField(
        min_value=0, max_value=100, max_digits=5, decimal_places=2
    )
    tax_rate = forms.DecimalField(
        min_value=0, max_value=100, max_digits=5, decimal_places=2, required=False
    )


class LostForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Why was it lost?"), *LostReason.choices])
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class OrderImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row; at most 5 MB.")
    MAX_BYTES = 5 * 1024 * 1024

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > self.MAX_BYTES:
            raise ValidationError(
                "The file is larger than 5 MB; use `manage.py import_orders` for big files."
            )
        csv_upload_check(file, max_bytes=self.MAX_BYTES)
        return file


class QuotaForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=None, label="Rep")
    period_kind = forms.ChoiceField(choices=PeriodKind.choices, label="Period")
    period_start = forms.DateField(
        label="Starting", widget=forms.DateInput(attrs={"type": "date"}), help_text="Any day in it."
    )
    amount = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)
    currency = CurrencyChoiceField(
        choices=(), required=False, help_text="Attainment counts won deals in it."
    )

    def __init__(self, *args, reps, **kwargs):
        from crm.models import User

        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(pk__in=[r.pk for r in reps])
        self.fields["currency"].choices = currency_choices()
        self.fields["currency"].initial = company_currency()
        for name, field in self.fields.items():
            css = "form-select" if name in ("owner", "period_kind", "currency") else "form-control"
            field.widget.attrs["class"] = f"{css} form-select-sm form-control-sm"


class SellerProfileForm(forms.ModelForm):
    class Meta:
        model = SellerProfile
        fields = list(SELLER_PROFILE_FIELDS)
        widgets = {
            "address": forms.Textarea(attrs={"rows": 3}),
            "quote_footer": forms.Textarea(attrs={"rows": 3}),
        }


class QuoteSendForm(forms.Form):
    to_email = forms.EmailField(
        label="To", help_text="A contact of the account who agreed to service email."
    )
    subject = forms.CharField(max_length=200)
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="The PDF and the customer's link to accept or decline are added below it.",
    )


class QuoteDecisionForm(forms.Form):
    name = forms.CharField(
        label="Your full name", max_length=200, help_text="Typed as your signature."
    )
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("decline", "Decline")])
