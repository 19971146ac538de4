"""Admins' changes to people and teams: invitations, roles and teams, deactivation, second-factor
reset and lockout. Every write of the People pages (and of ``unlock_account``) goes through
here; each one leaves a line in the security audit trail in its own transaction.

The product always keeps one active admin: an admin cannot deactivate themselves, and nobody
can deactivate or take the Admin role from the last active admin. Those checks hold the Admin
group's row locked, so two admins acting at once cannot each remove the other.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from crm.auth import lockout
from crm.choices import AuditAction, Role
from crm.models import Team, User
from crm.services.audit import audit_record
from crm.services.outbox import email_queue
from crm.services.signins import user_sessions_end_on_commit


class PeopleError(Exception):
    """A change the rules refuse; its message is shown to the admin as it is."""


# Reads the rules need ---------------------------------------------------------------------


def user_role_names(user: User) -> list[str]:
    """The roles ``user`` holds as groups, in the order of ``Role`` (superusers are admins
    whatever their groups; see ``User.role_names``)."""
    held = set(user.groups.values_list("name", flat=True))
    return [role for role in Role.values if role in held]


def _active_admins():
    return User.objects.filter(is_active=True).filter(
        Q(groups__name=Role.ADMIN) | Q(is_superuser=True)
    )


def _is_active_admin(user: User) -> bool:
    return _active_admins().filter(pk=user.pk).exists()


def _lock_admins() -> None:
    """Serialise every change that could leave no active admin (see the module's docstring)."""
    Group.objects.select_for_update().get_or_create(name=Role.ADMIN)


def _other_active_admins(user: User) -> bool:
    return _active_admins().exclude(pk=user.pk).exists()


def _names(objects) -> list[str]:
    return sorted(str(o) for o in objects)


# Invitations ------------------------------------------------------------------------------


def invitation_link(user: User) -> str:
    """A one-time link to set a password, from ``SITE_URL``: allauth's password-reset key (it
    stops working once the password is set, and after ``PASSWORD_RESET_TIMEOUT``)."""
    from allauth.account.adapter import get_adapter
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    key = f"{user_pk_to_url_str(user)}-{default_token_generator.make_token(user)}"
    return get_adapter().get_reset_password_from_key_url(key)


def _invitation_send(*, user: User, actor: User) -> None:
    link = invitation_link(user)
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    inviter = actor.get_full_name() or actor.get_username()
    body = (
        f"Hello {user.get_full_name() or user.get_username()},\n\n"
        f"{inviter} invited you to the CRM:\n{settings.SITE_URL}/\n\n"
        f"Your username is {user.get_username()} (you can also sign in with this email "
        "address).\n\n"
        "Choose your password here (the link works once, for "
        f"{days} day{'s' if days != 1 else ''}):\n{link}\n\n"
        f"Then sign in at {settings.SITE_URL}{reverse('login')}\n\n"
        "If you did not expect this email, you can ignore it.\n"
    )
    digest = hashlib.sha256(link.encode()).hexdigest()[:24]
    email_queue(
        to_email=user.email,
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}You are invited to the CRM",
        body_text=body,
        idempotency_key=f"invite:{user.pk}:{digest}",
    )


def user_invite(
    *,
    actor: User,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    roles: list[str],
    teams=(),
    request=None,
) -> User:
    """Create a user who has no password yet, with ``roles`` and member of ``teams``, and email
    them a link to choose one."""
    username = username.strip()
    email = email.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise PeopleError(f"The username {username} is taken.")
    if User.objects.filter(email__iexact=email).exists():
        raise PeopleError(f"A user with the email address {email} exists already.")
    with transaction.atomic():
        user = User(username=username, email=email, first_name=first_name, last_name=last_name)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # the same username, invited at the same moment by someone else
            raise PeopleError(f"The username {username} is taken.") from None
        user.groups.set(Group.objects.filter(name__in=roles))
        user.teams.set(teams)
        audit_record(
            action=AuditAction.USER_INVITED,
            actor=actor,
            target_user=user,
            detail={
                "email": email,
                "roles": [r for r in Role.values if r in roles],
                "teams": _names(teams),
            },
            request=request,
        )
        _invitation_send(user=user, actor=actor)
    return user


