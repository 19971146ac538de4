"""CSV import of leads: map columns, preview, then import in chunks.

Each chunk of rows commits in one transaction together with the job's counters and the last line
it covers, so a crashed import resumes after the last committed chunk and never leaves half a
chunk behind. A run leases the job and renews the lease with each chunk; when a worker dies (or
the broker loses the job's message) the sweep wakes a worker for the job once the lease has run
out, and it goes on from the last committed chunk by itself. Per chunk the work is a fixed
number of queries (per model, the saved leads and contacts sharing a blocking key with any row
of the chunk, one probe of the GIN index per key within one statement; one bulk insert; one bulk
update), never a query per row.

Duplicates are judged by ``crm.matching`` against saved leads and contacts and against the rows
before in the file. Only a row that is surely the same person is skipped or updates its match
(by the job's policy); one that is only likely the same (a shared switchboard number with the
same name, a namesake at the same company) is imported and flagged. Every skipped or flagged row
is in the report with the reasons, and the preview shows what each row would be.
"""

import csv
import io
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.types.json import Jsonb

from crm import matching
from crm.automation.engine import records_changed, rules_watch
from crm.choices import Industry
from crm.csvfiles import csv_lines, row_text
from crm.db import array_literal
from crm.faults import SimulatedKill
from crm.history import Source, source
from crm.matching import Person, match_fields_set
from crm.models import ConsentChannel, Contact
from crm.normalize import country_codes, normalize_domain, normalize_email, normalize_phone
from crm.quality import quality_fields_set
from crm.services.consents import ConsentProof, consents_record_many
from crm.services.customers import consent_stamp
from crm.uploads import files_delete
from crm.work import (
    Problem,
    enqueue_quietly,
    jobs_in_trouble,
    jobs_wake,
    lease_end,
    lease_free,
    lease_release,
    lease_take,
    worker_name,
)
from leads.choices import DedupePolicy, ImportStatus, LeadSource
from leads.models import Campaign, ImportJob, ImportMapping, ImportRowError, Lead
from leads.privacy import erased_emails
from leads.services import assignment, scoring
from leads.services.dedupe import PERSON_FIELDS
from leads.tasks import import_run as import_run_task

logger = logging.getLogger(__name__)

CHUNK_SIZE = 5000
PREVIEW_ROWS = 10
MAX_ROWS = 1_000_000

#: Lead fields a column can map to, with the header names guessed for them.
IMPORT_FIELDS = {
    "first_name": ("first name", "firstname", "given name", "first"),
    "last_name": ("last name", "lastname", "surname", "family name", "last", "name"),
    "email": ("email", "e-mail", "email address", "mail"),
    "phone": ("phone", "telephone", "phone number", "mobile", "tel"),
    "title": ("title", "job title", "position", "role"),
    "company_name": ("company", "company name", "organisation", "organization", "account"),
    "website": ("website", "domain", "web", "url", "company website"),
    "industry": ("industry", "sector"),
    "employees": ("employees", "company size", "size", "headcount"),
    "country": ("country", "country code"),
    "source": ("source", "lead source"),
    "campaign": ("campaign", "campaign slug"),
    "budget_amount": ("budget", "budget amount"),
    "marketing_consent": ("consent", "marketing consent", "opt in", "opt-in"),
}
TRUE_WORDS = {"1", "y", "yes", "true", "x", "ja", "oui"}
INDUSTRIES = {
    **{v: v for v in Industry.values},
    **{label.lower(): v for v, label in Industry.choices},
}
SOURCES = {
    **{v: v for v in LeadSource.values},
    **{label.lower(): v for v, label in LeadSource.choices},
}


class RowError(Exception):
    pass


def _key(header: str) -> str:
    return " ".join(header.strip().lower().replace("_", " ").split())


def guess_mapping(headers: list[str], remembered: dict | None = None) -> dict[str, str]:
    """Column → field: the user's last mapping where the column is the same, else by name."""
    remembered = remembered or {}
    mapping, taken = {}, set()
    for header in headers:
        field = remembered.get(header)
        if field in IMPORT_FIELDS and field not in taken:
            mapping[header] = field
            taken.add(field)
    for header in headers:
        if header in mapping:
            continue
        key = _key(header)
        for field, aliases in IMPORT_FIELDS.items():
            if field not in taken and (key == field.replace("_", " ") or key in aliases):
                mapping[header] = field
                taken.add(field)
                break
    return mapping


