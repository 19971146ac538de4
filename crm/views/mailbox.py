"""The user's mailbox settings: connect (password or OAuth2), test, change, sync, disconnect.

Every page here works on ``request.user``'s own mailbox and nobody else's, so there is no id in
any URL to guess. Stored passwords and tokens are never sent back to the browser.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from crm.choices import MailSecurity
from crm.mail import oauth
from crm.mail.connect import MailConnectError, host_check
from crm.models import Mailbox
from crm.services import mailboxes


class MailboxForm(forms.Form):
    email_address = forms.EmailField(label="Email address")
    imap_host = forms.CharField(max_length=255, label="IMAP server")
    imap_port = forms.IntegerField(min_value=1, max_value=65535, initial=993, label="Port")
    imap_security = forms.ChoiceField(
        choices=MailSecurity.choices, initial=MailSecurity.SSL, label="Security"
    )
    imap_username = forms.CharField(
        max_length=255, required=False, label="User name", help_text="Empty: the address."
    )
    imap_password = forms.CharField(
        max_length=500,
        required=False,
        label="Password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    smtp_host = forms.CharField(max_length=255, required=False, label="SMTP server")
    smtp_port = forms.IntegerField(min_value=1, max_value=65535, initial=587, label="Port")
    smtp_security = forms.ChoiceField(
        choices=MailSecurity.choices, initial=MailSecurity.STARTTLS, label="Security"
    )
    smtp_username = forms.CharField(
        max_length=255, required=False, label="User name", help_text="Empty: as for IMAP."
    )
    smtp_password = forms.CharField(
        max_length=500,
        required=False,
        label="Password",
        help_text="Empty: as for IMAP.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    folders = forms.CharField(
        required=False,
        label="Folders to sync",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line. Empty: the inbox and the sent folder.",
    )
    private_label = forms.CharField(
        max_length=100,
        initial="Private",
        label="Private label",
        help_text="Mail with this label (keyword, tag or Gmail label) or in a folder of this "
        "name is never imported.",
    )

    SERVER_FIELDS = (
        "email_address",
        "imap_host",
        "imap_port",
        "imap_security",
        "imap_username",
        "imap_password",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_username",
        "smtp_password",
    )

    def __init__(self, *args, mailbox: Mailbox | None = None, **kwargs):
        self.mailbox = mailbox
        if mailbox is not None and "data" not in kwargs and not args:
            kwargs["initial"] = {
                **{name: getattr(mailbox, name) for name in mailboxes.SETTINGS_FIELDS},
                "folders": "\n".join(f.name for f in mailbox.folders.all()),
            }
        super().__init__(*args, **kwargs)
        if mailbox is not None and mailbox.uses_oauth:
            # The provider's servers and sign-in are fixed: only what to read can change.
            for name in self.SERVER_FIELDS:
                del self.fields[name]
        for field in self.fields.values():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs.setdefault("class", css)
        if mailbox is not None and "imap_password" in self.fields:
            for name in mailboxes.SECRET_FIELDS:
                if getattr(mailbox, name):
                    self.fields[name].widget.attrs["placeholder"] = "Stored (empty keeps it)"

    def clean(self):
        data = super().clean()
        if "imap_host" not in self.fields:
            return data
        if not data.get("imap_password") and not (self.mailbox and self.mailbox.imap_password):
            self.add_error("imap_password", "Enter the mailbox's password.")
        for host_field, port_field in (("imap_host", "imap_port"), ("smtp_host", "smtp_port")):
            host, port = data.get(host_field), data.get(port_field)
            if host and port:
                try:
                    host_check(host.strip(), port)
                except MailConnectError as error:
                    self.add_error(host_field, str(error))
        return data

    def settings_data(self) -> dict:
        data = self.cleaned_data
        return {
            name: data[name].strip() if isinstance(data[name], str) else data[name]
            for name in mailboxes.SETTINGS_FIELDS
            if name in data
        }

    def secrets(self) -> dict:
        return {name: self.cleaned_data.get(name) or "" for name in mailboxes.SECRET_FIELDS}

    def folder_names(self) -> list[str] | None:
        text = self.cleaned_data.get("folders") or ""
        names = [line.strip() for line in text.splitlines() if line.strip()]
        return names

    def candidate(self) -> Mailbox:
        """An unsaved mailbox with the form's values (stored passwords where left empty), for
        "Test connection" before saving."""
        base = self.mailbox
        mailbox = Mailbox(user_id=base.user_id if base else None)
        if base is not None:
            for f in Mailbox._meta.concrete_fields:
                setattr(mailbox, f.attname, getattr(base, f.attname))
        for name, value in self.settings_data().items():
            setattr(mailbox, name, value)
        for name, value in self.secrets().items():
            if value:
                setattr(mailbox, name, value)
        return mailbox


def _page(request, *, mailbox, form, test_result=None, status=200):
    return render(
        request,
        "crm/mailbox_settings.html",
        {
            "mailbox": mailbox,
            "form": form,
            "test_result": test_result,
            "folders": list(mailbox.folders.all()) if mailbox else [],
            "providers": oauth.configured_providers(),
        },
        status=status,
    )


@login_required
def mailbox_settings(request):
    mailbox = mailboxes.mailbox_of(user=request.user)
    if request.method != "POST":
        return _page(request, mailbox=mailbox, form=MailboxForm(mailbox=mailbox))
    form = MailboxForm(data=request.POST, mailbox=mailbox)
    if not form.is_valid():
        return _page(request, mailbox=mailbox, form=form, status=400)
    if request.POST.get("action") == "test":
        candidate = form.candidate() if "imap_host" in form.fields else mailbox
        result = mailboxes.mailbox_test(mailbox=candidate)
        return _page(request, mailbox=mailbox, form=form, test_result=result)
    try:
        if mailbox is None:
            mailbox = mailboxes.mailbox_connect(
                user=request.user,
                data=form.settings_data(),
                secrets=form.secrets(),
                folders=form.folder_names(),
            )
            messages.success(request, "Mailbox connected: the first sync starts now.")
        else:
            mailboxes.mailbox_update(
                mailbox=mailbox,
                data=form.settings_data(),
                secrets=form.secrets(),
                folders=form.folder_names(),
            )
            messages.success(request, "Mailbox settings saved.")
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, mailbox=mailbox, form=form, status=400)
    return redirect("mailbox_settings")


def _own_mailbox(request) -> Mailbox:
    mailbox = mailboxes.mailbox_of(user=request.user)
    if mailbox is None:
        raise Http404("No mailbox is connected.")
    return mailbox


@login_required
@require_POST
def mailbox_disconnect(request):
    mailboxes.mailbox_disconnect(mailbox=_own_mailbox(request))
    messages.info(request, "Mailbox disconnected: its stored password and tokens are deleted.")
    return redirect("mailbox_settings")


@login_required
@require_POST
def mailbox_sync_now(request):
    mailboxes.mailbox_sync_now(mailbox=_own_mailbox(request))
    messages.info(request, "The mailbox will be synced in a moment.")
    return redirect("mailbox_settings")


@login_required
def mailbox_oauth_start(request, provider):
    chosen = oauth.provider_get(provider)
    if chosen is None:
        raise Http404("This provider is not configured.")
    return redirect(oauth.authorization_start(provider=chosen, session=request.session))


@login_required
def mailbox_oauth_callback(request):
    try:
        provider, tokens = oauth.authorization_finish(session=request.session, params=request.GET)
        mailbox = oauth.mailbox_connect_oauth(user=request.user, provider=provider, tokens=tokens)
    except oauth.OAuthError as error:
        messages.error(request, str(error))
        return redirect("mailbox_settings")
    messages.success(
        request,
        f"{mailbox.email_address} connected with {provider.label}: the first sync starts now.",
    )
    return redirect("mailbox_settings")