def user_invitation_resend(*, actor: User, user: User, request=None) -> None:
    """Email a new set-password link to a user who has not chosen a password yet."""
    if user.has_usable_password():
        raise PeopleError(f"{user} has chosen a password already: nothing to resend.")
    if not user.is_active:
        raise PeopleError(f"{user} is deactivated: reactivate them first.")
    with transaction.atomic():
        audit_record(
            action=AuditAction.INVITATION_RESENT, actor=actor, target_user=user, request=request
        )
        _invitation_send(user=user, actor=actor)


# Roles and teams --------------------------------------------------------------------------


def user_access_set(
    *, actor: User, user: User, roles: list[str], member_of, manager_of, request=None
) -> list[str]:
    """Give ``user`` exactly ``roles`` and these team memberships; returns what changed (the
    audit lines written), empty when nothing did."""
    roles = [r for r in Role.values if r in set(roles)]
    member_of, manager_of = set(member_of), set(manager_of)
    changed = []
    with transaction.atomic():
        _lock_admins()
        old_roles = user_role_names(user)
        if old_roles != roles:
            loses_admin = (
                Role.ADMIN in old_roles and Role.ADMIN not in roles and not user.is_superuser
            )
            if loses_admin and user.is_active and not _other_active_admins(user):
                raise PeopleError(
                    f"{user} is the last active admin: make someone else an admin first."
                )
            user.groups.set(Group.objects.filter(name__in=roles))
            user.__dict__.pop("role_names", None)
            audit_record(
                action=AuditAction.ROLES_CHANGED,
                actor=actor,
                target_user=user,
                detail={"old": old_roles, "new": roles},
                request=request,
            )
            changed.append(AuditAction.ROLES_CHANGED)
        old_member, old_manager = set(user.teams.all()), set(user.managed_teams.all())
        if (old_member, old_manager) != (member_of, manager_of):
            user.teams.set(member_of)
            user.managed_teams.set(manager_of)
            user.__dict__.pop("managed_user_ids", None)
            audit_record(
                action=AuditAction.TEAMS_CHANGED,
                actor=actor,
                target_user=user,
                detail={
                    "member": {"old": _names(old_member), "new": _names(member_of)},
                    "manager": {"old": _names(old_manager), "new": _names(manager_of)},
                },
                request=request,
            )
            changed.append(AuditAction.TEAMS_CHANGED)
    return changed


def user_access_audit_admin(
    *, actor: User, user: User, old_roles: list[str], old_superuser: bool, request=None
) -> bool:
    """The audit line of a change of ``user``'s roles (groups) or superuser flag made in Django
    admin, which saves them itself; returns whether anything changed."""
    user.__dict__.pop("role_names", None)
    new_roles = user_role_names(user)
    detail = {}
    if new_roles != old_roles:
        detail["roles"] = {"old": old_roles, "new": new_roles}
    if bool(user.is_superuser) != old_superuser:
        detail["superuser"] = {"old": _yes_no(old_superuser), "new": _yes_no(user.is_superuser)}
    if not detail:
        return False
    audit_record(
        action=AuditAction.ROLES_CHANGED,
        actor=actor,
        target_user=user,
        detail={**detail, "through": "Django admin"},
        request=request,
    )
    return True


def _yes_no(value) -> str:
    return "yes" if value else "no"


# Deactivation -----------------------------------------------------------------------------


def user_deactivate(*, actor: User, user: User, request=None) -> None:
    """Deactivate ``user``: they cannot sign in, and every session of theirs ends when this
    commits (``crm.auth.receivers``)."""
    if user.pk == actor.pk:
        raise PeopleError("You cannot deactivate yourself.")
    with transaction.atomic():
        _lock_admins()
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.is_active:
            raise PeopleError(f"{user} is deactivated already.")
        if _is_active_admin(user) and not _other_active_admins(user):
            raise PeopleError(f"{user} is the last active admin and stays active.")
        user.is_active = False
        # crm.auth.receivers ends every session of theirs when this commits (as it does for
        # a deactivation made anywhere else, e.g. Django admin).
        user.save(update_fields=["is_active"])
        audit_record(
            action=AuditAction.USER_DEACTIVATED, actor=actor, target_user=user, request=request
        )


