"""Accounts and contacts: list, detail, create, edit, delete, and the account autocomplete."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from crm import compiled
from crm.filtersets import AccountFilterSet, ContactFilterSet
from crm.forms import AccountForm, ContactForm
from crm.models import Account, Contact
from crm.models.users import users_with_role
from crm.permissions import may_sell
from crm.selectors import (
    account_duplicate_list,
    account_get,
    account_list,
    contact_duplicate_list,
    contact_get,
    contact_list,
    duplicate_count_expression,
)
from crm.services import customers
from crm.tables import account_contact_line, contact_rows
from crm.text_search import text_search
from crm.views.duplicates import duplicate_message
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDeleteView, RecordDetailView, RecordFormView
from crm.visibility import owner_in_scope

ACCOUNT_CONTACTS_SHOWN = 25
#: What the account page's list of contacts shows of each.
ACCOUNT_CONTACT_FIELDS = ("first_name", "last_name", "title", "email", "account_id")


#: The pairs to review the lists' "Possible duplicates" link counts at most (then "1,000+"): a
#: list page does not count a long queue of pairs each time it is opened.
DUPLICATES_COUNTED_UP_TO = 1000


def counted_up_to(pairs, limit: int = DUPLICATES_COUNTED_UP_TO) -> str:
    """The number of ``pairs``, read up to ``limit`` of them ("1,000+" beyond)."""
    count = pairs.order_by().values("pk")[: limit + 1].count()
    return f"{limit:,}+" if count > limit else f"{count:,}"


class AccountListView(FilteredListView):
    filterset_class = AccountFilterSet
    title = "Accounts"
    empty_noun = "accounts"
    record_kind = "accounts"
    bulk_kind = "accounts"
    row_template = "crm/rows/account.html"
    custom_entity = "account"
    create_url_name = "account_create"
    columns = [
        Column("Name", sort="name"),
        Column("Industry"),
        Column("Country"),
        Column("Stage"),
        Column("Owner"),
        Column("Quality", sort="quality", css="text-end"),
        Column("Created", sort="created"),
        Column("Updated", sort="updated"),
    ]
    sorts = {
        "name": ("name", "id"),
        "quality": ("quality", "id"),
        "created": ("created_at", "id"),
        "updated": ("updated_at", "id"),
    }
    default_sort = "-created"
    show_quality = True

    list_selector = account_list
    template_name = "crm/customer_list.html"

    def base_queryset(self):
        return super().base_queryset().select_related("owner")

    def can_create(self):
        return may_sell(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["duplicates"] = {
            "url": reverse("account_duplicate_list"),
            "count": counted_up_to(account_duplicate_list(user=self.request.user)),
        }
        return context


class ContactListView(FilteredListView):
    filterset_class = ContactFilterSet
    title = "Contacts"
    empty_noun = "contacts"
    record_kind = "contacts"
    bulk_kind = "contacts"
    row_template = ""  # rows written by ``crm.tables.contact_rows``
    row_fields = (
        *("first_name", "last_name", "email", "phone", "title", "quality", "created_at"),
        *("account", "account__name", "owner", "owner__first_name", "owner__last_name"),
        "owner__username",
    )
    custom_entity = "contact"
    create_url_name = "contact_create"
    columns = [
        Column("Name", sort="name"),
        Column("Email", sort="email"),
        Column("Phone"),
        Column("Title"),
        Column("Account"),
        Column("Owner"),
        Column("Quality", sort="quality", css="text-end"),
        Column("Created", sort="created"),
    ]
    sorts = {
        "name": ("last_name", "first_name", "id"),
        "email": ("email", "id"),
        "quality": ("quality", "id"),
        "created": ("created_at", "id"),
    }
    default_sort = "-created"
    show_quality = True

    list_selector = contact_list
    template_name = "crm/customer_list.html"

    def base_queryset(self):
        return super().base_queryset().select_related("account", "owner")

    def can_create(self):
        return may_sell(self.request.user)

    def render_rows(self, rows, *, bulk):
        return contact_rows(rows, bulk=bulk, custom=bool(self.custom_columns_list))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["duplicates"] = {
            "url": reverse("contact_duplicate_list"),
            "count": counted_up_to(contact_duplicate_list(user=self.request.user)),
        }
        return context


class AccountDetailView(RecordDetailView):
    model = Account
    selector = account_get
    template_name = "crm/account_detail.html"

    def can_change(self):
        return owner_in_scope(self.request.user, self.object.owner_id)

    def probes(self):
        return {
            "duplicate_count": duplicate_count_expression(user=self.request.user, model=self.model)
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contacts = compiled.rows(
            ("account-contacts",),
            lambda pk: (
                Contact.objects.filter(account_id=pk)
                .only(*ACCOUNT_CONTACT_FIELDS)
                .order_by("last_name", "first_name", "id")[: ACCOUNT_CONTACTS_SHOWN + 1]
            ),
            user=self.request.user,
            pk=self.object.pk,
        )
        for contact in contacts:
            contact.account = self.object
            contact.line = account_contact_line(contact)
        context["contacts"] = contacts[:ACCOUNT_CONTACTS_SHOWN]
        context["more_contacts"] = len(contacts) > ACCOUNT_CONTACTS_SHOWN
        context["duplicate_count"] = self.probed["duplicate_count"]
        return context


class ContactDetailView(RecordDetailView):
    model = Contact
    selector = contact_get
    template_name = "crm/contact_detail.html"

    def can_change(self):
        return owner_in_scope(self.request.user, self.object.owner_id)

    def probes(self):
        return {
            "duplicate_count": duplicate_count_expression(user=self.request.user, model=self.model)
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["duplicate_count"] = self.probed["duplicate_count"]
        return context


class AccountFormView(RecordFormView):
    model = Account
    selector = account_get
    form_class = AccountForm
    create_service = customers.account_create
    update_service = customers.account_update
    object_name = "account"

    def saved(self, obj):
        duplicate_message(self.request, obj)


class ContactFormView(RecordFormView):
    model = Contact
    selector = contact_get
    form_class = ContactForm
    create_service = customers.contact_create
    update_service = customers.contact_update
    object_name = "contact"

    def saved(self, obj):
        duplicate_message(self.request, obj)

    def get_initial(self):
        initial = super().get_initial()
        account_id = self.request.GET.get("account")
        if account_id and account_id.isdigit():
            initial["account"] = account_id
        return initial


class AccountDeleteView(RecordDeleteView):
    model = Account
    selector = account_get
    delete_service = customers.account_delete
    object_name = "account"
    success_url_name = "account_list"


class ContactDeleteView(RecordDeleteView):
    model = Contact
    selector = contact_get
    delete_service = customers.contact_delete
    object_name = "contact"
    success_url_name = "contact_list"


@login_required
@require_GET
def user_autocomplete(request):
    """People who can be given work (anyone with a role), for assignee pickers."""
    if not request.user.has_any_role:
        return JsonResponse({"results": []})
    queryset = text_search(
        users_with_role(),
        ("username", "first_name", "last_name"),
        request.GET.get("q", ""),
    )
    rows = queryset.order_by("first_name", "last_name", "id")[:20]
    return JsonResponse({"results": [{"value": u.pk, "text": str(u)} for u in rows]})


@login_required
@require_GET
def account_autocomplete(request):
    """Accounts matching ``q`` for pickers: ``{"results": [{"value", "text"}]}``."""
    queryset = text_search(
        account_list(user=request.user), ("name", "domain"), request.GET.get("q", "")
    )
    rows = queryset.order_by("name", "id").values("pk", "name", "domain")[:20]
    return JsonResponse(
        {
            "results": [
                {"value": r["pk"], "text": r["name"] + (f" ({r['domain']})" if r["domain"] else "")}
                for r in rows
            ]
        }
    )


@login_required
@require_GET
def contact_autocomplete(request):
    """Contacts matching ``q`` (of ``account`` when given) for pickers (deal, ticket):
    ``{"results": [{"value", "text"}]}``."""
    contacts = contact_list(user=request.user)
    account = request.GET.get("account", "")
    if account.isdigit():
        contacts = contacts.filter(account_id=int(account))
    contacts = text_search(
        contacts, ("first_name", "last_name", "email", "title"), request.GET.get("q", "")
    )
    rows = contacts.order_by("last_name", "first_name", "id").values(
        "pk", "first_name", "last_name", "email"
    )[:20]
    return JsonResponse(
        {
            "results": [
                {
                    "value": r["pk"],
                    "text": f"{r['first_name']} {r['last_name']}".strip()
                    + (f" ({r['email']})" if r["email"] else ""),
                }
                for r in rows
            ]
        }
    )
