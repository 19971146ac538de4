"""The People pages (admins only; 404 for everyone else): the list of users, inviting one,
a person's roles and teams, deactivation, second-factor reset, lockout, and the teams. Every
change goes through ``crm.services.people`` and leaves an audit line."""

import hashlib

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from crm.auth import lockout
from crm.filtersets import PersonFilterSet
from crm.forms import InviteForm, PersonAccessForm, TeamForm
from crm.models import AuditEvent, SignInEvent, Team
from crm.permissions import may_administer_people
from crm.selectors import person_get, person_list, team_get, team_list
from crm.services import people
from crm.services.people import PeopleError, user_role_names
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once

#: Lines of the audit trail and sign-in attempts shown on a person's page.
RECENT = 20


def admin_only(request) -> None:
    """404 for anyone but an admin: the People and Audit pages do not disclose they exist."""
    if not may_administer_people(request.user):
        raise Http404


class AdminOnlyMixin:
    """Answers 404 to a signed-in user who is not an admin (the pages' existence included)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            admin_only(request)
        return super().dispatch(request, *args, **kwargs)


class PersonListView(AdminOnlyMixin, FilteredListView):
    list_selector = person_list
    filterset_class = PersonFilterSet
    title = "People"
    empty_noun = "people"
    template_name = "crm/people_list.html"
    row_template = "crm/rows/person.html"
    create_url_name = "person_invite"
    columns = [
        Column("Name", sort="name"),
        Column("Email", sort="email"),
        Column("Roles"),
        Column("Teams"),
        Column("Active"),
        Column("Second factor"),
        Column("Last sign-in", sort="signin"),
    ]
    sorts = {
        "name": ("username", "id"),
        "email": ("email", "id"),
        "signin": ("last_login", "id"),
    }
    default_sort = "name"

    def base_queryset(self):
        return (
            super()
            .base_queryset()
            .prefetch_related(
                Prefetch("groups", queryset=Group.objects.order_by("name").only("name")),
                Prefetch("teams", queryset=Team.objects.order_by("name").only("name")),
                Prefetch("managed_teams", queryset=Team.objects.order_by("name").only("name")),
            )
            .annotate(has_mfa=_has_mfa())
        )


def _has_mfa():
    return Exists(
        Authenticator.objects.filter(user_id=OuterRef("pk")).exclude(
            type=Authenticator.Type.RECOVERY_CODES
        )
    )


def _access_state(user) -> str:
    """What the roles and teams form showed, as a short fingerprint."""
    parts = (
        ",".join(user_role_names(user)),
        ",".join(str(pk) for pk in sorted(user.teams.values_list("pk", flat=True))),
        ",".join(str(pk) for pk in sorted(user.managed_teams.values_list("pk", flat=True))),
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _person_page(request, person, access_form=None, status=200):
    if access_form is None:
        access_form = PersonAccessForm(
            initial={
                "roles": user_role_names(person),
                "member_of": list(person.teams.all()),
                "manager_of": list(person.managed_teams.all()),
                "state": _access_state(person),
            }
        )
    mfa_types = sorted(
        set(Authenticator.objects.filter(user=person).values_list("type", flat=True))
    )
    return render(
        request,
        "crm/person_detail.html",
        {
            "person": person,
            "access_form": access_form,
            "mfa_types": mfa_types,
            "has_mfa": any(t != Authenticator.Type.RECOVERY_CODES for t in mfa_types),
            "locked": lockout.account_is_locked(person),
            "invitation_pending": not person.has_usable_password(),
            "is_self": person.pk == request.user.pk,
            "audit_events": AuditEvent.objects.filter(target_user=person)
            .select_related("actor")
            .order_by("-at", "-id")[:RECENT],
            "signins": SignInEvent.objects.filter(user=person).order_by("-at", "-id")[:RECENT],
        },
        status=status,
    )


@login_required
def person_detail(request, pk):
    person = person_get(user=request.user, pk=pk)
    return _person_page(request, person)


@login_required
@submitted_once
def person_invite(request):
    admin_only(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            person = people.user_invite(
                actor=request.user,
                username=data["username"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                roles=data["roles"],
                teams=data["teams"],
                request=request,
            )
        except PeopleError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Invited {person}: an email with a link to choose a password is on its way "
                f"to {person.email}.",
            )
            return redirect("person_detail", pk=person.pk)
    return render(request, "crm/person_invite.html", {"form": form})


@login_required
@require_POST
@submitted_once
def person_access(request, pk):
    person = person_get(user=request.user, pk=pk)
    form = PersonAccessForm(request.POST)
    if not form.is_valid():
        return _person_page(request, person, form, status=400)
    if form.cleaned_data["state"] != _access_state(person):
        form.add_error(
            None,
            "Someone changed these roles or teams since you opened the page: nothing was "
            "saved. The page now shows the current ones; make your change again.",
        )
        form.data = form.data.copy()
        form.data["_state"] = _access_state(person)
        return _person_page(request, person, form, status=409)
    data = form.cleaned_data
    try:
        changed = people.user_access_set(
            actor=request.user,
            user=person,
            roles=data["roles"],
            member_of=data["member_of"],
            manager_of=data["manager_of"],
            request=request,
        )
    except PeopleError as error:
        messages.error(request, str(error))
    else:
        if changed:
            messages.success(request, f"Saved the roles and teams of {person}.")
        else:
            messages.info(request, "Nothing changed.")
    return redirect("person_detail", pk=person.pk)


def _person_action(service, done: str):
    """A POST that runs one service on a person and comes back to their page saying how it
    went; ``done`` is the success message, formatted with ``person`` and ``result``."""

    @login_required
    @require_POST
    @submitted_once
    def view(request, pk):
        person = person_get(user=request.user, pk=pk)
        try:
            result = service(actor=request.user, user=person, request=request)
        except PeopleError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, done.format(person=person, result=result))
        return redirect("person_detail", pk=person.pk)

    view.__name__ = service.__name__
    return view


person_deactivate = _person_action(
    people.user_deactivate, "Deactivated {person}: they are signed out everywhere."
)
person_reactivate = _person_action(
    people.user_reactivate, "Reactivated {person}: they can sign in again."
)
person_mfa_reset = _person_action(
    people.user_mfa_reset,
    "Reset the second factor of {person}: they are signed out and set one up again at their "
    "next sign-in.",
)
person_unlock = _person_action(
    people.user_unlock, "Cleared the sign-in lockout of {person}: they can sign in now."
)
person_invitation_resend = _person_action(
    people.user_invitation_resend, "Sent {person} a new invitation link."
)


# Teams ------------------------------------------------------------------------------------


def _team_state(team) -> str:
    parts = (
        team.name,
        ",".join(str(pk) for pk in sorted(team.members.values_list("pk", flat=True))),
        ",".join(str(pk) for pk in sorted(team.managers.values_list("pk", flat=True))),
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@login_required
@submitted_once
def team_index(request):
    """Every team with its size, and a form to make a new one."""
    admin_only(request)
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            team = people.team_create(
                actor=request.user,
                name=data["name"],
                members=data["members"],
                managers=data["managers"],
                request=request,
            )
        except PeopleError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Created the team {team}.")
            return redirect("team_edit", pk=team.pk)
    teams = (
        team_list(user=request.user)
        .annotate(
            member_count=Count("members", distinct=True),
            manager_count=Count("managers", distinct=True),
        )
        .prefetch_related(Prefetch("managers", queryset=_people_names()))
        .order_by("name")
    )
    return render(request, "crm/team_list.html", {"teams": teams, "form": form})


def _people_names():
    from crm.models import User

    return User.objects.order_by("username").only("username", "first_name", "last_name")


@login_required
@submitted_once
def team_edit(request, pk):
    team = team_get(user=request.user, pk=pk)
    if request.method == "POST":
        form = TeamForm(request.POST)
        if form.is_valid():
            if form.cleaned_data["state"] != _team_state(team):
                form.add_error(
                    None,
                    "Someone changed this team since you opened the page: nothing was saved. "
                    "The page now shows the team as it is; make your change again.",
                )
                form.data = form.data.copy()
                form.data["_state"] = _team_state(team)
                return render(
                    request, "crm/team_form.html", {"form": form, "team": team}, status=409
                )
            data = form.cleaned_data
            try:
                changed = people.team_update(
                    actor=request.user,
                    team=team,
                    name=data["name"],
                    members=data["members"],
                    managers=data["managers"],
                    request=request,
                )
            except PeopleError as error:
                form.add_error("name", str(error))
            else:
                messages.success(request, f"Saved {data['name']}." if changed else "No change.")
                return redirect("team_index")
    else:
        form = TeamForm(
            initial={
                "name": team.name,
                "members": list(team.members.all()),
                "managers": list(team.managers.all()),
                "state": _team_state(team),
            }
        )
    return render(request, "crm/team_form.html", {"form": form, "team": team})