def user_reactivate(*, actor: User, user: User, request=None) -> None:
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active:
            raise PeopleError(f"{user} is active already.")
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(
            action=AuditAction.USER_ACTIVATED, actor=actor, target_user=user, request=request
        )


# Second factor and lockout ----------------------------------------------------------------


def user_mfa_reset(*, actor: User, user: User, request=None) -> int:
    """Delete every authenticator of ``user`` (app, recovery codes, keys) and end their
    sessions: they set a factor up again at their next sign-in (when their role requires one)
    or whenever they choose. Returns how many authenticators went."""
    from allauth.mfa.models import Authenticator

    if user.pk == actor.pk:
        raise PeopleError("Change your own second factor on your settings page.")
    with transaction.atomic():
        authenticators = Authenticator.objects.filter(user=user)
        types = sorted(set(authenticators.values_list("type", flat=True)))
        if not types:
            raise PeopleError(f"{user} has no second factor to reset.")
        deleted = authenticators.delete()[0]
        user_sessions_end_on_commit(user_id=user.pk)
        audit_record(
            action=AuditAction.MFA_RESET,
            actor=actor,
            target_user=user,
            detail={"types": types},
            request=request,
        )
    return deleted


def user_unlock(*, actor: User | None, user: User, request=None, via: str = "") -> int:
    """Clear the failed sign-ins counted against ``user``'s account, so they can sign in at
    once. Returns how many counted failures were forgotten."""
    cleared = lockout.account_lockout_clear(user)
    detail = {"failures_cleared": cleared}
    if via:
        detail["via"] = via
    audit_record(
        action=AuditAction.ACCOUNT_UNLOCKED,
        actor=actor,
        target_user=user,
        detail=detail,
        request=request,
    )
    return cleared


def address_unlock(*, actor: User | None, ip: str, request=None, via: str = "") -> int:
    """Clear the failed sign-ins counted against one client address (any accounts)."""
    cleared = lockout.address_lockout_clear(ip)
    detail = {"address": ip, "failures_cleared": cleared}
    if via:
        detail["via"] = via
    audit_record(action=AuditAction.ADDRESS_UNLOCKED, actor=actor, detail=detail, request=request)
    return cleared


# Teams ------------------------------------------------------------------------------------


def team_create(*, actor: User, name: str, members=(), managers=(), request=None) -> Team:
    name = name.strip()
    if Team.objects.filter(name__iexact=name).exists():
        raise PeopleError(f"A team named {name} exists already.")
    with transaction.atomic():
        team = Team.objects.create(name=name)
        team.members.set(members)
        team.managers.set(managers)
        audit_record(
            action=AuditAction.TEAM_CREATED,
            actor=actor,
            target=team,
            detail={"members": _names(members), "managers": _names(managers)},
            request=request,
        )
    return team


def team_update(*, actor: User, team: Team, name: str, members, managers, request=None) -> bool:
    """Rename ``team`` and set its members and managers; returns whether anything changed."""
    name = name.strip()
    if Team.objects.filter(name__iexact=name).exclude(pk=team.pk).exists():
        raise PeopleError(f"A team named {name} exists already.")
    members, managers = set(members), set(managers)
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        old_members, old_managers = set(team.members.all()), set(team.managers.all())
        detail = {}
        if team.name != name:
            detail["name"] = {"old": team.name, "new": name}
            team.name = name
            team.save(update_fields=["name"])
        if old_members != members:
            detail["members"] = {"old": _names(old_members), "new": _names(members)}
            team.members.set(members)
        if old_managers != managers:
            detail["managers"] = {"old": _names(old_managers), "new": _names(managers)}
            team.managers.set(managers)
        if detail:
            audit_record(
                action=AuditAction.TEAM_CHANGED,
                actor=actor,
                target=team,
                detail=detail,
                request=request,
            )
    return bool(detail)
