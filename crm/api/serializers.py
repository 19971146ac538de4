"""How records read in the API. Serializers here only shape output (and the schema of what a
write takes): writes are validated by the pages' forms and made by the services
(``crm.api.viewsets``)."""

from django_countries.serializers import CountryFieldMixin
from rest_framework import serializers

FIELDS_PARAM = "fields"


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
