"""Merging duplicates: two leads side by side with a choice per differing field, and merging a
lead into a contact we already have; undoing either."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render

from crm.models import Activity, Contact, Task
from crm.selectors import contact_list
from crm.text_search import text_search
from crm.views.submissions import submitted_once
from leads.choices import DisqualifyReason, LeadStatus
from leads.models import Enrollment, Lead
from leads.selectors import lead_get, lead_list, lead_merge_get
from leads.services import merge as merge_services
from leads.services import merge_undo

CONTACT_SEARCH_FIELDS = ("first_name", "last_name", "email", "title")


def _changeable_lead(request, pk) -> Lead:
    return lead_get(user=request.user, pk=pk, for_change=True)


def _display(lead: Lead, name: str) -> str:
    value = getattr(lead, name)
    if name == "country":
        return value.name if value else ""
    if hasattr(lead, f"get_{name}_display"):
        return getattr(lead, f"get_{name}_display")()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


class MergeForm(forms.Form):
    """One keep/merge choice per field on which the two leads differ."""

    def __init__(self, *args, keep: Lead, merge: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []
        for name in merge_services.differing_fields(keep, merge):
            label = str(Lead._meta.get_field(name).verbose_name).capitalize()
            self.fields[name] = forms.ChoiceField(
                label=label,
                choices=[(merge_services.KEEP, "keep"), (merge_services.MERGE, "merge")],
                initial=merge_services.default_choice(keep, merge, name),
                widget=forms.RadioSelect,
            )
            self.rows.append(
                {
                    "name": name,
                    "label": label,
                    "keep": _display(keep, name),
                    "merge": _display(merge, name),
                }
            )

    def choice_for(self, name):
        return self[name].value()


def _counts(keep: Lead, merge: Lead) -> tuple[dict, dict]:
    """How many activities, tasks and enrolments each lead has: one grouped query per kind."""
    ids = [keep.pk, merge.pk]
    lead_type = ContentType.objects.get_for_model(Lead)
    counts = {pk: {"activities": 0, "tasks": 0, "enrollments": 0} for pk in ids}
    for key, rows in (
        ("activities", Activity.objects.filter(content_type=lead_type, object_id__in=ids)),
        ("tasks", Task.objects.filter(content_type=lead_type, object_id__in=ids)),
        (
            "enrollments",
            Enrollment.objects.filter(lead_id__in=ids).annotate(object_id=F("lead_id")),
        ),
    ):
        grouped = rows.order_by().values("object_id").annotate(n=Count("id"))
        for row in grouped.values_list("object_id", "n"):
            counts[row[0]][key] = row[1]
    return counts[keep.pk], counts[merge.pk]


def _candidates(request, lead: Lead):
    """Other changeable leads flagged as this lead's duplicate, or that it duplicates."""
    condition = Q(duplicate_of=lead, possible_duplicate=True)
    if lead.duplicate_of_id:
        condition |= Q(pk=lead.duplicate_of_id)
    return (
        lead_list(user=request.user, for_change=True)
        .filter(condition)
        .exclude(pk=lead.pk)
        .exclude(status=LeadStatus.DISQUALIFIED, disqualify_reason=DisqualifyReason.DUPLICATE)
        .order_by("-created_at", "-id")[:20]
    )


@login_required
@submitted_once
def lead_merge(request, pk):
    """``/leads/<pk>/merge/?with=<other>``: keep lead ``pk``, merge ``other`` into it."""
    keep = _changeable_lead(request, pk)
    other = request.GET.get("with", "")
    if not other.isdigit():
        return render(
            request,
            "leads/merge.html",
            {
                "keep": keep,
                "merge": None,
                "candidates": _candidates(request, keep),
                "error": "Choose the lead to merge into this one.",
            },
        )
    merge = _changeable_lead(request, int(other))
    form = MergeForm(request.POST if request.method == "POST" else None, keep=keep, merge=merge)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            merge_services.lead_merge(
                keep=keep, merge=merge, user=request.user, field_choices=form.cleaned_data
            )
        except Lead.DoesNotExist:
            raise Http404 from None
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Merged {merge.full_name} into this lead.")
            return HttpResponseRedirect(keep.get_absolute_url())
    if keep.pk == merge.pk:
        error = "A lead cannot be merged with itself."
    else:
        for lead in (merge, keep):
            if merge_services.is_merged(lead):
                error = f"{lead} was already merged into lead #{lead.duplicate_of_id}."
            elif lead.status == LeadStatus.CONVERTED:
                error = f"{lead} is already converted; merge it into its contact instead."
    counts = _counts(keep, merge) if keep.pk != merge.pk else ({}, {})
    return render(
        request,
        "leads/merge.html",
        {
            "keep": keep,
            "merge": merge,
            "form": form,
            "rows": [{**row, "choice": form.choice_for(row["name"])} for row in form.rows],
            "keep_counts": counts[0],
            "merge_counts": counts[1],
            "error": error,
        },
        status=200,
    )


class ContactChoiceForm(forms.Form):
    contact = forms.ModelChoiceField(
        queryset=Contact.objects.none(),
        error_messages={"invalid_choice": "Choose one of the contacts listed."},
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contact_list(user=user)


def _matching_contacts(request, lead: Lead, query: str):
    contacts = contact_list(user=request.user).select_related("account", "owner")
    if query:
        return text_search(contacts, CONTACT_SEARCH_FIELDS, query).order_by("last_name", "id")[:20]
    condition = Q(last_name__iexact=lead.last_name, first_name__iexact=lead.first_name)
    if lead.email:
        condition |= Q(email=lead.email)
    if lead.phone:
        condition |= Q(phone=lead.phone)
    return contacts.filter(condition).order_by("last_name", "id")[:20]


@login_required
@submitted_once
def lead_merge_into_contact(request, pk):
    """``/leads/<pk>/merge-into-contact/``: pick a contact (those matching the lead's email, phone
    or name, or a search) and merge the lead into it."""
    lead = _changeable_lead(request, pk)
    query = request.GET.get("q", "").strip()[:100]
    form = ContactChoiceForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        contact = form.cleaned_data["contact"]
        try:
            merge_services.lead_merge_into_contact(lead=lead, contact=contact, user=request.user)
        except (Lead.DoesNotExist, Contact.DoesNotExist):
            raise Http404 from None
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Merged {lead.full_name} into the contact {contact}.")
            return HttpResponseRedirect(contact.get_absolute_url())
    return render(
        request,
        "leads/merge_into_contact.html",
        {
            "object": lead,
            "form": form,
            "query": query,
            "contacts": _matching_contacts(request, lead, query),
            "closed": not lead.is_open,
        },
    )


@login_required
@submitted_once
def lead_merge_undo(request, pk):
    """``/leads/merges/<pk>/undo/``: what undoing the merge puts back (GET), and the undo
    (POST). 404 unless the user may change both records."""
    record = lead_merge_get(user=request.user, pk=pk)
    error = ""
    if request.method == "POST":
        try:
            merge_undo.lead_merge_undo(record=record, user=request.user)
        except (Lead.DoesNotExist, Contact.DoesNotExist):
            raise Http404 from None
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request,
                f"Merge undone: {record.merged.full_name} is a lead of its own again, with "
                "everything it had before the merge.",
            )
            return HttpResponseRedirect(record.target.get_absolute_url())
        record.refresh_from_db()
    plan = merge_undo.lead_merge_undo_plan(record=record)
    return render(
        request,
        "leads/merge_undo.html",
        {"record": record, "plan": plan, "error": error},
        status=200,
    )
