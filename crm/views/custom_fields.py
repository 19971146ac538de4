"""Custom fields (admins): the fields of each kind of record, adding and changing one,
archiving and restoring, and deleting an archived one after seeing how many values go."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.choices import Role
from crm.custom_fields.registry import custom_field_entities
from crm.custom_fields.values import export_text
from crm.models import CustomField, CustomFieldKind
from crm.permissions import may_define_fields
from crm.services import custom_fields as services


def _check(user):
    if not may_define_fields(user):
        raise Http404


class CustomFieldForm(forms.Form):
    entity = forms.ChoiceField(label="Record", choices=())
    label = forms.CharField(max_length=80)
    key = forms.CharField(
        max_length=50,
        required=False,
        help_text="The column name in imports and exports and the API; made from the label "
        "when empty. It cannot change later.",
    )
    kind = forms.ChoiceField(label="Type", choices=CustomFieldKind.choices)
    choices = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Choice fields: one per line, “value | Label” or just the label.",
    )
    link_entity = forms.ChoiceField(label="Links to", choices=(), required=False)
    required = forms.BooleanField(required=False)
    default = forms.CharField(
        max_length=200, required=False, help_text="As you would type it in an import."
    )
    help_text = forms.CharField(max_length=200, required=False)
    order = forms.IntegerField(min_value=0, max_value=9999, initial=100)
    in_lists = forms.BooleanField(
        label="Column in lists",
        required=False,
        initial=True,
        help_text="Shown as a column of the list page; a saved view can still hide it.",
    )
    roles = forms.MultipleChoiceField(
        label="Visible to",
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: everyone. Admins always see every field.",
    )

    def __init__(self, *args, field=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].choices = custom_field_entities.choices()
        self.fields["link_entity"].choices = [("", "—")] + [
            (e.key, e.label) for e in custom_field_entities.linkable()
        ]
        self.field = field
        if field is not None:
            for name in ("entity", "key", "kind"):
                self.fields[name].disabled = True
            self.fields["key"].help_text = "Cannot change: imports, exports and the API use it."

    def clean_choices(self):
        try:
            return services.choices_from_text(self.cleaned_data["choices"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_default(self):
        return self.cleaned_data["default"].strip() or None


def _initial(field: CustomField) -> dict:
    return {
        "entity": field.entity,
        "label": field.label,
        "key": field.key,
        "kind": field.kind,
        "choices": services.choices_as_text(field.choices),
        "link_entity": field.link_entity,
        "required": field.required,
        "default": export_text(field, field.default),
        "help_text": field.help_text,
        "order": field.order,
        "in_lists": field.in_lists,
        "roles": field.roles,
    }


@login_required
def custom_field_list(request):
    _check(request.user)
    fields = list(CustomField.objects.order_by("entity", "archived_at", "order", "label", "id"))
    groups = []
    for entity in custom_field_entities.all():
        mine = [f for f in fields if f.entity == entity.key]
        groups.append(
            (entity, [f for f in mine if not f.is_archived], [f for f in mine if f.is_archived])
        )
    return render(request, "crm/custom_fields/list.html", {"groups": groups})


def _save(request, form, field=None):
    data = dict(form.cleaned_data)
    try:
        if field is None:
            field = services.custom_field_create(user=request.user, **data)
            messages.success(request, f"Field “{field.label}” added.")
        else:
            for name in ("entity", "key", "kind"):
                data.pop(name, None)
            field = services.custom_field_update(field=field, user=request.user, **data)
            messages.success(request, f"Field “{field.label}” saved.")
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return None
    return field


@login_required
def custom_field_create(request):
    _check(request.user)
    if request.method == "POST":
        form = CustomFieldForm(request.POST)
        if form.is_valid() and _save(request, form):
            return HttpResponseRedirect(reverse("custom_field_list"))
        status = 400
    else:
        entity = request.GET.get("entity", "")
        form = CustomFieldForm(
            initial={"entity": entity} if custom_field_entities.get(entity) else {}
        )
        status = 200
    return render(request, "crm/custom_fields/form.html", {"form": form}, status=status)


@login_required
def custom_field_edit(request, pk):
    _check(request.user)
    field = get_object_or_404(CustomField, pk=pk)
    if request.method == "POST":
        form = CustomFieldForm(request.POST, field=field, initial=_initial(field))
        if form.is_valid() and _save(request, form, field):
            return HttpResponseRedirect(reverse("custom_field_list"))
        status = 400
    else:
        form = CustomFieldForm(field=field, initial=_initial(field))
        status = 200
    context = {"form": form, "field": field, "in_use": services.custom_field_values_count(field)}
    return render(request, "crm/custom_fields/form.html", context, status=status)


@login_required
@require_POST
def custom_field_archive(request, pk):
    _check(request.user)
    field = get_object_or_404(CustomField, pk=pk)
    if request.POST.get("restore"):
        services.custom_field_restore(field=field, user=request.user)
        messages.success(request, f"Field “{field.label}” restored, with its values.")
    else:
        services.custom_field_archive(field=field, user=request.user)
        messages.success(
            request,
            f"Field “{field.label}” archived: hidden everywhere, its values kept until you "
            "delete it.",
        )
    return HttpResponseRedirect(reverse("custom_field_list"))


@login_required
def custom_field_delete(request, pk):
    _check(request.user)
    field = get_object_or_404(CustomField, pk=pk)
    if not field.is_archived:
        messages.error(request, "Archive the field first: its values stay until it is deleted.")
        return HttpResponseRedirect(reverse("custom_field_list"))
    if request.method == "POST":
        if request.POST.get("confirm_key", "").strip() != field.key:
            messages.error(request, f"Type the field's key “{field.key}” to delete it.")
        else:
            removed = services.custom_field_delete(field=field, user=request.user)
            messages.success(
                request, f"Field “{field.label}” deleted with its values on {removed} records."
            )
            return HttpResponseRedirect(reverse("custom_field_list"))
    context = {"field": field, "in_use": services.custom_field_values_count(field)}
    return render(request, "crm/custom_fields/delete.html", context)
