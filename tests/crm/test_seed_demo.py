import datetime as dt
import hashlib
import io
import random
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

from crm.choices import Role
from crm.models import Account, Activity, Contact, MailLink, MailMessage, Task, Team, User
from crm.normalize import normalize_domain, normalize_email, normalize_phone
from crm.seeding import COUNTRIES, phone_number, seed_steps
from leads.models import Lead

pytestmark = pytest.mark.django_db

SMALL = ("--scale", "0.05", "--force", "--anchor-date", "2025-03-14")


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def content_digest() -> str:
    """A digest of what the demo data says (not of primary keys, which sequences may move)."""
    rows = [
        *(
            (a.name, a.domain, a.country.code, a.industry, a.owner.username, a.created_at)
            for a in Account.objects.select_related("owner")
        ),
        *(
            (
                c.first_name,
                c.last_name,
                c.email,
                c.phone,
                c.title,
                c.account.name if c.account else "",
                c.owner.username,
            )
            for c in Contact.objects.select_related("account", "owner")
        ),
        *(
            (a.kind, a.summary, a.occurred_at, a.actor.username if a.actor else "")
            for a in Activity.objects.select_related("actor")
        ),
        *(
            (t.title, t.due_at, t.assignee.username)
            for t in Task.objects.select_related("assignee")
        ),
    ]
    return hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()


def test_seed_demo_creates_the_demo_users_with_their_roles_and_password():
    output = seed(*SMALL, "--password", "s3cret-demo")

    expected = {
        "admin": {Role.ADMIN},
        "manager": {Role.MANAGER},
        "rep": {Role.SALES_REP},
        "rep2": {Role.SALES_REP},
        "agent": {Role.SUPPORT_AGENT},
    }
    for username, roles in expected.items():
        user = User.objects.get(username=username)
        assert set(user.groups.values_list("name", flat=True)) == roles
        assert user.check_password("s3cret-demo")
        assert user.is_active
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    sales, support = Team.objects.get(name="Sales"), Team.objects.get(name="Support")
    assert {"rep", "rep2"} <= set(sales.members.values_list("username", flat=True))
    assert set(support.members.values_list("username", flat=True)) == {"agent"}
    assert set(sales.managers.values_list("username", flat=True)) == {"manager"}
    assert set(support.managers.values_list("username", flat=True)) == {"manager"}
    assert "rep" in output and "Demo logins" in output


def test_seed_demo_data_is_well_formed():
    seed(*SMALL)

    assert Account.objects.count() >= 10
    assert Contact.objects.count() == 50
    # 150 from the core; the email campaigns step adds the replies to its emails, and the
    # email step the timeline lines of its conversations.
    core = Activity.objects.exclude(summary__startswith="Replied to “").exclude(
        pk__in=MailLink.objects.values("activity_id")
    )
    assert core.count() == 150
    # One conversation (a question and its answer) per rep at this scale, each on its records.
    assert MailMessage.objects.filter(links__isnull=False).distinct().count() == 4
    accounts = list(Account.objects.all())
    assert {a.owner.username for a in accounts} <= {"rep", "rep2"}
    for account in accounts:
        assert account.domain == normalize_domain(account.domain)
    for contact in Contact.objects.exclude(email=""):
        assert contact.email == normalize_email(contact.email)
    for contact in Contact.objects.exclude(phone=""):
        assert normalize_phone(contact.phone) == contact.phone
    emails = list(Contact.objects.exclude(email="").values_list("email", flat=True))
    assert len(emails) == len(set(emails))


def test_seed_demo_gives_each_rep_overdue_tasks_and_tasks_due_today():
    today = dt.date(2025, 3, 14)
    seed(*SMALL)

    for username in ("rep", "rep2"):
        open_tasks = Task.objects.filter(assignee__username=username, done_at__isnull=True)
        assert open_tasks.filter(due_at__date__lt=today).exists()
        assert open_tasks.filter(due_at__date=today).exists()


def test_seed_demo_phone_prefixes_give_valid_numbers_in_every_country():
    rng = random.Random(7)
    for country in COUNTRIES:
        for _ in range(200):
            number = phone_number(rng, country)
            assert normalize_phone(number) == number, (country.code, number)


