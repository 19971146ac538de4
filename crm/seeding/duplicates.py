"""A few likely duplicates in the demo data, as a sales team meets them: a person entered a
second time with a private address (or none) and the same phone, a company entered again
without its legal form or website. Each pair is put in the review queue as the services
would have put it (``crm.services.duplicates``), so the queues are not empty in the demo."""

from __future__ import annotations

import random

from crm import matching
from crm.seeding.words import PERSONAL_DOMAINS, ascii_slug


def planted_positions(total: int, per: int, most: int) -> set[int]:
    """Which of ``total`` rows (by position) are second entries of an earlier one: about one
    in ``per``, at most ``most``, at least 2 (never the first rows)."""
    count = max(2, min(most, total // per))
    if total < 4 * count:
        return set()
    step = total // count
    return {step * (n + 1) - 1 for n in range(count)}


def variant_rng(ctx) -> random.Random:
    """A generator of its own, so the rest of the demo data stays as it was without them."""
    return random.Random(f"{ctx.seed}:duplicates")


def contact_variant(rng: random.Random, original: dict, take_email) -> dict:
    """The fields of a second entry of the person ``original`` (first_name, last_name, email,
    phone): the same name, and either a private address with the same phone, or no address
    and no phone."""
    first, last = original["first_name"], original["last_name"]
    if original["phone"] and rng.random() < 0.7:
        domain = rng.choice(PERSONAL_DOMAINS)
        wanted = f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}"
        email = take_email(wanted, lambda wanted, n: wanted.replace("@", f"{n}@", 1))
        return {"first_name": first, "last_name": last, "email": email, "phone": original["phone"]}
    return {"first_name": first, "last_name": last, "email": "", "phone": ""}


def contact_pair(original: dict, variant: dict) -> matching.Match:
    return matching.person_compare(
        matching.Person.of(
            **{k: original[k] for k in ("first_name", "last_name", "email", "phone")}
        ),
        matching.Person.of(
            **{k: variant[k] for k in ("first_name", "last_name", "email", "phone")}
        ),
    )


def account_pair(original: dict, variant: dict) -> matching.Match:
    return matching.company_compare(matching.Company.of(**original), matching.Company.of(**variant))


def pairs_insert(model, first: str, pairs: list[tuple[int, int, matching.Match]], now) -> None:
    """Put the planted pairs judged alike in the review queue of ``model``."""
    model.objects.bulk_create(
        [
            model(
                **{f"{first}_id": low, "other_id": high},
                score=match.score,
                reasons=match.describe(),
                found_at=now,
            )
            for low, high, match in pairs
            if match
        ]
    )
