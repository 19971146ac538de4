"""Matching people and companies, judged on pairs a sales team meets (labelled by hand)."""

import random

import pytest

from crm import matching
from crm.matching import DIFFERENT, LIKELY, SAME, Company, Person

P = Person.of


def _p(first="", last="", email="", phone="", company="", website="", country=""):
    return P(
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        company_name=company,
        website=website,
        country=country,
    )


#: (what the case is, person a, person b, the outcome a careful person gives)
PEOPLE = [
    # --- the same person ------------------------------------------------------------------
    (
        "same email, same name",
        _p("Ada", "Lovelace", "ada@engines.example"),
        _p("Ada", "Lovelace", "ada@engines.example"),
        SAME,
    ),
    (
        "email case and spaces",
        _p("Ada", "Lovelace", " ADA@Engines.example "),
        _p("Ada", "Lovelace", "ada@engines.example"),
        SAME,
    ),
    (
        "plus-tag",
        _p("Jane", "Doe", "jane+news@acme.example"),
        _p("Jane", "Doe", "jane@acme.example"),
        SAME,
    ),
    (
        "gmail dots",
        _p("Jane", "Doe", "j.a.ne@gmail.com"),
        _p("Jane", "Doe", "jane@gmail.com"),
        SAME,
    ),
    (
        "googlemail alias",
        _p("Jane", "Doe", "jane.doe@googlemail.com"),
        _p("Jane", "Doe", "janedoe@gmail.com"),
        SAME,
    ),
    ("icloud alias", _p("Tim", "Cook", "tim@me.com"), _p("Tim", "Cook", "tim@icloud.com"), SAME),
    (
        "same email, nickname",
        _p("Bob", "Miller", "rmiller@acme.example"),
        _p("Robert", "Miller", "rmiller@acme.example"),
        SAME,
    ),
    (
        "same email, surname typo",
        _p("Katherine", "Johnson", "kj@nasa.example"),
        _p("Katherine", "Jonhson", "kj@nasa.example"),
        SAME,
    ),
    (
        "same email, first name missing",
        _p("", "Hopper", "grace@navy.example"),
        _p("Grace", "Hopper", "grace@navy.example"),
        SAME,
    ),
    (
        "same email, married name",
        _p("Anna", "Schmidt", "anna@firm.example"),
        _p("Anna", "Weber", "anna@firm.example"),
        SAME,
    ),
    (
        "same phone and name, no emails",
        _p("Ada", "Lovelace", phone="+4930123456"),
        _p("Ada", "Lovelace", phone="030 123456", country="DE"),
        SAME,
    ),
    (
        "phone formats",
        _p("Li", "Wei", phone="+1 (415) 555-0134"),
        _p("Li", "Wei", phone="415.555.0134", country="US"),
        SAME,
    ),
    (
        "phone and nickname",
        _p("Bill", "Gates", phone="+14155550100"),
        _p("William", "Gates", phone="+14155550100"),
        SAME,
    ),
    (
        "phone and typo",
        _p("Jonathan", "Smith", phone="+442071838750"),
        _p("Jonathon", "Smith", phone="+442071838750"),
        SAME,
    ),
    (
        "phone, name, one email missing",
        _p("Ada", "Lovelace", "ada@x.example", "+4930123456"),
        _p("Ada", "Lovelace", "", "+4930123456"),
        SAME,
    ),
    (
        "umlaut transliterated, same email",
        _p("Jürgen", "Müller", "jm@firma.example"),
        _p("Jurgen", "Muller", "jm@firma.example"),
        SAME,
    ),
    (
        "cyrillic name, same phone",
        _p("Иван", "Петров", phone="+74951234567"),
        _p("Ivan", "Petrov", phone="+74951234567"),
        SAME,
    ),
    (
        "name, company and phone",
        _p("Maria", "Garcia", company="Acme Inc.", phone="+34911234567"),
        _p("María", "García", company="ACME", phone="+34 911 23 45 67"),
        SAME,
    ),
    (
        "swapped names, same email",
        _p("Smith", "John", "js@acme.example"),
        _p("John", "Smith", "js@acme.example"),
        SAME,
    ),
    (
        "initial, same email",
        _p("J.", "Meyer", "jana@acme.example"),
        _p("Jana", "Meyer", "jana@acme.example"),
        SAME,
    ),
    (
        "hyphenated surname part",
        _p("Eva", "Meier-Schulz", phone="+4989123456"),
        _p("Eva", "Schulz", phone="+4989123456"),
        SAME,
    ),
    (
        "peggy is margaret, phone",
        _p("Peggy", "Olson", phone="+12125550199"),
        _p("Margaret", "Olson", phone="+12125550199"),
        SAME,
    ),
    (
        "plus-tag and nickname",
        _p("Liz", "Taylor", "liz+promo@studio.example"),
        _p("Elizabeth", "Taylor", "liz@studio.example"),
        SAME,
    ),
    (
        "uppercase and plus-tag gmail",
        _p("Tom", "Hanks", "Tom.Hanks+crm@Gmail.com"),
        _p("Tom", "Hanks", "tomhanks@gmail.com"),
        SAME,
    ),
    (
        "same phone, same name, company typo",
        _p("Omar", "Haddad", company="Globex Corp", phone="+97141234567"),
        _p("Omar", "Hadad", company="Globex Corporation", phone="+97141234567"),
        SAME,
    ),
    # --- worth a look ---------------------------------------------------------------------
    (
        "name and company, no emails",
        _p("John", "Smith", company="Acme Ltd"),
        _p("John", "Smith", company="ACME"),
        LIKELY,
    ),
    (
        "name and work domain, different emails",
        _p("John", "Smith", "john@acme.example"),
        _p("John", "Smith", "jsmith@acme.example"),
        LIKELY,
    ),
    (
        "name and phone, different emails",
        _p("Ada", "Lovelace", "ada@home.example", "+4930123456"),
        _p("Ada", "Lovelace", "ada@work.example", "+4930123456"),
        LIKELY,
    ),
    (
        "nickname and company, different emails",
        _p("Bob", "Stone", "bob@quarry.example", company="Quarry"),
        _p("Robert", "Stone", "r.stone@quarry.example", company="Quarry"),
        LIKELY,
    ),
    (
        "same name only, one email missing",
        _p("Carla", "Bruni", "carla@music.example"),
        _p("Carla", "Bruni"),
        LIKELY,
    ),
    (
        "shared team mailbox, different people",
        _p("Paul", "Klee", "info@atelier.example"),
        _p("Wassily", "Kandinsky", "info@atelier.example"),
        LIKELY,
    ),
    (
        "phone and similar name, different emails",
        _p("Jon", "Snow", "jon@wall.example", "+441234567890"),
        _p("John", "Snow", "john.snow@north.example", "+441234567890"),
        LIKELY,
    ),
    (
        "surname typo and company, no emails",
        _p("Greta", "Lindqvist", company="Nordic AB"),
        _p("Greta", "Lindquist", company="Nordic"),
        LIKELY,
    ),
    (
        "name, phone with different emails and companies",
        _p("Sam", "Lee", "sam@a.example", "+6561234567", company="A Pte"),
        _p("Samuel", "Lee", "slee@b.example", "+6561234567", company="B Pte"),
        LIKELY,
    ),
    (
        "first name missing, same company and surname",
        _p("", "Tanaka", company="Sony Corp"),
        _p("Hiro", "Tanaka", company="Sony"),
        LIKELY,
    ),
    ("name only, no emails", _p("Priya", "Patel"), _p("Priya", "Patel"), LIKELY),
    ("typo in name, no other data", _p("Fiona", "Gallagher"), _p("Fiona", "Galagher"), LIKELY),
    # --- different people -----------------------------------------------------------------
    (
        "switchboard: same phone, different people",
        _p("Anna", "Berg", "anna@corp.example", "+4940123456"),
        _p("Lars", "Holm", "lars@corp.example", "+4940123456"),
        DIFFERENT,
    ),
    (
        "switchboard without emails",
        _p("Anna", "Berg", phone="+4940123456"),
        _p("Lars", "Holm", phone="+4940123456"),
        DIFFERENT,
    ),
    (
        "colleagues at one company",
        _p("Anna", "Berg", "anna@corp.example", company="Corp"),
        _p("Lars", "Holm", "lars@corp.example", company="Corp"),
        DIFFERENT,
    ),
    (
        "namesakes, different emails",
        _p("John", "Smith", "john.smith@alpha.example"),
        _p("John", "Smith", "jsmith@beta.example"),
        DIFFERENT,
    ),
    (
        "namesakes at free mail",
        _p("Maria", "Garcia", "mgarcia77@gmail.com"),
        _p("Maria", "Garcia", "maria.garcia@yahoo.com"),
        DIFFERENT,
    ),
    (
        "same surname, different first names, one phone",
        _p("Jane", "Smith", phone="+15551234567"),
        _p("John", "Smith", phone="+15551234567"),
        DIFFERENT,
    ),
    (
        "spouses sharing a home phone",
        _p("Peter", "Meyer", "peter@meyer.example", "+4930999999"),
        _p("Petra", "Meyer", "petra@meyer.example", "+4930999999"),
        DIFFERENT,
    ),
    (
        "siblings at family firm",
        _p("Luca", "Rossi", "luca@rossi.example", company="Rossi SpA"),
        _p("Marco", "Rossi", "marco@rossi.example", company="Rossi"),
        DIFFERENT,
    ),
    (
        "same first name only",
        _p("Emma", "Wilson", "emma@a.example"),
        _p("Emma", "Watson", "emma@b.example"),
        DIFFERENT,
    ),
    (
        "same company only",
        _p("Ann", "Lee", company="Initech"),
        _p("Bo", "Kim", company="Initech"),
        DIFFERENT,
    ),
    (
        "nothing in common",
        _p("Ada", "Lovelace", "ada@x.example"),
        _p("Alan", "Turing", "alan@y.example"),
        DIFFERENT,
    ),
    (
        "plus-tag makes no other local part equal",
        _p("Jane", "Doe", "jane+a@x.example"),
        _p("Mark", "Doe", "mark@x.example"),
        DIFFERENT,
    ),
    (
        "dots matter outside gmail",
        _p("Jan", "Ek", "j.an@corp.example"),
        _p("Ja", "Nek", "jan@corp.example"),
        DIFFERENT,
    ),
    (
        "similar surnames, different first names",
        _p("Chris", "Martin", "chris@band.example"),
        _p("Dean", "Martinez", "dean@band.example"),
        DIFFERENT,
    ),
    (
        "father and son, same name, different emails and phones",
        _p("George", "Bush", "gb@ranch.example", "+12145550101"),
        _p("George", "Bush", "george@whitehouse.example", "+12025550102"),
        DIFFERENT,
    ),
    (
        "same domain, same surname, different first names",
        _p("Ana", "Silva", "ana@sol.example"),
        _p("Rui", "Silva", "rui@sol.example"),
        DIFFERENT,
    ),
    (
        "nickname of another name",
        _p("Bob", "Brown", "bob@x.example"),
        _p("Richard", "Brown", "richard@y.example"),
        DIFFERENT,
    ),
    ("empty records", _p(), _p(), DIFFERENT),
    ("different emails only", _p(email="a@x.example"), _p(email="b@x.example"), DIFFERENT),
    (
        "receptionist and CEO at one number",
        _p("Mia", "Wong", company="Apex", phone="+85212345678"),
        _p("Henry", "Chan", company="Apex", phone="+85212345678"),
        DIFFERENT,
    ),
    (
        "same phone, name missing on one",
        _p("", "", phone="+33142685300"),
        _p("Claire", "Dubois", phone="+33142685300"),
        DIFFERENT,
    ),
    (
        "two Mohammeds at one company",
        _p("Mohammed", "Ali", "m.ali@gulf.example", company="Gulf"),
        _p("Mohammed", "Khan", "m.khan@gulf.example", company="Gulf"),
        DIFFERENT,
    ),
]