def test_seed_demo_phone_number_pattern_is_what_phone_number_gives():
    from crm import normalize
    from crm.seeding.words import phone_number_pattern

    pattern = phone_number_pattern()
    rng = random.Random(11)
    for country in COUNTRIES:
        for _ in range(50):
            number = phone_number(rng, country)
            assert pattern.fullmatch(number), number
            # The numbers are kept as they are: the pattern vouches for them, not for others.
            assert not pattern.fullmatch(number + "0")
            assert not pattern.fullmatch(number[:-1])
    assert not pattern.fullmatch("+4930 1234567")
    assert not normalize.phone_is_valid("+4900000000")
    with normalize.phones_known_valid(pattern):
        assert normalize.phone_is_valid(phone_number(rng, COUNTRIES[0]))
        assert not normalize.phone_is_valid("+4900000000")
    assert normalize._known_valid is None


def test_seed_demo_is_the_same_for_the_same_arguments():
    digests = []
    for _ in range(2):
        with transaction.atomic():
            seed(*SMALL)
            digests.append(content_digest())
            transaction.set_rollback(True)
        assert not Account.objects.exists()

    assert digests[0] == digests[1]


def test_seed_demo_refuses_with_debug_off_unless_forced():
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed("--scale", "0.05")
    assert not User.objects.filter(username="rep").exists()

    with override_settings(DEBUG=True):
        seed("--scale", "0.05")
    assert Account.objects.exists()


def test_seed_demo_second_run_changes_nothing():
    seed(*SMALL)
    counts = [m.objects.count() for m in (User, Account, Contact, Activity, Task)]

    output = seed(*SMALL)

    assert "already loaded" in output
    assert [m.objects.count() for m in (User, Account, Contact, Activity, Task)] == counts


def test_seed_steps_registered_by_later_apps_run_after_the_core():
    seen = {}

    def extra_step(ctx):
        seen["users"] = sorted(ctx.users)
        seen["contacts"] = len(ctx.shared["crm"].contact_ids)
        seen["first_draw"] = ctx.rng.random()

    seed_steps.register("zz-test", extra_step, order=999)
    try:
        seed(*SMALL)
    finally:
        seed_steps.unregister("zz-test")

    assert seen["users"] == ["admin", "agent", "manager", "rep", "rep2"]
    assert seen["contacts"] == Contact.objects.count()
    # Each step's random stream depends only on the seed and the step's name.
    assert seen["first_draw"] == random.Random("crm-demo-1:zz-test").random()


def test_seed_demo_stores_the_matching_keys_and_scores_the_services_compute():
    """The seed takes its own phone numbers as valid without parsing them: the services, which
    parse them, agree."""
    from crm.services.duplicates import match_keys_refresh
    from crm.services.quality import quality_refresh_all

    out = seed(*SMALL)
    anchor = dt.datetime(2025, 3, 14, tzinfo=dt.UTC)

    # The steps write people and companies with their keys and scores: the keys step computes
    # only the rows later steps changed (a lead that replied to a demo email, a contact who
    # unsubscribed), not the tables.
    computed = {
        table: (int(read.replace(",", "")), int(stale.replace(",", "")))
        for table, read, stale in re.findall(r"\] (\w+): ([\d,]+) read, ([\d,]+) to write", out)
    }
    for model, table in ((Lead, "leads"), (Contact, "contacts"), (Account, "accounts")):
        read, stale = computed[table]
        assert stale <= read <= model.objects.count() // 20

    # Written by one UPDATE per table from a COPY: a rerun of the services finds nothing stale.
    assert {m._meta.label: c for m, _, c in match_keys_refresh()} == {
        "leads.Lead": 0,
        "crm.Contact": 0,
        "crm.Account": 0,
    }
    assert {m._meta.label: c for m, _, c in quality_refresh_all(now=anchor)} == {
        "leads.Lead": 0,
        "crm.Contact": 0,
        "crm.Account": 0,
    }
    assert not Contact.objects.filter(match_keys=[]).exclude(email="", phone="").exists()


