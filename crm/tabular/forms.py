"""The import's forms: the upload, and the mapping of the file's columns with the mode."""

from django import forms
from django.core.exceptions import ValidationError

from crm.choices import TabularImportMode


class TabularUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV (UTF-8) or Excel (.xlsx) file with a header row; an export of this "
        "list imports as it is."
    )
    mode = forms.ChoiceField(choices=TabularImportMode.choices, initial=TabularImportMode.BOTH)


class TabularMappingForm(forms.Form):
    """One select per file column: which column of the kind it fills (or none)."""

    mode = forms.ChoiceField(choices=TabularImportMode.choices)

    def __init__(self, *args, headers, columns, initial_mapping, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— ignore —")] + [(c.name, c.label) for c in columns]
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
        doubled = sorted({v for v in used if used.count(v) > 1})
        if doubled:
            raise ValidationError(
                f"Each column can be filled from one file column only: {', '.join(doubled)}."
            )
        if not used:
            raise ValidationError("Choose at least one column to import.")
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data[f"col_{i}"]
            for i, header in enumerate(self.headers)
            if self.cleaned_data.get(f"col_{i}")
        }
