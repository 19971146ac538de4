"""Email templates, writing an email from a record, and the public open and click endpoints of
those emails (README, "Writing email from a record")."""

import base64

import django_filters
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm.filtersets import SearchFilterSet
from crm.forms import ComposeForm, EmailTemplateForm, SignatureForm
from crm.models import EmailTemplate
from crm.selectors import (
    compose_record_get,
    composed_email_get,
    email_template_get,
    email_template_list,
)
from crm.services import compose as service
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

# --- templates ------------------------------------------------------------------------------


class EmailTemplateFilterSet(SearchFilterSet):
    search_fields = ("name", "subject")
    state = django_filters.ChoiceFilter(
        choices=[("archived", "Archived")],
        method="filter_state",
        empty_label="In use",
        label="State",
    )

    class Meta:
        model = EmailTemplate
        fields = ["q", "state"]

    def filter_state(self, queryset, name, value):
        return queryset.filter(archived_at__isnull=False) if value == "archived" else queryset


class EmailTemplateListView(FilteredListView):
    filterset_class = EmailTemplateFilterSet
    title = "Email templates"
    empty_noun = "email templates"
    row_template = "crm/rows/email_template.html"
    template_name = "crm/email_template_list.html"
    create_url_name = "email_template_create"
    saved_views_enabled = False
    columns = [
        Column("Name", sort="name"),
        Column("Subject"),
        Column("Owner"),
        Column("Shared with"),
        Column("Updated", sort="updated"),
    ]
    sorts = {"name": ("name", "id"), "updated": ("updated_at", "id")}
    default_sort = "name"

    list_selector = email_template_list

    def base_queryset(self):
        queryset = super().base_queryset().select_related("owner")
        if self.request.GET.get("state") != "archived":  # archived ones only when asked
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset


def _template_form_page(request, form, template=None, status=200):
    return render(
        request,
        "crm/email_template_form.html",
        {"form": form, "object": template, "cancel_url": reverse("email_template_list")},
        status=status,
    )


def _template_save(request, form, save):
    try:
        return save(
            user=request.user,
            **{name: form.cleaned_data[name] for name in ("name", "subject", "body", "sharing")},
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return None


@login_required
@submitted_once
def email_template_create(request):
    form = EmailTemplateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        template = _template_save(request, form, service.email_template_create)
        if template is not None:
            messages.success(request, f"Template “{template.name}” saved.")
            return HttpResponseRedirect(reverse("email_template_list"))
    return _template_form_page(request, form, status=400 if form.errors else 200)


@login_required
@submitted_once
def email_template_edit(request, pk):
    template = email_template_get(user=request.user, pk=pk, for_change=True)
    form = EmailTemplateForm(request.POST or None, instance=template, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = _template_save(
            request,
            form,
            lambda **kw: service.email_template_update(
                template=email_template_get(user=request.user, pk=pk, for_change=True), **kw
            ),
        )
        if saved is not None:
            messages.success(request, f"Template “{saved.name}” saved.")
            return HttpResponseRedirect(reverse("email_template_list"))
    return _template_form_page(request, form, template, status=400 if form.errors else 200)


@login_required
@require_POST
@submitted_once
def email_template_archive(request, pk):
    template = email_template_get(user=request.user, pk=pk, for_change=True)
    archived = request.POST.get("restore") != "1"
    service.email_template_archive(template=template, archived=archived)
    verb = "archived" if archived else "back in use"
    messages.success(request, f"Template “{template.name}” {verb}.")
    return HttpResponseRedirect(reverse("email_template_list"))


@login_required
@submitted_once
def email_signature(request):
    form = SignatureForm(request.POST or None, initial={"signature": request.user.email_signature})
    if request.method == "POST" and form.is_valid():
        service.user_signature_set(user=request.user, signature=form.cleaned_data["signature"])
        messages.success(request, "Signature saved.")
        return HttpResponseRedirect(reverse("email_template_list"))
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "verbose_name": "email signature",
            "cancel_url": reverse("email_template_list"),
        },
    )


# --- writing an email -----------------------------------------------------------------------


def _compose_page(request, *, target, record, form, status=200):
    return render(
        request,
        "crm/compose.html",
        {
            "form": form,
            "target": target,
            "record": record,
            "recipients": target.recipients(record),
            "has_mailbox": _has_mailbox(request.user),
        },
        status=status,
    )


def _has_mailbox(user) -> bool:
    from crm.models import Mailbox

    return Mailbox.objects.filter(user=user).exclude(smtp_host="").exists()


@login_required
@submitted_once
def compose(request, kind, pk):
    target, record = compose_record_get(user=request.user, kind=kind, pk=pk)
    if request.method != "POST":
        recipients = target.recipients(record)
        form = ComposeForm(
            user=request.user, initial={"to_email": recipients[0].email if recipients else ""}
        )
        return _compose_page(request, target=target, record=record, form=form)
    form = ComposeForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            composed = service.email_compose(
                user=request.user,
                kind=kind,
                record=record,
                to_email=data["to_email"],
                cc=data["cc"],
                subject=data["subject"],
                body=data["body"],
                template=data["template"],
                uploads=data["attachments"],
                send_at=data["send_at"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if composed.send_at:
                messages.success(request, f"Email to {composed.to_email} scheduled.")
            else:
                messages.success(request, f"Email to {composed.to_email} is on its way.")
            return HttpResponseRedirect(record.get_absolute_url())
    return _compose_page(request, target=target, record=record, form=form, status=400)


@login_required
@require_GET
def compose_template(request, kind, pk):
    """The subject and body of the chosen template, filled from the record (HTMX)."""
    _, record = compose_record_get(user=request.user, kind=kind, pk=pk)
    raw = request.GET.get("template", "")
    if not raw:
        return HttpResponse(status=204)  # "No template": what was typed stays
    template = email_template_get(user=request.user, pk=raw)
    values = service.merge_values(kind=kind, record=record, user=request.user)
    form = ComposeForm(
        user=request.user,
        initial={
            "subject": " ".join(service.merge_render(template.subject, values).split()),
            "body": service.merge_render(template.body, values),
        },
    )
    return render(request, "crm/_compose_message.html", {"form": form})


@login_required
@require_POST
@submitted_once
def composed_email_cancel(request, pk):
    composed = composed_email_get(user=request.user, pk=pk)
    if service.composed_email_cancel(composed=composed):
        messages.success(request, f"Email to {composed.to_email} cancelled: it will not be sent.")
    else:
        messages.error(request, "That email has already left; it cannot be cancelled.")
    related = composed.related
    return HttpResponseRedirect(related.get_absolute_url() if related is not None else "/")


# --- public tracking ------------------------------------------------------------------------


def mail_open(request, token):
    """The 1×1 image at the end of a tracked email: counts an open."""
    data = service.token_read(token, salt=service.OPEN_SALT)
    if data is None:
        return HttpResponse(status=404)
    service.composed_email_opened(email_id=data["m"])
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def mail_click(request, token):
    """A tracked link: counts the click and goes on to the address that was in the email, which
    only a token signed by us carries (never an open redirect)."""
    data = service.token_read(token, salt=service.CLICK_SALT)
    url = data.get("u") if data else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return render(request, "crm/mail_bad_link.html", status=400)
    service.composed_email_clicked(email_id=data["m"])
    return HttpResponseRedirect(url)
