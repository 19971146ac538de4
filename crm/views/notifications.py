"""The bell: a user's notifications, their latest in the top bar's menu and all on a page, and
the email digest settings on the user's settings page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from crm import registry
from crm.filtersets import NotificationFilterSet
from crm.models.notifications import DigestFrequency
from crm.selectors import notification_get, notification_list, notification_unread_count
from crm.services.notifications import (
    notification_mark_all_read,
    notification_mark_read,
    notification_settings_default,
    notification_settings_save,
)
from crm.views import safe_next
from crm.views.lists import Column, FilteredListView, is_htmx

#: Notifications the bell's menu shows.
MENU_SIZE = 10


class NotificationListView(FilteredListView):
    list_selector = notification_list
    filterset_class = NotificationFilterSet
    title = "Notifications"
    template_name = "crm/notification_list.html"
    row_template = "crm/rows/notification.html"
    empty_noun = "notifications"
    empty_text = "Nothing yet: you are told here when something needs you."
    columns = [Column("What"), Column("Kind"), Column("By"), Column("When", sort="created")]
    sorts = {"created": ("created_at", "id")}
    default_sort = "-created"

    def base_queryset(self):
        return super().base_queryset().select_related("actor")


@login_required
@require_GET
def notification_menu(request):
    """The bell's menu (loaded by HTMX when it opens): the latest notifications."""
    return render(request, "crm/_notification_menu.html", _menu_context(request))


def _menu_context(request) -> dict:
    return {
        "notifications": list(notification_list(user=request.user)[:MENU_SIZE]),
        "unread_count": notification_unread_count(user=request.user),
    }


@login_required
@require_GET
def notification_open(request, pk):
    """Follow a notification to what it is about, marking it read."""
    notification = notification_get(user=request.user, pk=pk)
    notification_mark_read(notification=notification, user=request.user)
    url = notification.url
    if not url or not url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        url = reverse("notification_list")  # only paths of this site, never another host
    return HttpResponseRedirect(url)


@login_required
@require_POST
def notification_read(request, pk):
    """Mark one notification read without leaving the page."""
    notification = notification_get(user=request.user, pk=pk)
    notification_mark_read(notification=notification, user=request.user)
    return HttpResponseRedirect(safe_next(request, reverse("notification_list")))


@login_required
@require_POST
def notification_read_all(request):
    marked = notification_mark_all_read(user=request.user)
    if is_htmx(request):
        return render(request, "crm/_notification_menu.html", _menu_context(request))
    messages.info(request, f"{marked} notification{'s' if marked != 1 else ''} marked read.")
    return HttpResponseRedirect(safe_next(request, reverse("notification_list")))


class NotificationSettingsForm(forms.Form):
    digest = forms.ChoiceField(
        choices=DigestFrequency.choices,
        label="Email digest",
        help_text="One email listing your unread notifications since the last one.",
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    email_kinds = forms.MultipleChoiceField(
        choices=(),
        required=False,
        label="Include",
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email_kinds"].choices = registry.notification_kinds.choices()


def notification_settings_form(user) -> NotificationSettingsForm:
    current = notification_settings_default(user=user)
    return NotificationSettingsForm(
        initial={"digest": current.digest, "email_kinds": current.email_kinds}
    )


@login_required
@require_POST
def notification_settings_update(request):
    from crm.views.me import user_settings

    form = NotificationSettingsForm(request.POST)
    if form.is_valid():
        try:
            notification_settings_save(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Your notification settings are saved.")
            return HttpResponseRedirect(reverse("user_settings") + "#notifications")
    return user_settings(request, notification_form=form, status=400)
