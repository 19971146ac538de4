"""Tickets in the REST API (registered in ``support.apps``): read with the desk's visibility,
opened, changed (status, priority, assignee) and answered (replies and internal notes) through
the ticket services."""

from django import forms
from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.serializers import RecordSerializer
from crm.api.viewsets import RecordViewSet, WritableRecordViewSet, form_data, form_errors
from crm.permissions import may_work_tickets
from support import selectors
from support.choices import Priority
from support.filtersets import ArticleFilterSet, TicketFilterSet
from support.forms import (
    AssignForm,
    NoteForm,
    PriorityForm,
    ReplyForm,
    StatusForm,
    TicketCreateForm,
)
from support.models import Article, Ticket, TicketMessage
from support.services import tickets as ticket_services

CREATE_FIELDS = list(TicketCreateForm.Meta.fields)


class TicketSerializer(RecordSerializer):
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            *CREATE_FIELDS,
            "status",
            "tags",
            "first_response_due_at",
            "resolution_due_at",
            "first_responded_at",
            "resolved_at",
            "first_response_breached",
            "resolution_breached",
            "merged_into",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [f for f in fields if f not in CREATE_FIELDS]


class TicketMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketMessage
        fields = ["id", "kind", "author_user", "author_contact", "body", "created_at"]


class TicketChangeForm(forms.Form):
    """What a PATCH changes, each through its own service (as the ticket page's forms do)."""

    status = forms.CharField(required=False)
    priority = forms.ChoiceField(choices=Priority.choices, required=False)
    assignee = forms.IntegerField(required=False)


TicketChangeRequest = inline_serializer(
    "PatchedTicketChangeRequest",
    {
        "status": serializers.CharField(required=False),
        "priority": serializers.ChoiceField(choices=Priority.choices, required=False),
        "assignee": serializers.IntegerField(required=False, allow_null=True),
    },
)
ReplyRequest = inline_serializer(
    "TicketReplyRequest",
    {
        "body": serializers.CharField(),
        "status": serializers.CharField(required=False, help_text="Then set this status."),
    },
)
NoteRequest = inline_serializer("TicketNoteRequest", {"body": serializers.CharField()})


class TicketViewSet(WritableRecordViewSet):
    """Tickets: agents and admins all, managers their teams', reps those of accounts they own
    (read only); the desk (agents, managers, admins) opens, changes and answers them."""

    serializer_class = TicketSerializer
    list_selector = selectors.ticket_list
    get_selector = selectors.ticket_get
    filterset_class = TicketFilterSet
    ordering_fields = ("id", "created_at")
    form_class = TicketCreateForm

    def get_queryset(self):
        return super().get_queryset().prefetch_related("tags")

    def may_create(self, user) -> bool:
        return may_work_tickets(user)

    def create(self, request, *args, **kwargs):
        if not self.may_create(request.user):
            raise exceptions.PermissionDenied("Your role does not open tickets.")
        form, data = self.validated()
        with transaction.atomic():
            ticket = ticket_services.ticket_create(
                user=request.user, **{name: data[name] for name in CREATE_FIELDS}
            )
            if form.cleaned_data.get("tag_names"):
                ticket_services.ticket_set_tags(
                    ticket=ticket, names=form.cleaned_data["tag_names"], user=request.user
                )
        return self.record_response(self.reread(ticket), status_code=status.HTTP_201_CREATED)

    @extend_schema(request=TicketChangeRequest, responses=TicketSerializer)
    def partial_update(self, request, *args, **kwargs):
        ticket = self.get_record(for_change=True)
        data, sent = form_data(request.data, form_class=TicketChangeForm)
        checks = {
            "status": lambda: StatusForm({"status": data["status"]}, ticket=ticket),
            "priority": lambda: PriorityForm({"priority": data["priority"]}),
            "assignee": lambda: AssignForm({"assignee": data["assignee"]}),
        }
        cleaned, errors = {}, {}
        for name in sent:
            form = checks[name]()
            if form.is_valid():
                cleaned[name] = form.cleaned_data[name]
            else:
                errors.update(form_errors(form))
        if errors:
            raise exceptions.ValidationError(errors)
        with transaction.atomic():
            current = self.locked(ticket)
            if "assignee" in cleaned:
                ticket_services.ticket_assign(
                    ticket=current, assignee=cleaned["assignee"], user=request.user
                )
            if "priority" in cleaned:
                ticket_services.ticket_change_priority(
                    ticket=current, priority=cleaned["priority"], user=request.user
                )
            if "status" in cleaned:
                ticket_services.ticket_change_status(
                    ticket=current, status=cleaned["status"], user=request.user
                )
        return self.record_response(self.reread(ticket))

    @extend_schema(methods=["GET"], request=None, responses=TicketMessageSerializer(many=True))
    @extend_schema(methods=["POST"], request=ReplyRequest, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def replies(self, request, pk=None):
        """GET: the conversation, oldest first (the request, replies and internal notes).
        POST: a public reply, emailed to the contact (and, with ``status``, a status change)."""
        if request.method == "GET":
            ticket = self.get_record()
            messages = selectors.ticket_thread(ticket=ticket)
            return Response(TicketMessageSerializer(messages, many=True).data)
        ticket = self.get_record(for_change=True)

        def reply(current, data):
            message = ticket_services.ticket_reply(
                ticket=current,
                user=request.user,
                body=data["body"],
                status=data["status"] or None,
            )
            return Response(TicketMessageSerializer(message).data, status=status.HTTP_201_CREATED)

        return self.act(form_class=ReplyForm, action=reply, form_kwargs={"ticket": ticket})

    @extend_schema(request=NoteRequest, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request, pk=None):
        """An internal note on the ticket (not sent to the customer)."""

        def note(current, data):
            message = ticket_services.ticket_note(
                ticket=current, user=request.user, body=data["body"]
            )
            return Response(TicketMessageSerializer(message).data, status=status.HTTP_201_CREATED)

        return self.act(form_class=NoteForm, action=note)


class ArticleSerializer(RecordSerializer):
    category = serializers.SlugRelatedField(read_only=True, slug_field="name")
    public_url = serializers.SerializerMethodField()

    class Meta:
        model = Article
        fields = [
            "id",
            "title",
            "slug",
            "summary",
            "body",
            "category",
            "status",
            "visibility",
            "public_url",
            "published_at",
            "updated_at",
            "view_count",
            "helpful_yes",
            "helpful_no",
        ]

    def get_public_url(self, article) -> str | None:
        return settings.SITE_URL + article.get_public_url() if article.is_public else None


class ArticleViewSet(RecordViewSet):
    """Knowledge-base articles (read only), as the caller reads them on ``/kb/``: the desk every
    article, other roles the published ones. ``?q=`` searches as the help centre does."""

    serializer_class = ArticleSerializer
    list_selector = selectors.article_list
    get_selector = selectors.article_get
    list_related = ("category",)
    filterset_class = ArticleFilterSet
    ordering_fields = ("id", "updated_at", "view_count")
