"""Duplicate matching on dirty data with known truth: pairwise precision and recall, and the time
of a large lead import with matching on.

1. Precision and recall (no database): ``--people`` people (20,000) of whom ``--duplicates``
   (15 %) appear a second time written differently: a nickname, a one-letter typo in a name,
   a plus-tag, upper case or Gmail dots in the address, another address or none, the phone in another format or left out,
   the company with or without its legal form. Half of the people have no phone. The names come
   from short lists, so namesakes (different people with one name, at other companies, with other
   addresses) are common, as in a real list. Every record is compared, as the import does, with
   the earlier records sharing a blocking key (``crm.matching.person_keys``); a pair judged "same"
   or "likely" is a predicted duplicate. Run once as generated and once with every phone removed.
2. ``--import-rows N`` (on the database of the settings): a CSV of N such rows is imported by
   ``leads.services.imports.import_run`` (matching on) inside a transaction that is rolled back,
   so the database is left as it was; prints the time.

    python bench/dedupe.py [--people 20000] [--duplicates 0.15] [--seed 7]
    python bench/dedupe.py --import-rows 100000 [--without-matching]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")

FIRST_NAMES = [
    "robert",
    "william",
    "james",
    "john",
    "michael",
    "david",
    "richard",
    "joseph",
    "thomas",
    "charles",
    "christopher",
    "daniel",
    "matthew",
    "anthony",
    "mark",
    "donald",
    "steven",
    "paul",
    "andrew",
    "joshua",
    "kenneth",
    "kevin",
    "brian",
    "george",
    "timothy",
    "ronald",
    "edward",
    "jason",
    "jeffrey",
    "ryan",
    "jacob",
    "gary",
    "nicholas",
    "eric",
    "jonathan",
    "stephen",
    "larry",
    "justin",
    "scott",
    "brandon",
    "benjamin",
    "samuel",
    "gregory",
    "alexander",
    "patrick",
    "frank",
    "raymond",
    "jack",
    "dennis",
    "jerry",
    "mary",
    "patricia",
    "jennifer",
    "linda",
    "elizabeth",
    "barbara",
    "susan",
    "jessica",
    "sarah",
    "karen",
    "lisa",
    "nancy",
    "betty",
    "margaret",
    "sandra",
    "ashley",
    "kimberly",
    "emily",
    "donna",
    "michelle",
    "carol",
    "amanda",
    "melissa",
    "deborah",
    "stephanie",
    "rebecca",
    "sharon",
    "laura",
    "cynthia",
    "kathleen",
    "amy",
    "angela",
    "shirley",
    "anna",
    "brenda",
    "pamela",
    "emma",
    "nicole",
    "helen",
    "samantha",
    "katherine",
    "christine",
    "debra",
    "rachel",
    "carolyn",
    "janet",
    "catherine",
    "maria",
    "heather",
    "diane",
    "ruth",
    "julie",
    "olivia",
    "joyce",
    "virginia",
    "victoria",
    "kelly",
    "lauren",
    "christina",
    "joan",
    "evelyn",
    "judith",
    "ingrid",
    "lars",
    "sven",
    "anke",
    "jurgen",
    "priya",
    "rahul",
    "wei",
    "mei",
    "hiroshi",
    "yuki",
    "ahmed",
    "fatima",
    "omar",
    "leila",
    "pierre",
    "camille",
    "luca",
    "giulia",
    "mateo",
    "sofia",
    "ivan",
    "olga",
]
LAST_NAMES = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
    "green",
    "adams",
    "nelson",
    "baker",
    "hall",
    "rivera",
    "campbell",
    "mitchell",
    "carter",
    "roberts",
    "gomez",
    "phillips",
    "evans",
    "turner",
    "diaz",
    "parker",
    "cruz",
    "edwards",
    "collins",
    "reyes",
    "stewart",
    "morris",
    "morales",
    "murphy",
    "cook",
    "rogers",
    "gutierrez",
    "ortiz",
    "morgan",
    "cooper",
    "peterson",
    "bailey",
    "reed",
    "kelly",
    "howard",
    "ramos",
    "kim",
    "cox",
    "ward",
    "richardson",
    "watson",
    "brooks",
    "chavez",
    "wood",
    "james",
    "bennett",
    "gray",
    "mendoza",
    "ruiz",
    "hughes",
    "price",
    "alvarez",
    "castillo",
    "sanders",
    "patel",
    "myers",
    "long",
    "ross",
    "foster",
    "jimenez",
    "powell",
    "jenkins",
    "perry",
    "russell",
    "sullivan",
    "bell",
    "coleman",
    "butler",
    "henderson",
    "barnes",
    "gonzales",
    "fisher",
    "vasquez",
    "simmons",
    "romero",
    "jordan",
    "patterson",
    "alexander",
    "hamilton",
    "graham",
    "reynolds",
    "griffin",
    "wallace",
    "moreno",
    "west",
    "cole",
    "hayes",
    "bryant",
    "herrera",
    "gibson",
    "ellis",
    "tran",
    "medina",
    "aguilar",
    "stevens",
    "murray",
    "ford",
    "castro",
    "marshall",
    "owens",
    "harrison",
    "fernandez",
    "mcdonald",
    "woods",
    "washington",
    "kennedy",
    "wells",
    "vargas",
    "henry",
    "chen",
    "freeman",
    "webb",
    "tucker",
    "guzman",
    "burns",
    "crawford",
    "olson",
    "simpson",
    "porter",
    "hunter",
    "gordon",
    "mendez",
    "silva",
    "shaw",
    "snyder",
    "mason",
    "dixon",
    "munoz",
    "hunt",
    "hicks",
    "holmes",
    "palmer",
    "wagner",
    "black",
    "robertson",
    "boyd",
    "rose",
    "stone",
    "salazar",
    "fox",
    "warren",
    "mills",
    "meyer",
    "rice",
    "schmidt",
    "garza",
    "daniels",
    "ferguson",
    "nichols",
    "stephens",
    "soto",
    "weaver",
    "ryan",
    "gardner",
    "payne",
    "grant",
    "dunn",
    "kelley",
    "spencer",
    "hawkins",
    "arnold",
    "pierce",
    "hansen",
    "peters",
    "santos",
    "hart",
    "bradley",
    "knight",
    "elliott",
    "cunningham",
    "duncan",
    "armstrong",
    "hudson",
    "carroll",
    "lane",
    "riley",
    "andrews",
    "ray",
    "berry",
    "perkins",
    "hoffman",
    "johnston",
    "matthews",
    "pena",
    "richards",
    "willis",
    "carpenter",
    "lawrence",
    "sandoval",
    "mueller",
    "schulz",
    "weber",
    "fischer",
    "becker",
    "wolf",
    "schneider",
    "yamamoto",
    "tanaka",
    "suzuki",
    "watanabe",
    "kowalski",
    "novak",
    "horvat",
    "rossi",
    "russo",
    "ferrari",
    "esposito",
]
NICKNAMES = {
    "robert": ["bob", "rob", "bobby"],
    "william": ["bill", "will", "billy"],
    "james": ["jim", "jimmy"],
    "john": ["jack", "johnny"],
    "michael": ["mike", "mikey"],
    "richard": ["rick", "dick", "rich"],
    "joseph": ["joe", "joey"],
    "thomas": ["tom", "tommy"],
    "charles": ["charlie", "chuck"],
    "christopher": ["chris"],
    "daniel": ["dan", "danny"],
    "matthew": ["matt"],
    "anthony": ["tony"],
    "steven": ["steve"],
    "andrew": ["andy", "drew"],
    "edward": ["ed", "eddie", "ted"],
    "elizabeth": ["liz", "beth", "betsy"],
    "margaret": ["peggy", "maggie", "meg"],
    "katherine": ["kate", "kathy", "katie"],
    "jennifer": ["jen", "jenny"],
    "patricia": ["pat", "patty"],
    "susan": ["sue", "susie"],
    "rebecca": ["becky"],
    "samantha": ["sam"],
    "alexander": ["alex"],
    "benjamin": ["ben"],
    "samuel": ["sam"],
    "nicholas": ["nick"],
    "jonathan": ["jon"],
    "kenneth": ["ken", "kenny"],
    "deborah": ["debbie", "deb"],
    "victoria": ["vicky"],
    "timothy": ["tim"],
    "gregory": ["greg"],
}
WORDS = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "hooli",
    "vandelay",
    "dunder",
    "oscorp",
    "gringotts",
    "monarch",
    "nakatomi",
    "pied",
    "piper",
    "massive",
    "dynamic",
    "aperture",
    "black",
    "mesa",
    "north",
    "south",
    "east",
    "west",
    "blue",
    "red",
    "green",
    "silver",
    "golden",
    "alpine",
    "coastal",
    "delta",
    "summit",
    "pioneer",
    "apex",
    "vertex",
    "quantum",
    "fusion",
    "nova",
    "orbit",
    "harbor",
    "river",
    "lake",
    "forest",
    "meadow",
    "granite",
    "iron",
]
LEGAL = ["Inc.", "GmbH", "Ltd", "LLC", "AG", "S.A.", "B.V.", "Corp.", ""]
AREA_CODES = [212, 312, 415, 617, 713, 206, 305, 404, 503, 602, 303, 512, 612, 702, 919]
FREE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "web.de"]


def _company(rng: random.Random, i: int) -> tuple[str, str]:
    words = rng.sample(WORDS, 2)
    name = f"{words[0].title()} {words[1].title()}"
    domain = f"{words[0]}{words[1]}{i % 97}.example"
    return name, domain


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "swap", "double", "change"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap":
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiou") + word[i + 1 :]


def people(n: int, share: float, seed: int, phones: bool = True):
    """(records, true pairs): records as dicts, pairs as index pairs (original, duplicate)."""
    rng = random.Random(seed)
    companies = [_company(rng, i) for i in range(max(n // 8, 10))]
    records, used = [], set()
    for _ in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, domain = rng.choice(companies)
        if rng.random() < 0.3:
            local, host = f"{first}.{last}", rng.choice(FREE)
        else:
            local, host = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}")), domain
        email = f"{local}@{host}"
        while email in used:
            email = f"{local}{rng.randrange(10, 9999)}@{host}"
        used.add(email)
        area = rng.choice(AREA_CODES)
        phone = f"+1 {area} {rng.randrange(201, 999)} {rng.randrange(0, 10000):04d}"
        records.append(
            {
                "first_name": first.title(),
                "last_name": last.title(),
                "email": email,
                "phone": phone if phones and rng.random() < 0.5 else "",
                "company_name": f"{company} {rng.choice(LEGAL)}".strip(),
                "website": "",
                "country": "US",
            }
        )
    pairs = []
    for original in rng.sample(range(n), int(n * share)):
        record = dict(records[original])
        first, last = record["first_name"].lower(), record["last_name"].lower()
        changes = rng.sample(
            [
                "nickname",
                "typo",
                "plus",
                "case",
                "dots",
                "phone_format",
                "no_phone",
                "legal",
                "other_email",
                "no_email",
            ],
            rng.randint(1, 3),
        )
        if "nickname" in changes and first in NICKNAMES:
            record["first_name"] = rng.choice(NICKNAMES[first]).title()
        if "typo" in changes:
            if rng.random() < 0.5:
                record["last_name"] = _typo(rng, last).title()
            else:
                record["first_name"] = _typo(rng, record["first_name"].lower()).title()
        local, _, host = record["email"].partition("@")
        if "plus" in changes:
            local = f"{local}+{rng.choice(('news', 'crm', 'promo', 'x'))}"
        if "dots" in changes and host == "gmail.com":
            local = local.replace(".", "")
        if "case" in changes:
            local, host = local.title(), host.upper()
        record["email"] = f"{local}@{host}"
        if "other_email" in changes:  # a private address beside the work one, or the reverse
            email = f"{first}{rng.randrange(10, 99)}@{rng.choice(FREE)}"
            while email in used:
                email = f"{first}{last}{rng.randrange(10, 9999)}@{rng.choice(FREE)}"
            used.add(email)
            record["email"] = email
        if "no_email" in changes:
            record["email"] = ""
        if record["phone"] and "phone_format" in changes:
            digits = "".join(ch for ch in record["phone"] if ch.isdigit())[1:]
            record["phone"] = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        if "no_phone" in changes:
            record["phone"] = ""
        if "legal" in changes:
            record["company_name"] = record["company_name"].upper().replace(".", "")
        records.append(record)
        pairs.append((original, len(records) - 1))
    order = list(range(len(records)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [records[old] for old in order]
    truth = {tuple(sorted((position[a], position[b]))) for a, b in pairs}
    return shuffled, truth


def judge(records):
    """Predicted duplicate pairs: each record against the earlier ones sharing a blocking key,
    leaving out a key shared by more than the import's ``KEY_BLOCK_CAP`` records, as the import
    does."""
    from crm import matching
    from leads.services.imports import KEY_BLOCK_CAP

    found, index, compared = set(), {}, 0
    for i, record in enumerate(records):
        person = matching.Person.of(**record)
        seen = set()
        keys = matching.person_keys(person)
        for key in keys:
            block = index.get(key, ())
            if len(block) > KEY_BLOCK_CAP:
                continue
            for j, other in block:
                if j in seen:
                    continue
                seen.add(j)
                compared += 1
                if matching.person_match(person, other) is not None:
                    found.add((j, i))
        for key in keys:
            index.setdefault(key, []).append((i, person))
    return found, compared


def precision_recall(n, share, seed, phones):
    records, truth = people(n, share, seed, phones=phones)
    started = time.perf_counter()
    found, compared = judge(records)
    seconds = time.perf_counter() - started
    hits = len(found & truth)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    return {
        "records": len(records),
        "true pairs": len(truth),
        "predicted": len(found),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "comparisons": compared,
        "seconds": round(seconds, 1),
    }


class Rollback(Exception):
    pass


def import_time(rows: int, seed: int, matching: bool = True) -> dict:
    import csv
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction

    from crm.models import User
    from leads.choices import DedupePolicy
    from leads.services import imports

    records, _ = people(int(rows / 1.15), 0.15, seed)
    records = records[:rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["First name", "Last name", "Email", "Phone", "Company", "Country"])
    for r in records:
        writer.writerow(
            [r["first_name"], r["last_name"], r["email"], r["phone"], r["company_name"], "US"]
        )
    data = buffer.getvalue().encode()
    result = {}
    try:
        with transaction.atomic():
            user = User.objects.filter(is_superuser=True).first() or User.objects.create(
                username="bench-dedupe", is_superuser=True
            )
            upload = SimpleUploadedFile("bench.csv", data, content_type="text/csv")
            job = imports.import_job_create(user=user, upload=upload, policy=DedupePolicy.SKIP)
            started = time.perf_counter()
            if matching:
                job = imports.import_run(job_id=job.pk)
            else:  # every row new: the import's cost without matching, for comparison
                original = imports.match_rows
                imports.match_rows = lambda rows, **_: [imports.RowMatch() for _ in rows]
                try:
                    job = imports.import_run(job_id=job.pk)
                finally:
                    imports.match_rows = original
            result = {
                "matching": matching,
                "rows": len(records),
                "seconds": round(time.perf_counter() - started, 1),
                "created": job.created_count,
                "skipped": job.skipped_count,
                "flagged": job.flagged_count,
                "errors": job.error_count,
                "status": job.status,
            }
            raise Rollback
    except Rollback:
        pass
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--duplicates", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--import-rows", type=int, default=0)
    parser.add_argument(
        "--without-matching", action="store_true", help="also time the import with every row new"
    )
    args = parser.parse_args()
    import django

    django.setup()
    if args.import_rows:
        print("import", import_time(args.import_rows, args.seed))
        if args.without_matching:
            print("import", import_time(args.import_rows, args.seed, matching=False))
        return 0
    for label, phones in (("half with phones", True), ("no phones", False)):
        print(label, precision_recall(args.people, args.duplicates, args.seed, phones))
    return 0


if __name__ == "__main__":
    sys.exit(main())
