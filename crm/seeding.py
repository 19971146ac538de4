"""Demo data, built in steps that each app registers (``seed_demo`` runs them in order).

A step is ``func(ctx)``; ``ctx`` (a ``SeedContext``) carries what every step needs:

- ``rng``: a ``random.Random`` seeded from the run's seed and the step's name, so a step's output
  depends only on the arguments, never on which other steps ran before it;
- ``scale``: the volume multiplier (``ctx.count(base)`` scales a scale-1 count);
- ``users``: the demo users by username (``admin``, ``manager``, ``rep``, ``rep2``, ``agent`` and the
  extra ``repN`` / ``agentN`` of larger scales), with ``ctx.reps`` and ``ctx.agents`` as lists;
- ``now``: the anchor every date is relative to: midnight UTC at the start of the anchor day
  (today unless ``--anchor-date`` is given). Row content (names, emails, phones, who owns what,
  offsets from the anchor) is the same for the same arguments; absolute dates move with the day
  the data is seeded, so "due today" and "overdue" stay true for a fresh demo;
- ``bulk_create(model, objs)`` for model instances and ``insert_rows(model, fields, rows)`` for
  plain tuples (PostgreSQL ``COPY``, the way to write millions of rows), ``reserve_ids`` to know the
  primary keys of rows before writing them, and ``shared`` to hand data to later steps;
- ``stdout``: where progress goes (``ctx.progress(message)``).

Later stages register their own step from their ``apps.py``::

    from crm.seeding import seed_steps
    seed_steps.register("sales", seed_sales, order=20)

The core step (order 0: users' accounts, contacts, timeline, tasks) is registered below. The word
lists and generators (``person_name``, ``company_name``, ``phone_number``…) are shared so every
stage's demo data looks alike.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import re
import sys
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connection, models
from django.db.models import NOT_PROVIDED

DEFAULT_SEED = "crm-demo-1"
BATCH_SIZE = 5000


@dataclass(frozen=True)
class SeedStep:
    name: str
    func: Callable[[SeedContext], Any]
    order: int = 100


class SeedRegistry:
    """The steps ``seed_demo`` runs, in ``(order, name)`` order."""

    def __init__(self):
        self._steps: dict[str, SeedStep] = {}

    def register(self, name: str, func: Callable[[SeedContext], Any], order: int = 100):
        self._steps[name] = SeedStep(name=name, func=func, order=order)

    def unregister(self, name: str):
        self._steps.pop(name, None)

    def steps(self) -> list[SeedStep]:
        return sorted(self._steps.values(), key=lambda s: (s.order, s.name))


seed_steps = SeedRegistry()


@dataclass
class SeedContext:
    """What a seed step gets; ``for_step`` gives each step its own ``rng``."""

    scale: float
    users: dict[str, Any]
    now: dt.datetime
    stdout: Any = field(default_factory=lambda: sys.stdout)
    seed: str = DEFAULT_SEED
    rng: random.Random = field(default_factory=lambda: random.Random(DEFAULT_SEED))
    step: str = ""
    shared: dict[str, Any] = field(default_factory=dict)

    def for_step(self, name: str) -> SeedContext:
        # A str seed is hashed with SHA-512: stable across processes and PYTHONHASHSEED.
        return replace(self, step=name, rng=random.Random(f"{self.seed}:{name}"))

    # People ----------------------------------------------------------------------------------
    @property
    def reps(self) -> list:
        """Sales reps, ``rep`` and ``rep2`` first."""
        return [u for name, u in self.users.items() if _is_numbered(name, "rep")]

    @property
    def agents(self) -> list:
        return [u for name, u in self.users.items() if _is_numbered(name, "agent")]

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def count(self, base: float, exponent: float = 1.0) -> int:
        """``base`` rows at scale 1, times ``scale ** exponent``; at least one if ``base`` is."""
        return max(1 if base else 0, round(base * self.scale**exponent))

    def progress(self, message: str):
        prefix = f"[{self.step}] " if self.step else ""
        self.stdout.write(f"{prefix}{message}\n")
        if hasattr(self.stdout, "flush"):
            self.stdout.flush()

    # Writing ---------------------------------------------------------------------------------
    def reserve_ids(self, model: type[models.Model], n: int) -> range:
        """``n`` consecutive primary keys nobody else will be given (seeding runs alone)."""
        if n <= 0:
            return range(0)
        table = model._meta.db_table
        pk = model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
            (sequence,) = cursor.fetchone()
            cursor.execute(
                "SELECT setval(%s, GREATEST(nextval(%s) - 1, "
                f"(SELECT COALESCE(MAX({connection.ops.quote_name(pk)}), 0) "
                f"FROM {connection.ops.quote_name(table)})) + %s)",
                [sequence, sequence, n],
            )
            (last,) = cursor.fetchone()
            return range(last - n + 1, last + 1)

    @contextmanager
    def indexes_deferred(self, *models_: type[models.Model], when: bool = True):
        """Drop the tables' secondary indexes and foreign keys for the block and
        rebuild them after: one sort per index and one join per key instead of millions of
        random index inserts and deferred trigger checks. Unique indexes stay. Runs inside the
        seed's transaction, so a failure leaves the schema as it was."""
        if not when:
            yield
            return
        tables = [m._meta.db_table for m in models_]
        with connection.cursor() as cursor:
            # Foreign-key checks of rows written earlier in this transaction are still pending;
            # PostgreSQL refuses to alter a table they touch, so run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) "
                "AND NOT i.indisprimary AND NOT i.indisunique "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [tables],
            )
            indexes = cursor.fetchall()
            cursor.execute(
                "SELECT conrelid::regclass::text, quote_ident(conname), "
                "pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = ANY(%s::regclass[]) AND contype = 'f'",
                [tables],
            )
            foreign_keys = cursor.fetchall()
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            for table, name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        yield
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        self.progress(
            f"rebuilt {len(indexes)} indexes and {len(foreign_keys)} foreign keys "
            f"in {_since(started)}"
        )

    def insert_rows(
        self,
        model: type[models.Model],
        fields: list[str],
        rows: Iterable[tuple],
    ) -> int:
        """Write plain tuples (values in ``fields`` order, attnames like ``owner_id``): the fast
        path, one COPY. Concrete fields not named get ``now`` (auto_now fields), their
        default (called per row if callable, e.g. a UUID), or NULL. No signals, no ``save()``.
        Returns the number of rows written."""
        opts = model._meta
        by_name = {f.attname: f for f in opts.concrete_fields}
        named = [by_name[name] for name in fields]
        extra_fields, extra_values, per_row = [], [], False
        for f in opts.concrete_fields:
            if f.attname in fields or f.primary_key or f.db_default is not NOT_PROVIDED:
                continue
            extra_fields.append(f)
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                extra_values.append(self.now)
            elif f.has_default() and callable(f.default):
                extra_values.append(f.get_default)
                per_row = True
            else:
                value = f.get_default()  # "" for text fields without a default
                if value is None and not f.null:
                    raise ValueError(f"{opts.label}.{f.name} needs a value in seed rows.")
                extra_values.append(value)
        all_fields = named + extra_fields
        if per_row:
            rows = (row + tuple(v() if callable(v) else v for v in extra_values) for row in rows)
            extra = ()
        else:
            extra = tuple(extra_values)
        qn = connection.ops.quote_name
        columns = ", ".join(qn(f.column) for f in all_fields)
        started, written = time.monotonic(), 0
        adapters = [_copy_adapter(f) for f in all_fields]
        convert = any(adapters)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {qn(opts.db_table)} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                values = row + extra
                if convert:
                    values = tuple(
                        a(v) if a and v is not None else v
                        for a, v in zip(adapters, values, strict=True)
                    )
                copy.write_row(values)
                written += 1
        self.progress(f"{opts.verbose_name_plural}: {written:,} rows in {_since(started)}")
        return written

    def bulk_create(
        self, model: type[models.Model], objs: Iterable[models.Model], batch_size: int = BATCH_SIZE
    ) -> list[models.Model]:
        """``Model.objects.bulk_create`` that keeps the dates a step gives ``auto_now`` /
        ``auto_now_add`` fields (``now`` where it gives none), so history can be backdated."""
        objs = list(objs)
        auto = [
            f
            for f in model._meta.concrete_fields
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        for obj in objs:
            for f in auto:
                if getattr(obj, f.attname) is None:
                    setattr(obj, f.attname, self.now)
        saved = [(f, f.auto_now, f.auto_now_add) for f in auto]
        started = time.monotonic()
        try:
            for f in auto:
                f.auto_now = f.auto_now_add = False
            created = model.objects.bulk_create(objs, batch_size=batch_size)
        finally:
            for f, auto_now, auto_now_add in saved:
                f.auto_now, f.auto_now_add = auto_now, auto_now_add
        self.progress(
            f"{model._meta.verbose_name_plural}: {len(created):,} rows in {_since(started)}"
        )
        return created


def _is_numbered(name: str, prefix: str) -> bool:
    return re.fullmatch(rf"{prefix}\d*", name) is not None


def _copy_adapter(f: models.Field):
    if f.get_internal_type() == "JSONField":
        from psycopg.types.json import Jsonb

        return Jsonb
    return None


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"


# --------------------------------------------------------------------------------------------
# Word lists and generators, shared by every stage's step.
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = {
    "en": _words(
        "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
        "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy "
        "Anthony Betty Mark Sandra Steven Ashley Andrew Emily Joshua Michelle Kevin Amanda Brian "
        "Melissa George Rebecca Timothy Laura Ryan Emma Jacob Olivia Oliver Sophie Harry Grace "
        "Ethan Chloe Noah Hannah Liam Megan Lucas Rachel Nathan Lauren Samuel Victoria Jack Amelia"
    ),
    "de": _words(
        "Lukas Anna Jonas Lea Leon Hannah Finn Mia Paul Lena Felix Laura Maximilian Julia Tobias "
        "Sarah Jan Katharina Stefan Sabine Andreas Petra Thomas Claudia Michael Susanne Markus "
        "Nicole Matthias Stefanie Jürgen Ursula Sebastian Johanna Florian Franziska Moritz Clara"
    ),
    "fr": _words(
        "Louis Camille Gabriel Léa Arthur Chloé Jules Manon Hugo Inès Lucas Sarah Nathan Emma "
        "Thomas Julie Antoine Claire Nicolas Marie Pierre Céline François Sophie Julien Amélie "
        "Mathieu Élodie Guillaume Aurélie"
    ),
    "nl": _words(
        "Daan Emma Sem Julia Lucas Sophie Levi Tess Finn Anna Thijs Lotte Jesse Sanne Bram Fleur "
        "Ruben Eva Lars Iris Joost Femke Pieter Marloes"
    ),
    "es": _words(
        "Alejandro Lucía Pablo María Daniel Paula Javier Laura Carlos Marta Sergio Sara Adrián "
        "Carmen José Ana Manuel Elena Diego Cristina Álvaro Raquel"
    ),
    "it": _words(
        "Francesco Giulia Alessandro Sofia Lorenzo Aurora Matteo Alice Andrea Martina Marco "
        "Chiara Luca Francesca Giuseppe Sara Davide Elisa Stefano Valentina Simone Federica"
    ),
    "sv": _words(
        "Erik Anna Lars Maria Karl Sara Johan Emma Anders Elin Oskar Maja Nils Ida Gustav Linnea "
        "Axel Klara Olof Frida"
    ),
}
LAST_NAMES = {
    "en": _words(
        "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
        "Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King "
        "Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips "
        "Evans Turner Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper "
        "Peterson Bailey Reed Kelly Howard Cox Ward Richardson Watson Brooks Wood James Bennett "
        "Gray Hughes Price Sanders Myers Long Ross Foster Powell Jenkins Perry Russell Sullivan "
        "Bell Coleman Butler Henderson Barnes Fisher Hayes Graham Wallace Walsh O'Brien Byrne "
        "Kennedy Lynch Doyle Fraser Hamilton Patel Khan Singh Nguyen Chen Wong Kaur Ahmed"
    ),
    "de": _words(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
        "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
        "Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler "
        "Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn "
        "Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Gruber"
    ),
    "fr": _words(
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
        "Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre "
        "Mercier Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc "
        "Guérin Muller Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez"
    ),
    "nl": [
        "de Jong",
        "Jansen",
        "de Vries",
        "van den Berg",
        "van Dijk",
        "Bakker",
        "Janssen",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "de Groot",
        "Bos",
        "Vos",
        "Peters",
        "Hendriks",
        "van Leeuwen",
        "Dekker",
        "Brouwer",
        "de Wit",
        "Dijkstra",
        "Smits",
        "de Graaf",
        "van der Meer",
        "Kok",
        "Jacobs",
        "de Haan",
        "Vermeulen",
        "van den Heuvel",
    ],  # fmt: skip
    "es": _words(
        "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín Jiménez "
        "Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Torres "
        "Domínguez Vázquez Ramos Gil Ramírez Serrano Blanco Molina"
    ),
    "it": _words(
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo "
        "Conti Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro "
        "Mariani Rinaldi Caruso Ferrara Galli Martini Leone"
    )
    + ["De Luca"],
    "sv": _words(
        "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
        "Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson Magnusson "
        "Lindström Lindqvist Berglund Axelsson Lundberg"
    ),
}


@dataclass(frozen=True)
class Country:
    code: str
    language: str
    weight: int
    tld: str
    legal_forms: tuple[str, ...]
    cities: tuple[str, ...]
    calling_code: str
    # (digits after the calling code, how many random digits follow); each checked to be valid.
    phone_prefixes: tuple[tuple[str, int], ...]


# fmt: off
COUNTRIES = (
    Country("US", "en", 30, "com", ("Inc.", "LLC", "Corp.", "Co."),
            ("New York", "Austin", "Chicago", "Boston", "Seattle", "Denver", "Atlanta"), "1",
            (("2125", 6), ("4155", 6), ("3125", 6), ("6175", 6), ("2065", 6), ("5125", 6))),
    Country("DE", "de", 15, "de", ("GmbH", "AG", "GmbH & Co. KG", "SE"),
            ("Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Stuttgart", "Leipzig"), "49",
            (("302", 7), ("305", 7), ("403", 7), ("892", 7), ("695", 7), ("151", 8), ("170", 7))),
    Country("GB", "en", 12, "co.uk", ("Ltd", "Ltd", "plc", "LLP"),
            ("London", "Manchester", "Edinburgh", "Bristol", "Leeds", "Cambridge"), "44",
            (("207", 7), ("203", 7), ("1612", 6), ("1314", 6), ("740", 7), ("759", 7))),
    Country("FR", "fr", 8, "fr", ("SAS", "SA", "SARL"),
            ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille", "Bordeaux"), "33",
            (("14", 7), ("45", 7), ("61", 7), ("65", 7), ("75", 7))),
    Country("NL", "nl", 6, "nl", ("B.V.", "N.V."),
            ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Den Haag"), "31",
            (("205", 6), ("104", 6), ("61", 7), ("62", 7))),
    Country("ES", "es", 5, "es", ("S.L.", "S.A."),
            ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao"), "34",
            (("915", 6), ("934", 6), ("6", 8))),
    Country("IT", "it", 5, "it", ("S.r.l.", "S.p.A."),
            ("Milano", "Roma", "Torino", "Bologna", "Firenze"), "39",
            (("02", 8), ("065", 7), ("33", 8), ("34", 8))),
    Country("SE", "sv", 3, "se", ("AB",), ("Stockholm", "Göteborg", "Malmö", "Uppsala"), "46",
            (("8", 8), ("70", 7), ("73", 7))),
    Country("CH", "de", 3, "ch", ("AG", "GmbH", "SA"),
            ("Zürich", "Genève", "Basel", "Bern", "Lausanne"), "41",
            (("44", 7), ("22", 7), ("79", 7), ("78", 7))),
    Country("AT", "de", 3, "at", ("GmbH", "AG"), ("Wien", "Graz", "Linz", "Salzburg"), "43",
            (("15", 6), ("664", 7))),
    Country("IE", "en", 2, "ie", ("Ltd", "DAC"), ("Dublin", "Cork", "Galway", "Limerick"), "353",
            (("1", 7), ("87", 7), ("86", 7))),
    Country("CA", "en", 4, "ca", ("Inc.", "Ltd.", "Corp."),
            ("Toronto", "Vancouver", "Montréal", "Calgary", "Ottawa"), "1",
            (("4165", 6), ("6045", 6), ("5145", 6))),
    Country("AU", "en", 4, "com.au", ("Pty Ltd",),
            ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide"), "61",
            (("29", 7), ("39", 7), ("41", 7), ("40", 7))),
)
# fmt: on
COUNTRY_WEIGHTS = list(itertools.accumulate(c.weight for c in COUNTRIES))

# Words a company in an industry might be named after; keys are crm.choices.Industry values.
INDUSTRY_WORDS = {
    "software": _words("Software Systems Labs Digital Cloud Data Analytics Apps Tech Networks"),
    "manufacturing": _words(
        "Industries Manufacturing Werke Engineering Machines Components Tools Metal Fabrication"
    ),
    "retail": _words("Retail Stores Market Outlet Goods Supply Trading Shop Brands"),
    "finance": _words("Capital Finance Partners Advisors Investments Bank Assurance Holdings"),
    "healthcare": _words("Health Medical Care Clinics Pharma Diagnostics Biotech Life Sciences"),
    "education": _words("Learning Academy Education Institute Training School"),
    "logistics": _words("Logistics Freight Transport Shipping Cargo Express Distribution"),
    "media": _words("Media Studios Publishing Broadcasting Creative Pictures Press"),
    "consulting": _words("Consulting Advisory Partners Group Associates Strategy Solutions"),
    "public": _words("Services Authority Utilities Agency Council Works"),
    "energy": _words("Energy Power Solar Wind Renewables Grid Utilities"),
    "other": _words("Group Holdings Enterprises Ventures Company Collective"),
}
INDUSTRY_VALUES = list(INDUSTRY_WORDS)
NAME_STEMS = _words(
    "Acme Apex Atlas Aurora Beacon Blue Bright Cedar Clear Cobalt Crest Delta Eagle Echo Ember "
    "Evergreen Falcon Fjord Forge Granite Green Harbor Helix Horizon Indigo Iron Juniper Keystone "
    "Lumen Maple Meridian Nimbus Noble North Nova Oak Octave Onyx Orbit Pacific Peak Pine Pioneer "
    "Polar Prime Quartz Radiant Red Ridge River Rock Sage Silver Sky Solid Spark Spruce Star "
    "Sterling Stone Summit Sun Swift Terra Tidal Titan Triad True Union Vector Vertex Vista Wave "
    "West Willow Zenith Alder Arrow Bay Birch Bold Canyon Cardinal Cascade Compass Copper Coral "
    "Crown Falcon Fern Fox Gold Hawk Heron Ivy Lake Lark Lion Lotus Lynx Marble Mesa Mint Moss "
    "Nordic Ocean Opal Orchid Otter Pearl Pine Raven Reef Sable Shore Slate Sparrow Stag Storm "
    "Thistle Timber Topaz Valley Velvet Wren Yew Alpine Amber Anchor Archer Aspen Badger Basalt"
)
SIZE_BANDS = (("1-10", 20), ("11-50", 30), ("51-200", 25), ("201-1000", 17), ("1000+", 8))
LIFECYCLE = (("prospect", 45), ("customer", 45), ("churned", 10))
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "gmx.net")
SENIORITY = ("", "", "", "Senior ", "Head of ", "Director of ", "VP ", "Chief ")
# fmt: off
FUNCTIONS = (
    "Sales", "Marketing", "Operations", "Finance", "IT", "Procurement", "Engineering",
    "Customer Success", "Product", "HR", "Legal", "Logistics",
)
TITLE_FORMS = {
    "": ("{f} Manager", "{f} Specialist", "{f} Lead", "{f} Analyst", "{f} Coordinator"),
    "Senior ": ("Senior {f} Manager", "Senior {f} Analyst"),
    "Head of ": ("Head of {f}",),
    "Director of ": ("Director of {f}",),
    "VP ": ("VP {f}",),
    "Chief ": ("CEO", "CFO", "CTO", "COO", "CIO", "Founder & CEO", "Managing Director"),
}
TOPICS = (
    "pricing", "renewal terms", "the onboarding plan", "a product demo", "integration questions",
    "the security review", "next quarter's roll-out", "support response times", "the proposal",
    "contract redlines", "budget approval", "a reference customer", "user training",
    "the pilot results", "expansion to a second team", "invoice questions",
)
# fmt: on