@pytest.mark.parametrize(("case", "a", "b", "expected"), PEOPLE, ids=[row[0] for row in PEOPLE])
def test_people_are_judged_as_a_careful_person_would(case, a, b, expected, settings):
    settings.PHONE_DEFAULT_REGION = "US"
    match = matching.person_compare(a, b)
    assert match.outcome == expected, f"{case}: {match.outcome} ({match.describe()})"
    assert matching.person_compare(b, a).outcome == expected  # the order does not matter


def test_pairs_that_may_match_share_a_blocking_key():
    for case, a, b, expected in PEOPLE:
        if expected != DIFFERENT and "typo" not in case and "swapped" not in case:
            assert set(matching.person_keys(a)) & set(matching.person_keys(b)), case


def test_reasons_are_given_in_words():
    match = matching.person_compare(
        _p("Kathrine", "Snow", phone="+441234567890"),
        _p("Katherine", "Snow", phone="+441234567890"),
    )
    assert match.describe().startswith("same phone, similar name 0.92 (spelling)")


COMPANIES = [
    (
        "legal form and case",
        Company.of(name="ACME, Inc.", domain="acme.example"),
        Company.of(name="Acme", domain="https://www.acme.example/about"),
        SAME,
    ),
    (
        "gmbh and punctuation",
        Company.of(name="Müller & Söhne GmbH", domain="mueller.example"),
        Company.of(name="Muller and Sohne", domain="mueller.example"),
        SAME,
    ),
    (
        "same name, no domains",
        Company.of(name="Globex Corporation"),
        Company.of(name="Globex"),
        LIKELY,
    ),
    (
        "same domain, different names (a subsidiary)",
        Company.of(name="Alphabet", domain="abc.xyz"),
        Company.of(name="Google", domain="abc.xyz"),
        DIFFERENT,
    ),
    (
        "same name, different domains and countries",
        Company.of(name="Delta", domain="delta.com", country="US"),
        Company.of(name="Delta", domain="delta.de", country="DE"),
        DIFFERENT,
    ),
    ("different companies", Company.of(name="Initech"), Company.of(name="Initrode"), DIFFERENT),
]


