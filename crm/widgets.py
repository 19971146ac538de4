from django import forms
from django.urls import reverse


class AutocompleteSelect(forms.Select):
    """A select that renders only the chosen option and searches the rest as the user types
    (static/crm/app.js wires Tom Select to ``data-autocomplete-url``), so a field pointing at
    100,000 accounts stays one small query."""

    def __init__(self, url_name: str, attrs=None):
        super().__init__(attrs)
        self.url_name = url_name

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["data-autocomplete-url"] = reverse(self.url_name)
        return context

    def optgroups(self, name, value, attrs=None):
        selected = {str(v) for v in value if v not in (None, "")}
        options = [self.create_option(name, "", "—", not selected, 0)]
        if selected:
            queryset = self.choices.queryset.filter(pk__in=selected)
            for index, obj in enumerate(queryset, start=1):
                options.append(self.create_option(name, obj.pk, str(obj), True, index))
        return [(None, options, 0)]