def pick_weighted(rng: random.Random, pairs) -> Any:
    """``pairs``: ((value, weight), …)."""
    total = sum(w for _, w in pairs)
    r = rng.random() * total
    for value, weight in pairs:
        r -= weight
        if r < 0:
            return value
    return pairs[-1][0]


def pick_country(rng: random.Random) -> Country:
    r = rng.random() * COUNTRY_WEIGHTS[-1]
    for country, upto in zip(COUNTRIES, COUNTRY_WEIGHTS, strict=True):
        if r < upto:
            return country
    return COUNTRIES[-1]


def person_name(rng: random.Random, country: Country) -> tuple[str, str]:
    language = country.language
    if country.code == "CH" and rng.random() < 0.3:
        language = "fr"
    return rng.choice(FIRST_NAMES[language]), rng.choice(LAST_NAMES[language])


def ascii_slug(value: str, sep: str = "") -> str:
    """``"Müller & Söhne"`` → ``"mullersohne"``: lower-case ASCII letters and digits only."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    words = ["".join(ch for ch in word if ch.isalnum()) for word in folded.split()]
    return sep.join(w for w in words if w)


def company_name(rng: random.Random, country: Country, industry: str) -> tuple[str, str]:
    """``("Summit Logistics", "GmbH")``: the name a domain is made from, and the legal form."""
    word = rng.choice(INDUSTRY_WORDS[industry])
    form = rng.random()
    if form < 0.45:
        base = f"{rng.choice(NAME_STEMS)} {word}"
    elif form < 0.65:
        base = f"{rng.choice(NAME_STEMS)}{rng.choice(NAME_STEMS).lower()} {word}"
    elif form < 0.85:
        base = f"{person_name(rng, country)[1]} {word}"
    else:
        a, b = person_name(rng, country)[1], person_name(rng, country)[1]
        base = f"{a} & {b}"
    return base, rng.choice(country.legal_forms)


def phone_number(rng: random.Random, country: Country) -> str:
    """A valid number in E.164 form (``+4930…``); the prefixes are checked against libphonenumber
    in the tests."""
    prefix, digits = rng.choice(country.phone_prefixes)
    return f"+{country.calling_code}{prefix}{rng.randrange(10**digits):0{digits}d}"


def job_title(rng: random.Random) -> str:
    seniority = rng.choice(SENIORITY)
    return rng.choice(TITLE_FORMS[seniority]).format(f=rng.choice(FUNCTIONS))


def email_local_part(rng: random.Random, first: str, last: str) -> str:
    f, la = ascii_slug(first), ascii_slug(last)
    form = rng.random()
    if form < 0.6:
        return f"{f}.{la}"
    if form < 0.8:
        return f"{f[:1]}{la}"
    if form < 0.9:
        return f"{f}_{la}"
    return f"{f}{la}"


class UniqueNames:
    """Hands out unique strings: the wanted one, else with a number appended."""

    def __init__(self):
        self._seen: set[str] = set()

    def take(self, wanted: str, fmt: Callable[[str, int], str]) -> str:
        value, n = wanted, 1
        while value in self._seen:
            n += 1
            value = fmt(wanted, n)
        self._seen.add(value)
        return value


def days_ago(rng: random.Random, now: dt.datetime, max_days: float, min_days: float = 0.0):
    """A moment in the last ``max_days`` (recent days a little more likely), in working hours."""
    age = min_days + (max_days - min_days) * (rng.random() ** 1.3)
    day = now - dt.timedelta(days=math.ceil(age))
    return day.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(
        minutes=rng.randrange(8 * 60, 18 * 60)
    )


def working_hours(rng: random.Random, timestamp: float) -> dt.datetime:
    """A moment between 8:00 and 18:00 UTC on the day of ``timestamp``."""
    day = dt.datetime.fromtimestamp(timestamp - timestamp % 86400, dt.UTC)
    return day + dt.timedelta(minutes=rng.randrange(8 * 60, 18 * 60))


# --------------------------------------------------------------------------------------------
# Demo users and the run.
# --------------------------------------------------------------------------------------------

DEMO_USERS = (
    # username, first name, last name, roles
    ("admin", "Alex", "Morgan", ("Admin",)),
    ("manager", "Maria", "Keller", ("Manager",)),
    ("rep", "Ryan", "Cooper", ("Sales rep",)),
    ("rep2", "Sofia", "Rossi", ("Sales rep",)),
    ("agent", "Ava", "Johnson", ("Support agent",)),
)


def extra_staff(scale: float) -> tuple[int, int]:
    """Extra sales reps and support agents at larger scales (18 and 6 at scale 1000)."""
    reps = min(18, int(math.sqrt(scale))) if scale >= 4 else 0
    return reps, reps // 3


def demo_users_create(*, scale: float, password: str, seed: str = DEFAULT_SEED) -> dict:
    """The demo users (created or reset to their demo state) and the teams "Sales" and "Support",
    both managed by ``manager``. Returns the users by username, reps and agents in order."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from crm.choices import Role
    from crm.models import Team, User

    rng = random.Random(f"{seed}:users")
    extra_reps, extra_agents = extra_staff(scale)
    wanted = list(DEMO_USERS)
    country = COUNTRIES[0]
    for i in range(extra_reps):
        wanted.append((f"rep{i + 3}", *person_name(rng, country), (Role.SALES_REP,)))
    for i in range(extra_agents):
        wanted.append((f"agent{i + 2}", *person_name(rng, country), (Role.SUPPORT_AGENT,)))
    groups = {g.name: g for g in Group.objects.filter(name__in=Role.values)}
    # One hash for all: hashing is deliberately slow, and they share the password anyway.
    password_hash = make_password(password)
    users = {}
    for username, first, last, roles in wanted:
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@demo.example.com",
                "password": password_hash,
                "is_active": True,
                "is_staff": username == "admin",
                "is_superuser": username == "admin",
            },
        )
        user.groups.set([groups[role] for role in roles])
        users[username] = user
    sales, _ = Team.objects.get_or_create(name="Sales")
    sales.members.add(*(u for name, u in users.items() if _is_numbered(name, "rep")))
    sales.managers.add(users["manager"])
    support, _ = Team.objects.get_or_create(name="Support")
    support.members.add(*(u for name, u in users.items() if _is_numbered(name, "agent")))
    support.managers.add(users["manager"])
    return users