@pytest.mark.parametrize(("case", "a", "b", "expected"), COMPANIES, ids=[r[0] for r in COMPANIES])
def test_companies_are_judged_by_name_and_domain(case, a, b, expected):
    match = matching.company_compare(a, b)
    assert match.outcome == expected, f"{case}: {match.outcome} ({match.describe()})"


def test_normalising():
    assert matching.email_key("J.Ane+News@GoogleMail.com") == "jane@gmail.com"
    assert matching.email_key("j.ane+news@acme.example") == "j.ane@acme.example"
    assert matching.company_key("The ACME Holdings, Ltd.") == "acme"
    assert matching.phone_key("030 1234567", "DE") == "+49301234567"
    assert matching.phone_key("not a phone") == ""
    assert matching.soundex("smith") == matching.soundex("smyth") == "s530"
    assert matching.fold("  Zoë O'Brien-Smith ") == "zoe obrien smith"
    assert round(matching.trigram_similarity("word", "two words"), 2) == 0.36


def _fold_by_transliterating(text):
    """``fold`` as it reads non-ASCII text, for checking its shortcut for ASCII."""
    import re
    import unicodedata

    from anyascii import anyascii

    text = anyascii(unicodedata.normalize("NFC", text or "")).lower()
    text = re.sub(r"['’`.]", "", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def test_ascii_text_folds_as_transliterated_text_does():
    rng = random.Random(3)
    alphabet = [chr(c) for c in range(128)]
    samples = ["", "  Ann-Marie  O'Neil ", "J.R.R. Tolkien", "ACME, Inc.", "a\tb\nc", "`x`"]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(3000)
    ]
    for text in samples:
        assert matching.fold(text) == _fold_by_transliterating(text), repr(text)
    assert matching.fold("Zoë Ørsted-Łukasz") == _fold_by_transliterating("Zoë Ørsted-Łukasz")


