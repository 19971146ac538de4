"""Merging duplicate contacts and accounts: the two side by side with a choice per differing
field, a chooser of likely duplicates, the "Merged records" panel and the undo."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from crm.models import Account, Contact
from crm.selectors import (
    account_get,
    account_merge_get,
    contact_get,
    contact_merge_get,
    is_record_key,
    merge_candidates,
)
from crm.services import customer_merges
from crm.services.customer_merges import KEEP, MERGE
from crm.views.submissions import submitted_once
from crm.visibility import owner_in_scope

#: How many merges a record's "Merged records" panel shows.
MERGE_PANEL_ROWS = 10


def _display(obj, name: str) -> str:
    value = getattr(obj, name)
    if name == "country":
        return value.name if value else ""
    if hasattr(obj, f"get_{name}_display"):
        return getattr(obj, f"get_{name}_display")()
    return "" if value is None else str(value)


class MergeForm(forms.Form):
    """One keep/merge choice per field on which the two records differ."""

    def __init__(self, *args, keep, merge, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []
        for name in customer_merges.differing_fields(keep, merge):
            label = str(type(keep)._meta.get_field(name).verbose_name).capitalize()
            self.fields[name] = forms.ChoiceField(
                label=label,
                choices=[(KEEP, "keep"), (MERGE, "merge")],
                initial=customer_merges.default_choice(keep, merge, name),
                widget=forms.RadioSelect,
                required=False,  # a field not answered keeps the default rule
            )
            self.rows.append(
                {
                    "name": name,
                    "label": label,
                    "keep": _display(keep, name),
                    "merge": _display(merge, name),
                    "choice": self[name].value(),
                }
            )


def _merge_page(request, pk, *, model, getter, service):
    noun = model._meta.verbose_name
    keep = getter(user=request.user, pk=pk, for_change=True)
    other = request.GET.get("with", "")
    context = {"keep": keep, "noun": noun, "merge": None}
    if not is_record_key(other):
        query = request.GET.get("q", "").strip()[:100]
        candidates = merge_candidates(user=request.user, record=keep, query=query)
        return render(
            request,
            "crm/customer_merge.html",
            {**context, "candidates": candidates, "query": query},
        )
    merge = getter(user=request.user, pk=other, for_change=True)
    form = MergeForm(request.POST if request.method == "POST" else None, keep=keep, merge=merge)
    if request.method == "POST" and form.is_valid():
        try:
            service(keep=keep, merge=merge, user=request.user, field_choices=form.cleaned_data)
        except model.DoesNotExist:
            raise Http404 from None
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"Merged {merge} into this {noun}; the merge can be undone from here."
            )
            return HttpResponseRedirect(keep.get_absolute_url())
    same = keep.pk == merge.pk
    return render(
        request,
        "crm/customer_merge.html",
        {
            **context,
            "merge": merge,
            "form": form,
            "error": f"A {noun} cannot be merged with itself." if same else "",
            "moving": [] if same else customer_merges.links_count(merge),
        },
    )


@login_required
@submitted_once
def contact_merge(request, pk):
    """``/contacts/<pk>/merge/?with=<other>``: keep contact ``pk``, merge ``other`` into it
    (without ``with``: choose the other among likely duplicates or by a search)."""
    return _merge_page(
        request, pk, model=Contact, getter=contact_get, service=customer_merges.contact_merge
    )


@login_required
@submitted_once
def account_merge(request, pk):
    """``/accounts/<pk>/merge/?with=<other>``: keep account ``pk``, merge ``other`` into it."""
    return _merge_page(
        request, pk, model=Account, getter=account_get, service=customer_merges.account_merge
    )


def _undo(request, record, *, model, service):
    try:
        service(record=record, user=request.user)
    except model.DoesNotExist:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Merge undone: {record.merged_name} is a {model._meta.verbose_name} of its own "
            "again, with everything it had before the merge.",
        )
    return HttpResponseRedirect(record.kept.get_absolute_url())


@login_required
@require_POST
@submitted_once
def contact_merge_undo(request, pk):
    """``/contacts/merges/<pk>/undo/`` (POST): undo a contact merge; 404 unless the user may
    change both contacts."""
    record = contact_merge_get(user=request.user, pk=pk)
    return _undo(request, record, model=Contact, service=customer_merges.contact_merge_undo)


@login_required
@require_POST
@submitted_once
def account_merge_undo(request, pk):
    """``/accounts/merges/<pk>/undo/`` (POST): undo an account merge."""
    record = account_merge_get(user=request.user, pk=pk)
    return _undo(request, record, model=Account, service=customer_merges.account_merge_undo)


def merge_panel_probe(model):
    """The "Merged records" panel's probe: whether anything was merged into the record."""
    merges = model.merges.field.model

    def probe(request):
        return Exists(merges.objects.filter(kept=OuterRef("pk")))

    return probe


def merge_panel(request, record) -> dict | None:
    """The "Merged records" panel of a contact or account page: the merges into it, newest
    first, each with whether the user may undo it and, if it cannot be undone now, why. None
    (no panel) when nothing was merged into it."""
    merges = list(
        record.merges.select_related("kept", "merged_by", "undone_by").order_by(
            "-merged_at", "-id"
        )[:MERGE_PANEL_ROWS]
    )
    if not merges:
        return None
    may_change = owner_in_scope(request.user, record.owner_id)
    rows = []
    for merge in merges:
        may_undo = (
            may_change
            and not merge.is_undone
            and owner_in_scope(request.user, merge.merged_before.get("owner"))
        )
        problem = customer_merges.undo_problem(merge) if may_undo else ""
        rows.append({"merge": merge, "may_undo": may_undo, "problem": problem})
    url = "contact_merge_undo" if isinstance(record, Contact) else "account_merge_undo"
    return {"rows": rows, "undo_url": url}
