"""The review queues of likely duplicate contacts and accounts: each pair side by side with the
score and the reasons, to merge or to answer "not a duplicate" (never proposed again)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from crm.filtersets import AccountDuplicateFilterSet, ContactDuplicateFilterSet
from crm.selectors import (
    account_duplicate_get,
    account_duplicate_list,
    contact_duplicate_get,
    contact_duplicate_list,
)
from crm.services.duplicates import duplicate_pair_dismiss
from crm.views import safe_next
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once
from crm.visibility import owner_in_scope


def url_if_there(name: str, *args) -> str:
    """The URL named ``name``, or "" when the site has no such page."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


class DuplicatePairListView(FilteredListView):
    """A review queue: the pairs whose two records the user may see, best matches first."""

    first = ""  # the pair's first record: "contact" or "account"
    empty_text = "No possible duplicates to review right now."
    row_template = "crm/rows/duplicate_pair.html"
    columns = [
        Column("Record"),
        Column("Possibly the same as"),
        Column("Score", sort="score", css="text-end"),
        Column("Why"),
        Column("Found", sort="found"),
        Column(""),
    ]
    sorts = {"score": ("score", "found_at", "id"), "found": ("found_at", "id")}
    default_sort = "-score"

    def base_queryset(self):
        related = (f"{self.first}__owner", "other__owner")
        if self.first == "contact":
            related += ("contact__account", "other__account")
        return super().base_queryset().select_related(*related)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        merge_url_name = f"{self.first}_merge"
        may_merge = bool(url_if_there(merge_url_name, 1))
        for pair in context["object_list"]:
            pair.first_record = getattr(pair, self.first)
            mine = [owner_in_scope(user, r.owner_id) for r in (pair.first_record, pair.other)]
            pair.may_dismiss = any(mine)
            pair.merge_url = (
                url_if_there(merge_url_name, pair.first_record.pk) + f"?with={pair.other_id}"
                if may_merge and all(mine)
                else ""
            )
        context.update(
            pair_kind=self.first,
            dismiss_url_name=f"{self.first}_duplicate_dismiss",
            back_url=reverse(f"{self.first}_list"),
            back_label=f"{self.first.capitalize()}s",
        )
        return context


class ContactDuplicateListView(DuplicatePairListView):
    first = "contact"
    title = "Possible duplicate contacts"
    list_selector = contact_duplicate_list
    filterset_class = ContactDuplicateFilterSet
    template_name = "crm/duplicate_pair_list.html"


class AccountDuplicateListView(DuplicatePairListView):
    first = "account"
    title = "Possible duplicate accounts"
    list_selector = account_duplicate_list
    filterset_class = AccountDuplicateFilterSet
    template_name = "crm/duplicate_pair_list.html"


def _dismiss(request, pair, first: str):
    """The answer "not a duplicate" from someone who may change one of the two records (the
    others: 404, as for a pair they cannot see)."""
    records = (getattr(pair, first), pair.other)
    if not any(owner_in_scope(request.user, r.owner_id) for r in records):
        raise Http404
    duplicate_pair_dismiss(pair=pair, user=request.user)
    messages.success(request, f"Noted: {records[0]} and {records[1]} are not duplicates.")
    return HttpResponseRedirect(safe_next(request, reverse(f"{first}_duplicate_list")))


@login_required
@require_POST
@submitted_once
def contact_duplicate_dismiss(request, pk):
    return _dismiss(request, contact_duplicate_get(user=request.user, pk=pk), "contact")


@login_required
@require_POST
@submitted_once
def account_duplicate_dismiss(request, pk):
    return _dismiss(request, account_duplicate_get(user=request.user, pk=pk), "account")


def duplicate_message(request, record) -> None:
    """After a record was saved through a form: say which record it most resembles, with the
    reasons and a link to the review queue."""
    kind = record._meta.model_name
    pairs = (contact_duplicate_list if kind == "contact" else account_duplicate_list)(
        user=request.user
    )
    pair = (
        pairs.filter(Q(**{f"{kind}_id": record.pk}) | Q(other_id=record.pk))
        .select_related(kind, "other")
        .order_by("-score", "-id")
        .first()
    )
    if pair is None:
        return
    first = getattr(pair, kind)
    other = pair.other if first.pk == record.pk else first
    messages.warning(
        request,
        format_html(
            'This {} may be the same as {} (#{}): {} — <a href="{}?record={}">review</a>',
            record._meta.verbose_name,
            other,
            other.pk,
            pair.reasons,
            reverse(f"{kind}_duplicate_list"),
            record.pk,
        ),
    )