def demo_data_exists() -> bool:
    from crm.models import Account, User

    return User.objects.filter(username="rep").exists() and Account.objects.exists()


def anchor_datetime(day: dt.date | None = None) -> dt.datetime:
    """Midnight UTC at the start of ``day`` (today by default)."""
    day = day or dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


def seed_run(
    *,
    scale: float,
    password: str,
    stdout=None,
    anchor: dt.date | None = None,
    seed: str = DEFAULT_SEED,
) -> SeedContext:
    """Create the demo users and run every registered step, all in one transaction."""
    from django.db import transaction

    stdout = stdout or sys.stdout
    with transaction.atomic():
        users = demo_users_create(scale=scale, password=password, seed=seed)
        ctx = SeedContext(
            scale=scale, users=users, now=anchor_datetime(anchor), stdout=stdout, seed=seed
        )
        for step in seed_steps.steps():
            started = time.monotonic()
            step_ctx = ctx.for_step(step.name)
            step.func(step_ctx)
            step_ctx.progress(f"done in {_since(started)}")
    if not connection.in_atomic_block:
        # Fresh statistics and visibility maps, so the first page views get good plans.
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        ctx.progress(f"vacuum and analyze in {_since(started)}")
    return ctx


# --------------------------------------------------------------------------------------------
# The core step: accounts, contacts, their timelines and the reps' tasks.
# --------------------------------------------------------------------------------------------