def test_the_jaro_winkler_ceiling_is_never_below_the_similarity():
    """Odd numbers of transpositions (``abc``/``bca`` patterns) are where the two differ."""
    rng = random.Random(5)
    for alphabet in ("ab", "abc", "abcdef", "abcdefghijklmnopqrstuvwxyz "):
        for _ in range(3000):
            a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            assert matching.jaro_winkler_ceiling(a, b) >= matching.jaro_winkler(a, b), (a, b)


FIRSTS = ["Robert", "Bob", "Rob", "Roberta", "Ann", "Anne", "A", "Jon", "John", "Jonathan", "Li"]
LASTS = ["Smith", "Smyth", "Smith-Jones", "Jones", "Li", "Lee", "Ng", "L1", "L10", "Robert", ""]
EMAILS = ["bob@acme.example", "b.o.b@gmail.com", "bob@gmail.com", "info@acme.example", ""]
PHONES = ["+12125550100", "+12125550199", ""]
COMPANIES = ["ACME Inc.", "Acme", "Acne", "Globex", ""]
WEBSITES = ["acme.example", "globex.example", ""]


def test_the_quick_judgement_is_the_full_one_wherever_it_is_not_different():
    """``person_match`` skips only pairs ``person_compare`` calls different, and gives the same
    outcome, score and reasons for every other pair."""
    rng = random.Random(11)
    people = [a for _, a, _, _ in PEOPLE] + [b for _, _, b, _ in PEOPLE]
    for _ in range(400):
        people.append(
            P(
                first_name=rng.choice(FIRSTS),
                last_name=rng.choice(LASTS),
                email=rng.choice(EMAILS),
                phone=rng.choice(PHONES),
                company_name=rng.choice(COMPANIES),
                website=rng.choice(WEBSITES),
            )
        )
    judged = 0
    for a in people:
        for b in rng.sample(people, 60):
            full = matching.person_compare(a, b)
            quick = matching.person_match(a, b)
            if full.outcome == DIFFERENT:
                assert quick is None, (a, b, full)
            else:
                judged += 1
                assert quick == full, (a, b)
    assert judged > 1000  # the sample has plenty of pairs that are not different