def test_seed_rows_copied_in_a_fields_order_are_stored_in_that_order():
    """Rows written over time lie in time order in a real database; the demo's tickets and
    leads are stored so too, so a month's rollup reads that month's pages, not the table."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from crm.seeding import SeedContext

    ctx = SeedContext(scale=1, users={}, now=dt.datetime(2025, 3, 14, tzinfo=dt.UTC))
    account_type = ContentType.objects.get_for_model(Account).pk
    days = [ctx.now - dt.timedelta(days=d) for d in (3, 30, 1, 12, 7)]  # not in order
    rows = [("note", f"Day {d.day}", d, account_type, 1) for d in days]

    written = ctx.insert_rows(
        Activity,
        ["kind", "summary", "occurred_at", "content_type_id", "object_id"],
        rows,
        order_by="occurred_at",
    )

    # Inserted in that order: their keys follow it. (Their places on disk do too in a new
    # table, as in a seed; a test database may put them into the free space earlier tests
    # left, so the places are not compared here.)
    with connection.cursor() as cursor:
        cursor.execute("SELECT occurred_at FROM crm_activity ORDER BY id")
        stored = [row[0] for row in cursor.fetchall()]
    assert written == 5
    assert stored == sorted(days)


@pytest.mark.django_db
def test_a_step_that_writes_into_free_space_still_has_its_table_analyzed():
    # Rows written where deleted rows left room do not grow the table; this transaction's
    # writes still mark it, so the next steps are not planned on stale, empty statistics
    from crm.models import Team
    from crm.seeding.run import _table_sizes, _tables_written

    Team.objects.create(name="Written")
    table = f"public.{Team._meta.db_table}"
    assert table in _tables_written(since_sizes=_table_sizes())


def test_rows_staged_before_they_are_stored_can_be_filled_in_by_the_step():
    """``insert_rows(staged=...)``: what a step learns only from the rows it generated (with
    queries, which cannot run while COPY streams) is written into the staged rows, once."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from crm.seeding import SeedContext

    ctx = SeedContext(scale=1, users={}, now=dt.datetime(2025, 3, 14, tzinfo=dt.UTC))
    account_type = ContentType.objects.get_for_model(Account).pk
    rows = [("note", f"Note {n}", ctx.now, account_type, n) for n in (1, 2)]
    seen = []

    def staged(table):
        seen.append(Account.objects.count())  # a query, between the COPY and the INSERT
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET summary = summary || ' (filled in)'")

    fields = ["kind", "summary", "occurred_at", "content_type_id", "object_id"]
    ctx.insert_rows(Activity, fields, rows, order_by="occurred_at", staged=staged)

    assert seen == [0]
    assert sorted(Activity.objects.values_list("summary", flat=True)) == [
        "Note 1 (filled in)",
        "Note 2 (filled in)",
    ]
    with pytest.raises(ValueError, match="order_by"):
        ctx.insert_rows(Activity, fields, rows, staged=staged)


def test_rows_scored_as_they_are_written_need_every_field_the_score_reads():
    from crm.seeding.run import row_scorer

    with pytest.raises(ValueError, match="updated_at"):
        row_scorer(Contact, ["id", "first_name", "last_name", "email", "phone", "title",
                             "account_id", "owner_id"], dt.datetime(2025, 3, 14, tzinfo=dt.UTC))  # fmt: skip


def test_rows_a_step_scores_later_are_written_unscored():
    """``scored_rows(later=...)``: a row the step changes before it commits (a converted lead
    takes its contact's name) is not scored twice; it is written as a row never scored, and the
    step scores it."""
    from crm.seeding import SeedContext
    from crm.seeding.run import SCORE_COLUMNS, UNSCORED, scored_rows

    ctx = SeedContext(scale=1, users={}, now=dt.datetime(2025, 3, 14, tzinfo=dt.UTC))
    fields = ["id", "first_name", "last_name", "email", "phone", "title", "account_id",
              "owner_id", "email_consent", "email_consent_at", "marketing_consent",
              "marketing_consent_at", "created_at", "updated_at"]  # fmt: skip
    rows = [
        (
            n,
            "Ada",
            name,
            f"{name.lower()}@example.com",
            "",
            "CTO",
            None,
            None,
            False,
            None,
            False,
            None,
            ctx.now,
            ctx.now,
        )  # fmt: skip
        for n, name in ((1, "Lovelace"), (2, "Later"))
    ]
    with scored_rows(ctx, Contact, fields, rows, later=lambda row: row[2] == "Later") as (
        scored_fields,
        scored,
    ):
        ctx.insert_rows(Contact, scored_fields, scored)

    assert scored_fields == [*fields, *SCORE_COLUMNS]
    stored = {c.last_name: c for c in Contact.objects.all()}
    later = stored["Later"]
    assert (later.match_keys, later.match_name, later.quality, later.quality_age_band) == UNSCORED
    assert "lovelace@example.com" in " ".join(stored["Lovelace"].match_keys)
    assert stored["Lovelace"].match_name and stored["Lovelace"].quality is not None
