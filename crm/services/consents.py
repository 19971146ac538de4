"""Proof of consent (README, "Personal data"): every consent answer a lead or a contact gives
or withdraws leaves an append-only ``ConsentEvent`` saying through what, from which address
(public pages) and under which wording."""

import hashlib
import ipaddress
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from pghistory import runtime

from crm.history import Source
from crm.models import ConsentChannel, ConsentEvent

#: The channel of an answer recorded without explicit proof, from the change's history source.
CHANNEL_BY_SOURCE = {
    Source.PAGE: ConsentChannel.USER,
    Source.BULK_EDIT: ConsentChannel.USER,
    Source.IMPORT: ConsentChannel.IMPORT,
    Source.API: ConsentChannel.API,
    Source.AUTOMATION: ConsentChannel.AUTOMATION,
    Source.MERGE: ConsentChannel.MERGE,
}


def wording_version(text: str) -> str:
    """A short hash of the wording shown: the same text gives the same version, any change a
    new one. Blank text has no version."""
    text = " ".join((text or "").split())
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else ""


def _address(ip) -> str | None:
    try:
        return str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class ConsentProof:
    """How an answer was given: ``channel`` (a ``ConsentChannel``), the form's or link's name,
    the visitor's IP address (public pages) and the wording they agreed to."""

    channel: str
    name: str = ""
    ip: str | None = None
    wording: str = ""


def _current_channel() -> str:
    context = getattr(runtime._tracker, "value", None)
    name = context.metadata.get("source") if context is not None else None
    return CHANNEL_BY_SOURCE.get(name, ConsentChannel.OTHER)


def consent_record(
    *, record, consent: str, given: bool, at=None, proof: ConsentProof | None = None
) -> ConsentEvent:
    """One proof row for ``record`` (a saved lead or contact). Without ``proof`` the channel is
    read from the change's history source (a page: a user's edit; the API; an import...)."""
    proof = proof or ConsentProof(channel=_current_channel())
    return ConsentEvent.objects.create(
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        consent=consent,
        given=given,
        at=at or timezone.now(),
        channel=proof.channel,
        channel_name=proof.name[:200],
        ip_address=_address(proof.ip),
        wording=proof.wording,
        wording_version=wording_version(proof.wording),
    )


def consents_record(*, record, names, proof: ConsentProof | None = None) -> None:
    """Proof rows for the consents ``names`` of ``record`` as they now stand (given or
    withdrawn, dated by their ``*_at``)."""
    for name in names:
        given = bool(getattr(record, name))
        consent_record(
            record=record,
            consent=name,
            given=given,
            at=getattr(record, f"{name}_at", None) if given else None,
            proof=proof,
        )


def consent_proof_copy(*, source, target, names=None) -> int:
    """The proof rows of ``source`` (a lead) also stand for ``target`` (the contact it became,
    or the lead it was merged into): copied unchanged, oldest first. Returns how many."""
    rows = ConsentEvent.objects.for_object(source).order_by("at", "pk")
    if names is not None:
        rows = rows.filter(consent__in=list(names))
    target_type = ContentType.objects.get_for_model(target)
    copies = [
        ConsentEvent(
            content_type=target_type,
            object_id=target.pk,
            consent=row.consent,
            given=row.given,
            at=row.at,
            channel=row.channel,
            channel_name=row.channel_name,
            ip_address=row.ip_address,
            wording=row.wording,
            wording_version=row.wording_version,
        )
        for row in rows
    ]
    ConsentEvent.objects.bulk_create(copies)
    return len(copies)


def consents_record_many(*, model, ids, consent: str, at, proof: ConsentProof) -> int:
    """One proof row (consent given at ``at``) for each record ``ids`` of ``model``, in one
    insert: what an import of many leads at once leaves."""
    content_type = ContentType.objects.get_for_model(model)
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                content_type=content_type,
                object_id=pk,
                consent=consent,
                given=True,
                at=at,
                channel=proof.channel,
                channel_name=proof.name[:200],
                ip_address=_address(proof.ip),
                wording=proof.wording,
                wording_version=wording_version(proof.wording),
            )
            for pk in ids
        ],
        batch_size=1000,
    )
    return len(ids)