def mapping_remember(*, user, mapping: dict) -> None:
    ImportMapping.objects.update_or_create(user=user, defaults={"mapping": mapping})


def remembered_mapping(user) -> dict:
    row = ImportMapping.objects.filter(user=user).first()
    return row.mapping if row else {}


def _open(job: ImportJob):
    job.file.open("rb")
    return io.TextIOWrapper(job.file.file, encoding="utf-8-sig", errors="replace", newline="")


def read_headers(job: ImportJob) -> list[str]:
    with _open(job) as handle:
        try:
            return [h.strip() for h in next(csv.reader(handle))]
        except (StopIteration, csv.Error):
            return []


def count_rows(job: ImportJob) -> int:
    with _open(job) as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


@dataclass
class Lookups:
    campaigns: dict
    scoring_rules: list
    assignment_rules: list
    #: The run's matching view of each person it has read (``_person_of``).
    people: dict = field(default_factory=dict)


def _lookups() -> Lookups:
    campaigns = {}
    for pk, slug, name in Campaign.objects.values_list("pk", "slug", "name"):
        campaigns[slug.lower()] = pk
        campaigns.setdefault(name.lower(), pk)
    return Lookups(campaigns, scoring.active_rules(), assignment.active_rules())


def parse_row(values: dict[str, str], lookups: Lookups) -> dict:
    """Lead field values from one row (field → raw text), or RowError with every problem."""
    problems, data = [], {}
    raw = {k: (v or "").strip() for k, v in values.items()}
    data["first_name"] = raw.get("first_name", "")[:100]
    data["last_name"] = raw.get("last_name", "")[:100]
    if not data["last_name"]:
        problems.append("last name is missing")
    email = normalize_email(raw.get("email", ""))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"“{raw['email']}” is not an email address")
    data["email"] = email
    country = raw.get("country", "")
    code = ""
    if country:
        code = country_codes().get(country.lower(), "")
        if not code:
            problems.append(f"unknown country “{country}”")
    data["country"] = code or ""
    try:
        data["phone"] = normalize_phone(raw.get("phone", ""), code or None)
    except ValidationError as exc:
        problems.append(exc.messages[0])
    data["title"] = raw.get("title", "")[:150]
    data["company_name"] = raw.get("company_name", "")[:200]
    data["website"] = normalize_domain(raw.get("website", ""))[:253]
    industry = raw.get("industry", "")
    data["industry"] = INDUSTRIES.get(industry.lower(), "") if industry else ""
    if industry and not data["industry"]:
        problems.append(f"unknown industry “{industry}”")
    employees = raw.get("employees", "").replace(",", "").replace(" ", "")
    data["employees"] = None
    if employees:
        if employees.isdigit() and int(employees) < 10_000_000:
            data["employees"] = int(employees)
        else:
            problems.append(f"company size “{raw['employees']}” is not a whole number")
    source = raw.get("source", "")
    data["source"] = SOURCES.get(source.lower(), "") if source else LeadSource.IMPORT
    if not data["source"]:
        problems.append(f"unknown source “{source}”")
    campaign = raw.get("campaign", "")
    data["campaign_id"] = lookups.campaigns.get(campaign.lower()) if campaign else None
    if campaign and data["campaign_id"] is None:
        problems.append(f"unknown campaign “{campaign}”")
    budget = raw.get("budget_amount", "").replace(",", "")
    data["budget_amount"] = None
    if budget:
        try:
            data["budget_amount"] = Decimal(budget).quantize(Decimal("0.01"))
            if not data["budget_amount"].is_finite() or abs(data["budget_amount"]) >= 10**12:
                raise InvalidOperation
        except InvalidOperation:
            problems.append(f"budget “{raw['budget_amount']}” is not an amount")
            data["budget_amount"] = None
    data["marketing_consent"] = raw.get("marketing_consent", "").lower() in TRUE_WORDS
    if not email and not data.get("phone") and not data["company_name"]:
        problems.append("no email, phone or company to reach the lead")
    if problems:
        raise RowError("; ".join(problems))
    return data


