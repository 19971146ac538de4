"""The shared core's API resources: accounts, contacts, the timeline's activities and tasks,
segments, users and teams (registered in ``crm.apps``)."""

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action

from crm import registry, selectors
from crm.api.exceptions import NON_FIELD
from crm.api.serializers import RecordSerializer
from crm.api.viewsets import RecordViewSet, WritableRecordViewSet, form_data, form_errors
from crm.choices import ActivityKind
from crm.filtersets import AccountFilterSet, ContactFilterSet, TaskFilterSet
from crm.forms import AccountForm, ActivityForm, ContactForm, TaskEditForm
from crm.models import Account, Activity, Contact, Segment, Task, Team, User
from crm.models.users import users_with_role
from crm.permissions import has_role
from crm.services import customers
from crm.services.timeline import activity_log, task_complete, task_create, task_update


class AccountSerializer(RecordSerializer):
    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "domain",
            "industry",
            "size_band",
            "country",
            "owner",
            "lifecycle_stage",
            "billing_address",
            "currency",
            "quality",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["quality", "created_at", "updated_at"]


class AccountViewSet(WritableRecordViewSet):
    """Customer companies: every role reads them; sellers create them; owners (and their
    managers) change them."""

    serializer_class = AccountSerializer
    list_selector = selectors.account_list
    get_selector = selectors.account_get
    filterset_class = AccountFilterSet
    ordering_fields = ("id", "created_at", "updated_at", "quality")
    form_class = AccountForm
    create_service = customers.account_create
    update_service = customers.account_update
    object_name = "account"


class ContactSerializer(RecordSerializer):
    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "account",
            "owner",
            "email_consent",
            "marketing_consent",
            "quality",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["quality", "created_at", "updated_at"]


class ContactViewSet(WritableRecordViewSet):
    """People at customers: every role reads them; sellers create them; owners change them."""

    serializer_class = ContactSerializer
    list_selector = selectors.contact_list
    get_selector = selectors.contact_get
    filterset_class = ContactFilterSet
    ordering_fields = ("id", "created_at", "updated_at", "quality")
    form_class = ContactForm
    create_service = customers.contact_create
    update_service = customers.contact_update
    object_name = "contact"


# The timeline: activities and tasks, written only on records the caller may change. -------


class SubjectForm(forms.Form):
    """The record an activity or task is about: its type (``leads.lead``, ``crm.account``…)
    and id; only a record the caller may change takes entries (404 otherwise)."""

    subject_type = forms.CharField(max_length=100)
    subject_id = forms.IntegerField(min_value=1)


def subject_for(user, data, *, required: bool):
    label, pk = data.get("subject_type"), data.get("subject_id")
    if label in (None, "") and pk in (None, ""):
        if required:
            raise exceptions.ValidationError({"subject_type": ["Name the record it is about."]})
        return None
    form = SubjectForm({"subject_type": label, "subject_id": pk})
    if not form.is_valid():
        raise exceptions.ValidationError(form_errors(form))
    model = registry.timeline.model_for(form.cleaned_data["subject_type"])
    if model is None:
        raise exceptions.ValidationError({"subject_type": ["Not a record with a timeline."]})
    return selectors.record_get(
        selectors.scoped(model, user=user, for_change=True), form.cleaned_data["subject_id"]
    )


class ActivitySerializer(RecordSerializer):
    subject_type = serializers.SerializerMethodField()
    subject_id = serializers.IntegerField(source="object_id", read_only=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "subject_type",
            "subject_id",
            "kind",
            "summary",
            "body",
            "occurred_at",
            "actor",
            "created_at",
        ]
        read_only_fields = ["actor", "created_at"]

    def get_subject_type(self, obj) -> str:
        return ContentType.objects.get_for_id(obj.content_type_id).model_class()._meta.label_lower


#: The kinds of activity a person logs (system entries are written by the CRM itself).
LOGGED_KINDS = [c for c in ActivityKind.choices if c[0] != ActivityKind.SYSTEM]
SUBJECT_FIELDS = {
    "subject_type": serializers.CharField(help_text="The record's type, e.g. leads.lead."),
    "subject_id": serializers.IntegerField(),
}
ActivityRequest = inline_serializer(
    "ActivityRequest",
    {
        **SUBJECT_FIELDS,
        "kind": serializers.ChoiceField(choices=LOGGED_KINDS),
        "summary": serializers.CharField(max_length=200),
        "body": serializers.CharField(required=False),
        "occurred_at": serializers.DateTimeField(required=False),
    },
)


