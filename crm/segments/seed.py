"""Demo segments: a few shared segments of the manager and a private one of ``rep``, with
today's size recorded, so the list, builder and size history have something to show."""

from crm.segments.choices import SegmentTarget


def _c(criterion, operator, value):
    return {"criterion": criterion, "operator": operator, "value": value}


DEMO_SEGMENTS = [
    (
        "manager",
        "VPs in Germany with no activity in 30 days",
        SegmentTarget.CONTACT,
        True,
        {
            "op": "and",
            "children": [
                _c("title", "contains", "VP"),
                _c("account_country", "in", ["DE"]),
                _c("last_activity", "not_within", 30),
            ],
        },
    ),
    (
        "manager",
        "DACH decision makers with marketing consent",
        SegmentTarget.CONTACT,
        True,
        {
            "op": "and",
            "children": [
                _c("account_country", "in", ["DE", "AT", "CH"]),
                _c("marketing_consent", "is", True),
                {
                    "op": "or",
                    "children": [
                        _c("title", "contains", "VP"),
                        _c("title", "contains", "Head of"),
                        _c("title", "contains", "Chief"),
                    ],
                },
            ],
        },
    ),
    (
        "manager",
        "Quiet customers (no activity in 60 days)",
        SegmentTarget.ACCOUNT,
        True,
        {
            "op": "and",
            "children": [
                _c("lifecycle_stage", "in", ["customer"]),
                _c("last_activity", "not_within", 60),
            ],
        },
    ),
    (
        "manager",
        "Customers with an open urgent ticket and health below 50",
        SegmentTarget.ACCOUNT,
        True,
        {
            "op": "and",
            "children": [
                _c("open_ticket_priority", "in", ["urgent"]),
                _c("health", "lt", 50),
            ],
        },
    ),
    (
        "rep",
        "My large software prospects",
        SegmentTarget.ACCOUNT,
        False,
        {
            "op": "and",
            "children": [
                _c("industry", "in", ["software"]),
                _c("size_band", "in", ["201-1000", "1000+"]),
                _c("lifecycle_stage", "in", ["prospect"]),
            ],
        },
    ),
]


def seed(ctx):
    from crm.models import Segment
    from crm.segments.definition import definition_clean
    from crm.segments.services import segment_snapshot_take

    segments = [
        Segment(
            name=name,
            target=target,
            shared=shared,
            owner=ctx.users[owner],
            definition=definition_clean(target, definition),
        )
        for owner, name, target, shared, definition in DEMO_SEGMENTS
        if owner in ctx.users
    ]
    if "rep" in ctx.users:  # "My …" means the rep's own accounts
        segments[-1].definition["children"].append(_c("owner", "in", [str(ctx.users["rep"].pk)]))
    ctx.bulk_create(Segment, segments)
    for segment in Segment.objects.filter(name__in=[s.name for s in segments]):
        segment_snapshot_take(segment=segment, date=ctx.today)