def _rows(job: ImportJob, mapping: dict):
    """(line number, field values, raw line text) for every data row, after the header."""
    with _open(job) as handle:
        reader = csv.reader(handle)
        try:
            headers = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        index = {i: mapping[h] for i, h in enumerate(headers) if mapping.get(h) in IMPORT_FIELDS}
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, None, f"unreadable CSV: {exc}"
                continue
            if not any(c.strip() for c in cells):
                continue
            values = {field: cells[i] for i, field in index.items() if i < len(cells)}
            yield reader.line_num, values, cells


def preview(job: ImportJob, *, rows: int = PREVIEW_ROWS) -> list[dict]:
    """The first rows as they would import, with their problems and what each is: new, the
    same person as a saved lead or contact or an earlier row (skipped, updated or flagged by the
    job's policy), or likely the same (imported and flagged)."""
    lookups = _lookups()
    result, parsed = [], []
    for line, values, raw in _rows(job, job.mapping):
        entry = {"line": line, "values": values or {}, "problems": "", "duplicate": ""}
        if values is None:
            entry["problems"] = raw
        else:
            try:
                parsed.append((entry, parse_row(values, lookups)))
            except RowError as exc:
                entry["problems"] = str(exc)
        result.append(entry)
        if len(result) >= rows:
            break
    matches = match_rows(
        [data for _, data in parsed], lines=[e["line"] for e, _ in parsed], known=lookups.people
    )
    for (entry, _), found in zip(parsed, matches, strict=True):
        if found:
            entry["duplicate"] = f"{_fate(found, job.policy)}: {found.text()}"
    return result


def _fate(found, policy: str) -> str:
    if found.outcome != matching.SAME or policy == DedupePolicy.CREATE:
        return "imported and flagged"
    if policy == DedupePolicy.UPDATE and found.contact_id is None:
        return "updates it"
    return "skipped"


def _raw_text(raw) -> str:
    if isinstance(raw, str):
        return raw
    return row_text(raw)[:2000]


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    flagged: int = 0
    errors: int = 0


UPDATABLE = (
    "first_name",
    "title",
    "company_name",
    "website",
    "industry",
    "employees",
    "country",
    "phone",
    "campaign_id",
    "budget_amount",
)


@dataclass
class RowMatch:
    """What one row of a file is, against saved leads and contacts and the rows before it."""

    outcome: str = matching.DIFFERENT
    lead_id: int | None = None
    contact_id: int | None = None
    line: int | None = None  # an earlier row of the file
    reasons: str = ""
    score: float = 0.0

    def __bool__(self):
        return self.outcome != matching.DIFFERENT

    def target(self) -> str:
        if self.lead_id is not None:
            return f"lead #{self.lead_id}"
        if self.contact_id is not None:
            return f"contact #{self.contact_id}"
        return f"the row on line {self.line}"

    def text(self) -> str:
        """``the same person as lead #4 (same email, same name)``, or ``likely …``."""
        if not self:
            return ""
        what = "the same person as" if self.outcome == matching.SAME else "likely the same as"
        return f"{what} {self.target()} ({self.reasons})"


#: People kept by one run (``Lookups.people``) before that memory starts afresh.
KNOWN_PEOPLE_CAP = 200_000


def _person_of(values: tuple, known: dict) -> Person:
    """The ``Person`` of a record's ``PERSON_FIELDS`` values, each distinct one read once per
    run: the saved leads sharing a key with a chunk are read again for every later chunk."""
    person = known.get(values)
    if person is None:
        if len(known) >= KNOWN_PEOPLE_CAP:
            known.clear()
        person = known[values] = Person.of(**dict(zip(PERSON_FIELDS, values, strict=True)))
    return person


def _person(data: dict, known: dict) -> Person:
    return _person_of(tuple(data.get(f) or "" for f in PERSON_FIELDS), known)


#: What matching reads of a contact: ``PERSON_FIELDS``' first four (the rest stay empty).
CONTACT_PERSON_FIELDS = PERSON_FIELDS[:4]

#: A blocking key shared by more saved records (or earlier rows of a chunk) than this is too
#: common to tell anyone apart ("n:john S530" at a million leads): it is left out of that
#: comparison, and the row is compared through its other keys (email, phone, company).
KEY_BLOCK_CAP = 200


