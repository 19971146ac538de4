import uuid

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.core.exceptions import ValidationError

from crm.custom_fields.forms import PREFIX, CustomFieldsFormMixin
from crm.selectors import account_list, contact_list, is_record_key
from crm.widgets import AutocompleteSelect, FastSelect, read_choices_plainly
from support.choices import ALLOWED_TRANSITIONS, AssignmentMode, Priority, TicketStatus
from support.models import Article, ArticleCategory, CannedReply, Ticket
from support.selectors import queue_list, ticket_list
from support.services.attachments import attachment_check, max_files
from support.services.canned import MERGE_FIELDS, canned_check
from support.services.tickets import AGENTS, agents_for_assignment


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Several files at once, each checked by content (type and size) as the form validates."""

    widget = MultipleFileInput

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Attachments")
        kwargs.setdefault("help_text", "PNG, JPEG, GIF, PDF or text files.")
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if len(files) > max_files():
            raise ValidationError(f"At most {max_files()} files may be attached.")
        errors = []
        for upload in files:
            try:
                attachment_check(name=upload.name, upload=upload)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        return files


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), label="Reply to the customer")
    status = forms.ChoiceField(required=False, label="Then set status")
    files = AttachmentsField()
    # A key per opened form: sent twice, the same reply is found, not sent again.
    submission = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, ticket, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submission", uuid.uuid4().hex)
        allowed = ALLOWED_TRANSITIONS[ticket.status]
        self.fields["status"].choices = [("", "Leave as it is")] + [
            (value, label) for value, label in TicketStatus.choices if value in allowed
        ]


class NoteForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Internal note")
    files = AttachmentsField()


class StatusForm(forms.Form):
    status = forms.ChoiceField()

    def __init__(self, *args, ticket, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = ALLOWED_TRANSITIONS[ticket.status]
        self.fields["status"].choices = [
            (value, label) for value, label in TicketStatus.choices if value in allowed
        ]


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=agents_for_assignment(),
        required=False,
        empty_label="Nobody",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(
        choices=Priority.choices,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )


class MergeForm(forms.Form):
    target = forms.CharField(label="Merge into ticket", help_text="Its reference, e.g. T-000123.")

    def __init__(self, *args, user, ticket, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.ticket = user, ticket

    def clean_target(self):
        value = self.cleaned_data["target"].strip().upper()
        if value.isdigit():
            value = Ticket.reference_for(int(value))
        target = ticket_list(user=self.user, for_change=True).filter(reference=value).first()
        if target is None:
            raise ValidationError("No ticket you may change has that reference.")
        if target.pk == self.ticket.pk:
            raise ValidationError("A ticket cannot be merged into itself.")
        return target


def _small_select(label: str) -> FastSelect:
    return FastSelect(attrs={"class": "form-select form-select-sm", "aria-label": label})


class BulkForm(forms.Form):
    ACTIONS = [
        ("assign", "Assign to"),
        ("unassign", "Unassign"),
        ("status", "Set status"),
        ("priority", "Set priority"),
    ]
    tickets = forms.TypedMultipleChoiceField(coerce=int, choices=())
    action = forms.ChoiceField(choices=ACTIONS, widget=_small_select("Action"))
    assignee = forms.ModelChoiceField(
        queryset=agents_for_assignment(),
        required=False,
        empty_label="Assignee…",
        widget=_small_select("Assignee"),
    )
    status = forms.ChoiceField(
        choices=[("", "Status…"), *TicketStatus.choices],
        required=False,
        widget=_small_select("Status"),
    )
    priority = forms.ChoiceField(
        choices=[("", "Priority…"), *Priority.choices],
        required=False,
        widget=_small_select("Priority"),
    )
    seen_at = forms.DateTimeField(
        required=False,
        widget=forms.HiddenInput,
        help_text="When the list was read: rows changed since are left alone.",
    )

    def __init__(self, data=None, *, user=None, **kwargs):
        """``user``: the request's, whose catalog the agents offered are read from."""
        super().__init__(data, **kwargs)
        # The ids are checked against what the user may change by the service.
        values = data.getlist("tickets") if data is not None else []
        self.fields["tickets"].choices = [(v, v) for v in values if is_record_key(v)]
        if data is None:
            read_choices_plainly(self.fields["assignee"], user, name=AGENTS)

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        needed = {"assign": "assignee", "status": "status", "priority": "priority"}.get(action)
        if needed and not cleaned.get(needed):
            self.add_error(needed, "Choose a value for this action.")
        return cleaned