class ActivityViewSet(RecordViewSet):
    """Timeline entries the caller sees (their own and those of records they own); a POST logs a
    call, email, meeting or note on a record the caller may change."""

    serializer_class = ActivitySerializer
    list_selector = selectors.activity_list
    http_method_names = ["get", "post", "head", "options"]

    @staticmethod
    def get_selector(*, user, pk, for_change=False):
        return selectors.record_get(selectors.activity_list(user=user), pk)

    @extend_schema(request=ActivityRequest, responses={201: ActivitySerializer})
    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({NON_FIELD: ["Send a JSON object."]})
        subject = subject_for(request.user, request.data, required=True)
        data, _sent = form_data(request.data, form_class=ActivityForm)
        form = ActivityForm(data=data)
        if not form.is_valid():
            raise exceptions.ValidationError(form_errors(form))
        activity = activity_log(subject=subject, actor=request.user, **form.cleaned_data)
        return self.record_response(activity, status_code=status.HTTP_201_CREATED)


class TaskSerializer(RecordSerializer):
    subject_type = serializers.SerializerMethodField()
    subject_id = serializers.IntegerField(source="object_id", read_only=True, allow_null=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "notes",
            "due_at",
            "assignee",
            "subject_type",
            "subject_id",
            "created_by",
            "done_at",
            "done_by",
            "created_at",
        ]
        read_only_fields = ["created_by", "done_at", "done_by", "created_at"]

    def get_subject_type(self, obj) -> str | None:
        if obj.content_type_id is None:
            return None
        return ContentType.objects.get_for_id(obj.content_type_id).model_class()._meta.label_lower


TaskRequest = inline_serializer(
    "TaskRequest",
    {
        "subject_type": serializers.CharField(required=False),
        "subject_id": serializers.IntegerField(required=False),
        "title": serializers.CharField(max_length=200),
        "due_at": serializers.DateTimeField(),
        "assignee": serializers.IntegerField(required=False, help_text="Empty: you."),
        "notes": serializers.CharField(required=False),
    },
)


class TaskViewSet(WritableRecordViewSet):
    """Tasks assigned to the caller (their teams' for managers) or made by them; a task about a
    record is added only to a record the caller may change."""

    serializer_class = TaskSerializer
    list_selector = selectors.task_list
    get_selector = selectors.task_get
    list_related = ("assignee",)
    filterset_class = TaskFilterSet
    ordering_fields = ("id", "due_at")
    form_class = TaskEditForm

    def may_create(self, user) -> bool:
        return has_role(user)

    @extend_schema(request=TaskRequest, responses={201: TaskSerializer})
    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({NON_FIELD: ["Send a JSON object."]})
        subject = subject_for(request.user, request.data, required=False)
        _form, data = self.validated()
        task = task_create(subject=subject, created_by=request.user, **data)
        return self.record_response(task, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        task = self.get_record(for_change=True)
        form, _data = self.validated(instance=task)
        with transaction.atomic():
            current = self.locked(task)
            task_update(
                task=current,
                user=request.user,
                **{f: form.cleaned_data[f] for f in TaskEditForm.Meta.fields},
            )
        return self.record_response(self.get_record())

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Mark the task done (completing a done task changes nothing)."""
        return self.act(
            form_class=None, action=lambda task, data: task_complete(task=task, user=request.user)
        )


# Read only: segments, users and teams. --------------------------------------------------------


class SegmentSerializer(RecordSerializer):
    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "target",
            "definition",
            "owner",
            "shared",
            "created_at",
            "updated_at",
        ]


class SegmentViewSet(RecordViewSet):
    """Saved segments the caller sees (their own and shared ones)."""

    serializer_class = SegmentSerializer
    list_selector = selectors.segment_list
    get_selector = selectors.segment_get


class UserSerializer(RecordSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email", "roles"]

    def get_roles(self, obj) -> list[str]:
        return sorted(group.name for group in obj.groups.all())


def user_list(*, user, for_change: bool = False):
    """People who hold a role (owners and assignees of records), for anyone holding one."""
    if for_change or not has_role(user):
        return User.objects.none()
    return users_with_role().prefetch_related("groups")


def user_get(*, user, pk, for_change: bool = False):
    return selectors.record_get(user_list(user=user, for_change=for_change), pk)


class UserViewSet(RecordViewSet):
    """The people records are owned by and assigned to (active users holding a role)."""

    serializer_class = UserSerializer
    list_selector = staticmethod(user_list)
    get_selector = staticmethod(user_get)


class TeamSerializer(RecordSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "members", "managers"]


def team_list(*, user, for_change: bool = False):
    if for_change or not has_role(user):
        return Team.objects.none()
    return Team.objects.prefetch_related("members", "managers")


def team_get(*, user, pk, for_change: bool = False):
    return selectors.record_get(team_list(user=user, for_change=for_change), pk)


class TeamViewSet(RecordViewSet):
    """Teams, their members and managers."""

    serializer_class = TeamSerializer
    list_selector = staticmethod(team_list)
    get_selector = staticmethod(team_get)