def _saved_people(keys: set[str], known: dict) -> dict[str, list]:
    """Saved leads and contacts sharing a blocking key with the rows, by key: one indexed
    probe per key and model, each stopping past ``KEY_BLOCK_CAP`` rows (that key is then
    too common and left out)."""
    by_key: dict[str, list] = {}
    if not keys:
        return by_key
    keys = sorted(keys)
    for model, kind, fields in (
        (Lead, "lead", PERSON_FIELDS),
        (Contact, "contact", CONTACT_PERSON_FIELDS),
    ):
        missing = ("",) * (len(PERSON_FIELDS) - len(fields))
        ids_by_key: dict[str, list[int]] = {}
        people = {}
        for row in _sharing_a_key(model, keys, fields):
            key, pk = row[0], row[1]
            ids_by_key.setdefault(key, []).append(pk)
            if pk not in people:
                values = row[2:]
                if None in values:
                    values = tuple(v or "" for v in values)
                people[pk] = (kind, pk, _person_of(values + missing, known))
        for key, ids in ids_by_key.items():
            if len(ids) <= KEY_BLOCK_CAP:
                by_key.setdefault(key, []).extend(people[pk] for pk in set(ids))
    return by_key


def _sharing_a_key(model, keys: list[str], fields) -> list[tuple]:
    """(key, id, *fields) of ``model``'s rows holding each of ``keys``, at most
    ``KEY_BLOCK_CAP + 1`` a key (one more tells the key is too common): one probe of the GIN
    index per key (``match_keys @> ARRAY[key]``), reading the fields in the same visit to the
    row rather than by id in a second query. One ``match_keys && keys`` with thousands of keys would recheck every candidate against the
    whole array, comparing each of its keys with each."""
    qn = connection.ops.quote_name
    columns = ", ".join(f"m.{qn(model._meta.get_field(f).column)}" for f in ("id", *fields))
    # OFFSET 0 keeps the subquery a probe per key (not flattened into one join the planner
    # may answer by comparing every row with every key).
    sql = (
        f"SELECT k.key, x.* FROM unnest(%s::varchar[]) AS k(key) CROSS JOIN LATERAL "
        f"(SELECT {columns} FROM {qn(model._meta.db_table)} AS m "
        f"WHERE m.{qn('match_keys')} @> ARRAY[k.key]::varchar[] "
        f"LIMIT {KEY_BLOCK_CAP + 1} OFFSET 0) AS x"
    )
    with _through_indexes(), connection.cursor() as cursor:
        cursor.execute(sql, [array_literal(keys)])
        return cursor.fetchall()


@contextmanager
def _through_indexes():
    """Within the block, the planner reads through indexes: a run that keeps adding rows to a
    table its statistics saw empty (a first import) would otherwise scan the whole table for
    every chunk's candidates, comparing each row with thousands of keys."""
    if not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")


def match_rows(rows: list[dict], *, lines: list[int], known: dict | None = None) -> list[RowMatch]:
    """Each parsed row's best match: a saved lead or contact, or an earlier row of the same
    rows (within the file). "Same" wins over "likely", then the higher score (a saved record
    before an earlier row at equal scores). ``known`` keeps the people read for a whole run."""
    known = {} if known is None else known
    people = [_person(data, known) for data in rows]
    row_keys = [matching.person_keys(person) for person in people]
    saved = _saved_people({key for keys in row_keys for key in keys}, known)
    earlier: dict[str, list] = {}
    results: list[RowMatch] = []
    for person, keys in zip(people, row_keys, strict=True):
        # A candidate is one (kind, id, person) object under every key it shares with the row,
        # so the object's identity tells one already judged.
        best, seen = RowMatch(), set()
        for key in keys:
            within = earlier.get(key, ())
            if len(within) > KEY_BLOCK_CAP:
                within = ()  # too common within the file (the saved ones are capped already)
            for candidates in (saved.get(key, ()), within):
                for candidate in candidates:
                    if id(candidate) in seen:
                        continue
                    seen.add(id(candidate))
                    judged = matching.person_match(person, candidate[2])
                    if judged is None:
                        continue
                    if best and (best.outcome == matching.SAME, best.score) >= (
                        judged.is_same,
                        judged.score,
                    ):
                        continue
                    kind, ref, _ = candidate
                    best = RowMatch(
                        outcome=judged.outcome,
                        lead_id=ref if kind == "lead" else None,
                        contact_id=ref if kind == "contact" else None,
                        line=lines[ref] if kind == "row" else None,
                        reasons=judged.describe(),
                        score=judged.score,
                    )
        entry = ("row", len(results), person)
        results.append(best)
        for key in keys:
            earlier.setdefault(key, []).append(entry)
    return results