class TicketCreateForm(CustomFieldsFormMixin, forms.ModelForm):
    tag_names = forms.CharField(
        required=False, label="Tags", help_text="Separated by commas, e.g. refund, outage."
    )
    files = AttachmentsField()

    class Meta:
        model = Ticket
        fields = [
            "subject",
            "description",
            "contact",
            "account",
            "channel",
            "priority",
            "category",
            "queue",
            "assignee",
        ]
        widgets = {
            "contact": AutocompleteSelect("contact_autocomplete"),
            "account": AutocompleteSelect("account_autocomplete"),
            "description": forms.Textarea(attrs={"rows": 5}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["contact"].queryset = contact_list(user=user)
        self.fields["account"].queryset = account_list(user=user)
        self.fields["queue"].queryset = queue_list(user=user).order_by("name")
        self.fields["assignee"].queryset = agents_for_assignment()
        self.fields["assignee"].help_text = "Empty: the queue's assignment rule decides."
        self.add_custom_fields(user)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "subject",
            "description",
            Row(Column("contact"), Column("account")),
            Row(Column("channel"), Column("priority"), Column("category")),
            Row(Column("queue"), Column("assignee")),
            Row(Column("tag_names"), Column("files")),
            self.custom_fields_layout(),
        )

    def clean_tag_names(self):
        return [t.strip() for t in self.cleaned_data["tag_names"].split(",") if t.strip()][:10]

    def clean(self):
        cleaned = super().clean()
        contact, account = cleaned.get("contact"), cleaned.get("account")
        if contact and account and contact.account_id and contact.account_id != account.pk:
            self.add_error("account", "This contact belongs to another account.")
        return cleaned


class TicketCustomFieldsForm(CustomFieldsFormMixin, forms.Form):
    """A ticket's custom fields, edited on their own (the rest of a ticket changes through
    its actions: status, priority, assignee, tags)."""

    custom_entity = "ticket"

    def __init__(self, *args, ticket, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = ticket
        self.add_custom_fields(user)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(*(PREFIX + f.key for f in self.custom_definitions))


class PublicTicketForm(forms.Form):
    name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(label="Your email")
    subject = forms.CharField(max_length=200)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), label="How can we help?", max_length=20000
    )
    files = AttachmentsField()
    # A field people never see; bots fill it in.
    website = forms.CharField(required=False, label="Leave this empty")


class CsatForm(forms.Form):
    rating = forms.TypedChoiceField(
        coerce=int,
        choices=[(i, str(i)) for i in range(1, 6)],
        widget=forms.RadioSelect,
        label="How satisfied are you with our help? (1 = not at all, 5 = very)",
    )
    comment = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


class CannedReplyForm(forms.ModelForm):
    class Meta:
        model = CannedReply
        fields = ["title", "body", "is_active"]
        widgets = {"body": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body"].help_text = "Merge fields: " + ", ".join(
            "{{ " + f + " }}" for f in MERGE_FIELDS
        )
        self.fields["is_active"].help_text = "Inactive replies are kept but not offered to agents."
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_body(self):
        body = self.cleaned_data["body"]
        canned_check(body)
        return body


class QueueAssignmentForm(forms.Form):
    """A queue's assignment rule and which of its members are on shift."""

    assignment_mode = forms.ChoiceField(choices=AssignmentMode.choices, label="New tickets go")
    on_shift = forms.TypedMultipleChoiceField(coerce=int, required=False, label="On shift")

    def __init__(self, *args, queue, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["on_shift"].choices = [(m.user_id, str(m.user)) for m in queue.agents.all()]

    def on_shift_ids(self) -> set[int]:
        """The ticked members, as given (a re-rendered form keeps what was ticked)."""
        return {int(v) for v in self["on_shift"].value() or () if str(v).isdigit()}


class ArticleForm(forms.ModelForm):
    """An article's text, category and who may read it; its status changes on its page."""

    class Meta:
        model = Article
        fields = ["title", "slug", "summary", "body", "category", "visibility"]
        widgets = {"body": forms.Textarea(attrs={"rows": 16})}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields[
            "slug"
        ].help_text = (
            "The end of the article's help-centre address; made from the title when left empty."
        )
        self.fields["category"].queryset = ArticleCategory.objects.order_by("order", "name")
        self.fields["category"].required = False
        self.helper = FormHelper()
        self.helper.form_tag = False

    def validate_unique(self):
        # The service makes the slug unique (a number added when the title's is taken).
        exclude = self._get_validation_exclusions()
        exclude.add("slug")
        try:
            self.instance.validate_unique(exclude=exclude)
        except ValidationError as exc:
            self._update_errors(exc)


class ArticleCategoryForm(forms.ModelForm):
    class Meta:
        model = ArticleCategory
        fields = ["name", "slug", "description", "order"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Its help-centre address; made from the name when empty."
        self.fields["order"].help_text = "Smaller numbers come first in the help centre."
        self.helper = FormHelper()
        self.helper.form_tag = False
