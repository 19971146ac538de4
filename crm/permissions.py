"""Who may do what: each role rule of DESIGN.md's table, once, named for what it allows.

The models' querysets (``visible_to`` / ``changeable_by``, built from ``crm.visibility``) decide
which rows a user reaches; these predicates decide which actions and screens a user has. Views,
forms, services, models and registrations ask here; nothing else tests role membership.

| predicate | who | what it allows |
| --- | --- | --- |
| ``has_role`` | anyone holding a role | the application at all: shared records (accounts, contacts, campaigns) |
| ``may_sell`` | sales reps, managers, admins | leads, deals, sequences, quotes; creating accounts and contacts |
| ``may_manage`` | managers, admins | their teams' work: reassignment, quotas, imports, email campaigns, surveys, desk and catalogue settings |
| ``may_work_tickets`` | support agents, managers, admins (active) | the support desk: taking, replying to and changing tickets |
| ``sees_all_tickets`` | support agents, admins | every ticket, not only those of their teams or accounts |
| ``may_operate`` | admins | the operators' page of background work: failed, uncertain and stuck rows, retried |
| ``may_delete_deals_and_tickets`` | managers, admins | deleting deals and tickets (into the trash) of what they may change |
| ``may_define_fields`` | admins | custom fields: add, rename, archive, delete |
| ``may_configure_company`` | admins | the seller profile: the company details, default tax rate and number prefix of quotes |
| ``may_administer_people`` | admins | the People pages (invite, roles, teams, deactivate, second factor, lockout) and the security audit trail |
"""


def has_role(user) -> bool:
    """Signed in and holding at least one role (a user without one sees nothing)."""
    return bool(getattr(user, "is_authenticated", False) and user.has_any_role)


def may_sell(user) -> bool:
    """Works leads and deals: sales reps, managers and admins. Support agents see no deals or
    amounts."""
    return has_role(user) and (user.is_sales_rep or user.is_manager or user.is_admin_role)


def may_manage(user) -> bool:
    """Acts for teams: managers (for the teams they manage) and admins (for everyone)."""
    return has_role(user) and (user.is_manager or user.is_admin_role)


def may_work_tickets(user) -> bool:
    """Works the support desk: active support agents, managers and admins."""
    return (
        has_role(user)
        and user.is_active
        and (user.is_support_agent or user.is_manager or user.is_admin_role)
    )


def sees_all_tickets(user) -> bool:
    """Sees every ticket: support agents and admins (managers see their teams', reps their
    accounts')."""
    return has_role(user) and (user.is_support_agent or user.is_admin_role)


def may_delete_deals_and_tickets(user) -> bool:
    """Deletes deals and tickets (they feed the forecast and are the record of what a customer
    was told, so not their owners alone): managers, for their teams, and admins."""
    return may_manage(user)


def may_operate(user) -> bool:
    """Looks after the background work (failed, uncertain and stuck emails, imports, runs) and
    retries it: admins."""
    return has_role(user) and user.is_admin_role


def may_administer_people(user) -> bool:
    """Invites users, sets their roles and teams, deactivates them, resets their second factor
    and lockout, and reads the security audit trail: admins."""
    return has_role(user) and user.is_admin_role


def may_read_all_history(user) -> bool:
    """Reads every field change of every record, with who and through what: admins."""
    return has_role(user) and user.is_admin_role


def may_define_fields(user) -> bool:
    """Adds, changes, archives and deletes custom fields of records: admins."""
    return has_role(user) and user.is_admin_role


def may_configure_company(user) -> bool:
    """Edits the company's own details printed on quotes (the seller profile): admins."""
    return has_role(user) and user.is_admin_role