def _report(job: ImportJob, line: int, raw, reason: str) -> ImportRowError:
    return ImportRowError(job=job, line=line, reason=reason[:500], raw=_raw_text(raw))


ERASED_ROW = "Skipped: the address of an erased person (suppression list)"


def _process_chunk(job: ImportJob, chunk: list, lookups: Lookups) -> ChunkResult:
    result = ChunkResult()
    errors: list[ImportRowError] = []
    parsed = []
    for line, values, raw in chunk:
        if values is None:
            errors.append(ImportRowError(job=job, line=line, reason=raw, raw=""))
            continue
        try:
            parsed.append((line, parse_row(values, lookups), raw))
        except RowError as exc:
            errors.append(ImportRowError(job=job, line=line, reason=str(exc), raw=_raw_text(raw)))
    result.errors = len(errors)

    erased = erased_emails({d["email"] for _, d, _ in parsed if d["email"]})
    if erased:
        for line, data, _raw in parsed:
            if data["email"] in erased:
                # The row itself is not kept: it would store the erased person again.
                errors.append(ImportRowError(job=job, line=line, reason=ERASED_ROW, raw=""))
                result.skipped += 1
        parsed = [row for row in parsed if row[1]["email"] not in erased]

    matches = match_rows(
        [data for _, data, _ in parsed],
        lines=[line for line, _, _ in parsed],
        known=lookups.people,
    )
    new_leads: list[Lead] = []
    created_at_line: dict[int, Lead] = {}  # line → the lead it created in this chunk
    updates: dict[int, dict] = {}
    now = timezone.now()
    for (line, data, raw), found in zip(parsed, matches, strict=True):
        same = found.outcome == matching.SAME
        if same and job.policy == DedupePolicy.SKIP:
            errors.append(_report(job, line, raw, f"Skipped: {found.text()}"))
            result.skipped += 1
            continue
        if same and job.policy == DedupePolicy.UPDATE:
            if found.lead_id is not None:
                changes = updates.setdefault(found.lead_id, {})
                changes.update({f: data[f] for f in UPDATABLE if data.get(f) not in ("", None)})
                if data["marketing_consent"]:
                    changes["marketing_consent"] = True
                continue
            if found.line is not None and found.line in created_at_line:
                earlier = created_at_line[found.line]
                for f in UPDATABLE:
                    if data.get(f) not in ("", None):
                        setattr(earlier, f, data[f])
                result.updated += 1
                continue
            errors.append(_report(job, line, raw, f"Skipped: {found.text()}"))
            result.skipped += 1
            continue
        lead = Lead(**data, owner_id=job.owner_id)
        consent_stamp("marketing_consent", lead.marketing_consent, at=now, record=lead)
        if found:
            lead.possible_duplicate = True
            lead.duplicate_of_id = found.lead_id
            result.flagged += 1
            errors.append(_report(job, line, raw, f"Imported, flagged: {found.text()}"))
        created_at_line[line] = lead
        new_leads.append(lead)

    for lead in new_leads:
        person = _person_of(
            tuple(str(getattr(lead, f) or "") for f in PERSON_FIELDS), lookups.people
        )
        lead.match_keys = matching.person_keys(person)
        lead.match_name = matching.person_name_key(person)
    _assign(new_leads, job, lookups)
    for lead in new_leads:
        lead.created_at = now
        quality_fields_set(lead, now=now)
        lead.score, lead.grade, lead.score_breakdown = scoring.score_compute(
            lead=lead, rules=lookups.scoring_rules, now=now
        )
    _insert_leads(new_leads, now)
    result.created = len(new_leads)
    if (new_leads or updates) and rules_watch("lead"):
        # COPY and bulk updates save no model: the automation rules on leads are told which.
        created = Lead.objects.filter(created_at=now).values_list("pk", flat=True)
        records_changed("lead", [*created, *updates])
    consented = {lead.email for lead in new_leads if lead.marketing_consent and lead.email}
    granted = []
    if consented:
        # COPY gives no ids back; the chunk's leads are the ones stamped with its ``now``.
        granted = list(
            Lead.objects.filter(
                created_at=now, marketing_consent=True, email__in=consented
            ).values_list("pk", flat=True)
        )
    if updates:
        targets = Lead.objects.in_bulk(list(updates))
        fields = set()
        for pk, changes in updates.items():
            lead = targets.get(pk)
            if lead is None:
                continue
            for name, value in changes.items():
                setattr(lead, name, value)
                fields.add(name)
            if changes.get("marketing_consent") and not lead.marketing_consent_at:
                consent_stamp("marketing_consent", True, at=now, record=lead)
                fields.add("marketing_consent_at")
                granted.append(lead.pk)
            lead.score, lead.grade, lead.score_breakdown = scoring.score_compute(
                lead=lead, rules=lookups.scoring_rules, now=now
            )
            lead.updated_at = now
            match_fields_set(lead)
            quality_fields_set(lead, now=now)
        fields |= {"score", "grade", "score_breakdown", "updated_at", "match_keys", "match_name"}
        fields |= {"quality", "quality_age_band"}
        Lead.objects.bulk_update(list(targets.values()), sorted(fields), batch_size=1000)
        result.updated += len(targets)
    if granted:
        consents_record_many(
            model=Lead,
            ids=granted,
            consent="marketing_consent",
            at=now,
            proof=ConsentProof(channel=ConsentChannel.IMPORT, name=_import_name(job)),
        )
    ImportRowError.objects.bulk_create(errors, batch_size=1000)
    return result