# Scale 1 has 200 accounts; scale 1000 has 100,000 (bigger customers at scale: 10 contacts each).
ACCOUNT_EXPONENT = math.log(500) / math.log(1000)
TWO_YEARS = 730


@dataclass
class CoreData:
    """What the core step made, for later steps (``ctx.shared["crm"]``): the rows' primary keys
    and, per row, the owner's id (and the contact's account id, 0 for none)."""

    account_ids: range
    account_owner: array
    account_country: list[str]
    contact_ids: range
    contact_owner: array
    contact_account: array


def seed_core(ctx: SeedContext):
    from crm.models import Account, Activity, Contact, Task

    # Above ~50,000 rows, loading then indexing beats indexing row by row.
    with ctx.indexes_deferred(Account, Contact, Activity, Task, when=ctx.count(1000) >= 50_000):
        _core_load(ctx)


def _core_load(ctx: SeedContext):
    from django.contrib.contenttypes.models import ContentType

    from crm.models import Account, Activity, Contact, Task

    rng, now = ctx.rng, ctx.now
    reps = [u.pk for u in ctx.reps]
    others = [u.pk for u in ctx.agents] + [ctx.users["manager"].pk]
    n_accounts = ctx.count(200, ACCOUNT_EXPONENT)
    n_contacts = ctx.count(1000)
    n_activities = ctx.count(3000)

    # Accounts ---------------------------------------------------------------------------------
    account_ids = ctx.reserve_ids(Account, n_accounts)
    names, domains = UniqueNames(), UniqueNames()
    acc_owner = array("q")
    acc_created = array("d")
    acc_country: list[Country] = []
    acc_domain: list[str] = []

    def account_rows():
        for pk in account_ids:
            country = pick_country(rng)
            industry = rng.choice(INDUSTRY_VALUES)
            base, legal_form = company_name(rng, country, industry)
            # A second "Summit Logistics GmbH" becomes "Summit Logistics Hamburg GmbH".
            name = names.take(
                f"{base} {legal_form}",
                lambda wanted, n, b=base, lf=legal_form, cities=country.cities: (
                    f"{b} {cities[n - 2]} {lf}" if n - 2 < len(cities) else f"{wanted} ({n})"
                ),
            )
            stem = ascii_slug(base, sep="-")
            domain = domains.take(
                f"{stem[:50].strip('-')}.{country.tld}",
                lambda wanted, n: wanted.replace(".", f"{n}.", 1),
            )
            owner = rng.choice(reps)
            created = days_ago(rng, now, TWO_YEARS)
            updated = created + (now - created) * rng.random()
            acc_owner.append(owner)
            acc_created.append(created.timestamp())
            acc_country.append(country)
            acc_domain.append(domain)
            yield (
                pk,
                name,
                domain,
                industry,
                pick_weighted(rng, SIZE_BANDS),
                country.code,
                owner,
                pick_weighted(rng, LIFECYCLE),
                created,
                updated,
            )

    ctx.insert_rows(
        Account,
        _words(
            "id name domain industry size_band country owner_id lifecycle_stage created_at updated_at"
        ),
        account_rows(),
    )

    # Contacts ---------------------------------------------------------------------------------
    contact_ids = ctx.reserve_ids(Contact, n_contacts)
    emails = UniqueNames()
    con_owner = array("q")
    con_account = array("q")
    con_created = array("d")
    con_name: list[str] = []
    tz = dt.UTC

    def contact_rows():
        for pk in contact_ids:
            if rng.random() < 0.92:
                # Some accounts have many contacts, most a few.
                i = int(n_accounts * rng.random() ** 1.6)
                account_id = account_ids[i]
                country, domain = acc_country[i], acc_domain[i]
                owner = acc_owner[i] if rng.random() < 0.85 else rng.choice(reps)
                earliest = acc_created[i]
            else:
                account_id, country, domain = None, pick_country(rng), rng.choice(PERSONAL_DOMAINS)
                owner = rng.choice(reps)
                earliest = (now - dt.timedelta(days=TWO_YEARS)).timestamp()
            first, last = person_name(rng, country)
            email = ""
            if rng.random() < 0.97:
                email = emails.take(
                    f"{email_local_part(rng, first, last)}@{domain}",
                    lambda wanted, n: wanted.replace("@", f"{n}@", 1),
                )
            phone = phone_number(rng, country) if rng.random() < 0.8 else ""
            created_ts = earliest + (now.timestamp() - earliest) * rng.random()
            created = dt.datetime.fromtimestamp(created_ts, tz)
            updated = created + (now - created) * rng.random()
            consent = rng.random() < 0.6
            marketing = consent and rng.random() < 0.5
            con_owner.append(owner)
            con_account.append(account_id or 0)
            con_created.append(created_ts)
            con_name.append(f"{first} {last}")
            yield (
                pk,
                first,
                last,
                email,
                phone,
                job_title(rng),
                account_id,
                owner,
                consent,
                created if consent else None,
                marketing,
                created if marketing else None,
                created,
                updated,
            )

    ctx.insert_rows(
        Contact,
        _words(
            "id first_name last_name email phone title account_id owner_id email_consent email_consent_at marketing_consent marketing_consent_at created_at updated_at"
        ),
        contact_rows(),
    )

    # Timeline ---------------------------------------------------------------------------------
    contact_ct = ContentType.objects.get_for_model(Contact).pk
    account_ct = ContentType.objects.get_for_model(Account).pk
    now_ts = now.timestamp()
    kinds = (("email", 35), ("call", 30), ("meeting", 15), ("note", 20))
    summaries = {
        "email": ("Sent {topic} follow-up", "Email about {topic}", "Replied on {topic}"),
        "call": ("Call with {name} about {topic}", "Left a voicemail for {name}"),
        "meeting": ("Meeting with {name}: {topic}", "Video call on {topic}"),
        "note": ("Note on {topic}", "{name} asked about {topic}"),
    }
    bodies = (
        "",
        "",
        "Agreed next steps; will follow up next week.",
        "Positive overall; needs sign-off from finance.",
        "Asked for a written summary and updated pricing.",
        "No decision yet, timing depends on their budget cycle.",
    )

    def activity_rows():
        for _ in range(n_activities):
            if rng.random() < 0.85:
                i = rng.randrange(n_contacts)
                ct, object_id, owner = contact_ct, contact_ids[i], con_owner[i]
                earliest, name = con_created[i], con_name[i]
            else:
                i = rng.randrange(n_accounts)
                ct, object_id, owner = account_ct, account_ids[i], acc_owner[i]
                earliest, name = acc_created[i], "the team"
            kind = pick_weighted(rng, kinds)
            actor = owner if rng.random() < 0.8 else rng.choice(others)
            occurred = working_hours(rng, earliest + (now_ts - earliest) * rng.random() ** 0.7)
            summary = rng.choice(summaries[kind]).format(name=name, topic=rng.choice(TOPICS))
            yield (
                kind,
                summary[:200],
                rng.choice(bodies),
                occurred,
                actor,
                owner,
                ct,
                object_id,
                occurred,
            )

    ctx.insert_rows(
        Activity,
        _words(
            "kind summary body occurred_at actor_id subject_owner_id content_type_id object_id created_at"
        ),
        activity_rows(),
    )

    # Tasks: each rep gets overdue ones and ones due today, then a mix of done and upcoming ------
    contacts_by_owner: dict[int, list[int]] = {}
    for i, owner in enumerate(con_owner):
        contacts_by_owner.setdefault(owner, []).append(i)
    assignees = reps + others
    per_user = max(10, ctx.count(100) // len(assignees))
    task_forms = (
        "Call back {name}",
        "Send proposal to {name}",
        "Follow up with {name} about {topic}",
        "Book a demo with {name}",
        "Check in with {name} on {topic}",
        "Prepare notes on {topic} for {name}",
    )

    def task_rows():
        for user in assignees:
            owned = contacts_by_owner.get(user) or range(n_contacts)
            for k in range(per_user):
                i = rng.choice(owned)
                title = rng.choice(task_forms).format(name=con_name[i], topic=rng.choice(TOPICS))
                done_at = None
                if k < 2:  # overdue
                    due = days_ago(rng, now, 20, min_days=1)
                elif k < 4:  # due today, in working hours
                    due = now + dt.timedelta(minutes=rng.randrange(9 * 60, 17 * 60))
                elif rng.random() < 0.45:  # done
                    due = days_ago(rng, now, 120, min_days=1)
                    done_at = due - dt.timedelta(hours=rng.randrange(0, 48))
                else:  # upcoming
                    due = now + dt.timedelta(
                        days=rng.randrange(1, 30), minutes=rng.randrange(9 * 60, 17 * 60)
                    )
                yield (
                    title[:200],
                    due,
                    user,
                    user,
                    contact_ct,
                    contact_ids[i],
                    done_at,
                    user if done_at else None,
                    min(due, now) - dt.timedelta(days=rng.randrange(1, 14)),
                )

    ctx.insert_rows(
        Task,
        _words(
            "title due_at assignee_id created_by_id content_type_id object_id done_at done_by_id created_at"
        ),
        task_rows(),
    )
    ctx.shared["crm"] = CoreData(
        account_ids=account_ids,
        account_owner=acc_owner,
        account_country=[c.code for c in acc_country],
        contact_ids=contact_ids,
        contact_owner=con_owner,
        contact_account=con_account,
    )


seed_steps.register("crm", seed_core, order=0)
