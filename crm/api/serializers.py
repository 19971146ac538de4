"""How records read in the API. Serializers here only shape output (and the schema of what a
write takes): writes are validated by the pages' forms and made by the services
(``crm.api.viewsets``)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django_countries.serializers import CountryFieldMixin
from rest_framework import serializers

from crm.currencies import normalize_currency

FIELDS_PARAM = "fields"


class CurrencyField(serializers.CharField):
    """A currency as an active ISO 4217 code, upper-cased."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_currency(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


class RecordSerializer(CountryFieldMixin, serializers.ModelSerializer):
    """A record's fields (countries as ISO codes); ``?fields=id,name`` keeps only those (``id``
    always)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        wanted = request.query_params.get(FIELDS_PARAM, "") if request is not None else ""
        if wanted:
            keep = {name.strip() for name in wanted.split(",")} | {"id"}
            for name in list(self.fields):
                if name not in keep:
                    self.fields.pop(name)

    def get_fields(self):
        from crm.api.custom_fields import add_custom_field

        fields = super().get_fields()
        add_custom_field(fields, getattr(self.Meta, "model", None))
        return fields

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        is_currency = field_name == "currency" or field_name.endswith("_currency")
        if is_currency and field_class is serializers.CharField:
            field_class = CurrencyField
        return field_class, kwargs

    def include_extra_kwargs(self, kwargs, extra_kwargs):
        # A read-only choice that may be blank (a lead's disqualify reason) still reads "".
        blank = kwargs.get("allow_blank") and "choices" in kwargs
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if blank:
            kwargs["allow_blank"] = True
        return kwargs


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.CharField(source="__str__", read_only=True)