def _import_name(job: ImportJob) -> str:
    return f"Lead import #{job.pk}" + (f" ({job.original_name})" if job.original_name else "")


def _insert_leads(leads: list[Lead], now) -> None:
    """Write new leads with COPY (values read straight off the objects, no per-field ORM
    conversion of a hundred thousand rows)."""
    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key]
    convert = []
    for f in fields:
        if f.get_internal_type() == "JSONField":
            convert.append(Jsonb)
        elif f.get_internal_type() == "ArrayField":
            convert.append(array_literal)  # psycopg's list adaptation is the slow part of a row
        elif f.name == "country":
            convert.append(str)
        else:
            convert.append(None)
    plan = list(zip([f.attname for f in fields], convert, strict=True))
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    with connection.cursor() as cursor:
        sql = f"COPY {qn(Lead._meta.db_table)} ({columns}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for lead in leads:
                lead.updated_at = now
                values = lead.__dict__
                copy.write_row(
                    tuple(
                        conv(values[name]) if conv and values[name] is not None else values[name]
                        for name, conv in plan
                    )
                )


def _assign(leads: list[Lead], job: ImportJob, lookups: Lookups) -> None:
    """Leads without an owner go to a team by the assignment rules, then round-robin (one lock
    per team per chunk; the team's manager when it has no rep)."""
    by_team: dict = {}
    for lead in leads:
        if lead.owner_id:
            continue
        team = assignment.team_for(lead=lead, rules=lookups.assignment_rules)
        if team is not None:
            lead.team = team
            by_team.setdefault(team, []).append(lead)
    for team, members in by_team.items():
        for lead, rep_id in zip(
            members, assignment.owners_in_turn(team=team, count=len(members)), strict=False
        ):
            lead.owner_id = rep_id


class LeaseLost(Exception):
    """Another run took the job over (this one was judged dead): stop without touching it."""


def _runnable(job_id: int):
    """The job, if a run may take it: queued or running (the sweep wakes those), or uploaded and
    run straight away (the management commands)."""
    return ImportJob.objects.filter(
        pk=job_id, status__in=[ImportStatus.UPLOADED, ImportStatus.QUEUED, ImportStatus.RUNNING]
    )


