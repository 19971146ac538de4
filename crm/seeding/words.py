"""Word lists and generators (names, companies, phones, titles, dates) shared by every stage's
seed step, so all demo data looks alike."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def phone_number_pattern() -> re.Pattern:
    """What ``phone_number`` gives, in any country (numbers valid by construction)."""
    forms = sorted(
        {
            f"{re.escape(country.calling_code + prefix)}[0-9]{{{digits}}}"
            for country in COUNTRIES
            for prefix, digits in country.phone_prefixes
        }
    )
    return re.compile(rf"\+(?:{'|'.join(forms)})")


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