def import_run(
    *,
    job_id: int,
    chunk_size: int = CHUNK_SIZE,
    owner: str | None = None,
    crash_after_chunks: int | None = None,
) -> ImportJob | None:
    """Run (or resume) an import job to the end, as ``owner`` (this worker by default).

    The run first leases the job; a job another live run holds is left alone (returned as it
    is). The lease is renewed with each committed chunk and given back at the end, so a killed
    run's job is taken up by the sweep once the lease runs out, from the last committed chunk.
    ``crash_after_chunks`` is for tests: the run stops as if killed after that many chunks.
    """
    owner = owner or worker_name()
    if not lease_take(
        _runnable(job_id), owner=owner, status=ImportStatus.RUNNING, runs=F("runs") + 1
    ):
        return ImportJob.objects.filter(pk=job_id).first()
    job = ImportJob.objects.get(pk=job_id)
    mine = ImportJob.objects.filter(pk=job.pk, lease_owner=owner)
    try:
        if not job.total_rows:
            job.total_rows = count_rows(job)
        mine.update(
            started_at=job.started_at or timezone.now(),
            total_rows=job.total_rows,
            lease_until=lease_end(),  # counting a large file took a while
        )
        with source(Source.IMPORT, user=job.created_by, job=job.pk):
            _run_chunks(job, owner, chunk_size, crash_after_chunks)
    except LeaseLost:
        return ImportJob.objects.filter(pk=job_id).first()
    except (OperationalError, SoftTimeLimitExceeded):
        # A database hiccup (the task retries) or the task's time limit: the job stays running
        # and is given back, so a retry or the next sweep goes on from the last chunk.
        lease_release(mine, owner=owner)
        raise
    except (OSError, UnicodeError, csv.Error) as exc:
        lease_release(
            mine, owner=owner, status=ImportStatus.FAILED, message=f"{type(exc).__name__}: {exc}"
        )
        return ImportJob.objects.filter(pk=job_id).first()
    except Exception as exc:
        # A bug or data the import cannot take: running it again would only repeat it.
        lease_release(
            mine,
            owner=owner,
            status=ImportStatus.FAILED,
            message=f"The import stopped on an unexpected error ({type(exc).__name__}); "
            "the rows before it are imported. Resume once it is fixed.",
        )
        raise
    lease_release(mine, owner=owner, status=ImportStatus.DONE, finished_at=timezone.now())
    return ImportJob.objects.filter(pk=job_id).first()


def _run_chunks(job: ImportJob, owner: str, chunk_size: int, crash_after_chunks) -> None:
    lookups = _lookups()
    done_chunks = 0
    chunk = []
    for row in _rows(job, job.mapping):
        if row[0] <= job.processed_rows:
            continue  # committed by an earlier run
        chunk.append(row)
        if len(chunk) >= chunk_size:
            _commit_chunk(job, chunk, lookups, owner)
            chunk = []
            done_chunks += 1
            if crash_after_chunks is not None and done_chunks >= crash_after_chunks:
                raise SimulatedKill
    if chunk:
        _commit_chunk(job, chunk, lookups, owner)


def _commit_chunk(job: ImportJob, chunk: list, lookups: Lookups, owner: str) -> None:
    """Import one chunk and move the checkpoint and counters with it, in one transaction that
    also renews the lease (the checkpoint is the proof of life)."""
    last_line = chunk[-1][0]
    with transaction.atomic():
        # The job row is the chunk's lock: a run that lost its lease meanwhile finds out here,
        # and a chunk committed by another run is never imported again.
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.lease_owner != owner or locked.status != ImportStatus.RUNNING:
            raise LeaseLost
        if locked.processed_rows >= last_line:
            job.processed_rows = locked.processed_rows
            return
        result = _process_chunk(job, chunk, lookups)
        ImportJob.objects.filter(pk=job.pk).update(
            processed_rows=last_line,
            created_count=F("created_count") + result.created,
            updated_count=F("updated_count") + result.updated,
            skipped_count=F("skipped_count") + result.skipped,
            flagged_count=F("flagged_count") + result.flagged,
            error_count=F("error_count") + result.errors,
            lease_until=lease_end(),
        )
    job.processed_rows = last_line


def summary(job: ImportJob) -> str:
    seconds = ""
    if job.started_at and job.finished_at:
        seconds = f" in {(job.finished_at - job.started_at).total_seconds():.1f} s"
    return (
        f"Import {job.pk} ({job.original_name}): {job.get_status_display().lower()}{seconds}. "
        f"Rows {job.processed_rows and job.total_rows}, created {job.created_count}, "
        f"updated {job.updated_count}, skipped {job.skipped_count}, "
        f"flagged as possible duplicates {job.flagged_count}, errors {job.error_count}."
    )


def error_rows(job: ImportJob):
    return job.row_errors.order_by("line").values_list("line", "reason", "raw")


def error_report(job: ImportJob):
    """The error report's rows (the header first): line, reason, the original row as text."""
    yield ["line", "reason", "row"]
    yield from error_rows(job).iterator(chunk_size=2000)


def errors_csv(job: ImportJob):
    """The error report as CSV text lines (streamed, formula-safe in every column)."""
    return csv_lines(error_report(job))


@transaction.atomic
def import_job_create(*, user, upload, policy: str = DedupePolicy.SKIP, owner=None) -> ImportJob:
    """Store the uploaded file (Django storage: the local disk or the S3 bucket) and start a
    job for it; a file refused after it was stored leaves neither the job nor the file."""
    job = ImportJob(created_by=user, owner=owner, policy=policy, original_name=upload.name[:255])
    job.file.save(upload.name, upload, save=False)
    job.save()
    headers = read_headers(job)
    if not headers:
        files_delete([(job.file.storage, job.file.name)])
        raise ValidationError("The file has no header row; the first line must name the columns.")
    job.mapping = guess_mapping(headers, remembered_mapping(user) if user else None)
    job.save(update_fields=["mapping"])
    return job


def import_job_map(*, job: ImportJob, mapping: dict, user) -> ImportJob:
    """Keep the job's column mapping, and remember it as the user's next suggestion."""
    job.mapping = mapping
    job.save(update_fields=["mapping"])
    mapping_remember(user=user, mapping=job.mapping)
    return job


def import_job_queue(job: ImportJob) -> None:
    """Start an uploaded job: queued once (a conditional UPDATE), run by the worker. The row is
    the truth: if the message is lost, the sweep starts the queued job."""
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
        status=ImportStatus.QUEUED
    )
    if updated:
        _enqueue_on_commit(job.pk)


def _enqueue_on_commit(job_id: int) -> None:
    transaction.on_commit(lambda: enqueue_quietly(import_run_task, job_id))


def import_job_resume(job: ImportJob) -> bool:
    """Run a stopped job again from its last committed chunk: a failed one, or a queued or
    running one no live worker holds (the sweep would take it up within a minute anyway).
    False for a job that is done, or being worked on right now."""
    now = timezone.now()
    restarted = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.FAILED).update(
        status=ImportStatus.QUEUED, message="", lease_owner="", lease_until=None
    )
    stalled = ImportJob.objects.filter(
        lease_free(now), pk=job.pk, status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]
    )
    if not restarted and not stalled.exists():
        return False
    _enqueue_on_commit(job.pk)
    return True


def import_pending() -> int:
    """Lead imports waiting for or running in a worker (the queue depth metric)."""
    return ImportJob.objects.filter(status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]).count()


def import_sweep(*, now=None) -> int:
    """Wake a worker for every queued or running import no live run holds."""
    return jobs_wake(
        ImportJob.objects.all(),
        running=ImportStatus.RUNNING,
        queued=ImportStatus.QUEUED,
        task=import_run_task,
        now=now,
        label="Import",
    )


def import_problems(limit: int) -> list[Problem]:
    """Failed imports, and running ones whose worker stopped renewing its lease."""
    jobs = jobs_in_trouble(
        ImportJob.objects.all(),
        running=ImportStatus.RUNNING,
        failed=ImportStatus.FAILED,
        limit=limit,
    )
    return [
        Problem(
            pk=job.pk,
            title=f"{job} · line {job.processed_rows:,} of {job.total_rows:,}",
            state=job.trouble,
            detail=job.message,
            since=job.created_at,
            url=job.get_absolute_url(),
        )
        for job in jobs
    ]


def import_retry(pk: int) -> bool:
    job = ImportJob.objects.filter(pk=pk).first()
    return job is not None and import_job_resume(job)


def timed_import(job: ImportJob) -> tuple[ImportJob, float]:
    start = time.monotonic()
    job = import_run(job_id=job.pk)
    return job, time.monotonic() - start
