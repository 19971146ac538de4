from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions
from crm.text_search import CreateSearchIndex

VIEW = ("view",)

GRANTS = {
    Role.SALES_REP: {
        "opportunity": ALL,
        "opportunitylineitem": ALL,
        "stagechange": VIEW,
        "quote": ALL,
        "order": ("view", "add"),
        "orderline": VIEW,
        "product": VIEW,
        "pipeline": VIEW,
        "stage": VIEW,
        "quota": VIEW,
        "onboardingtemplate": VIEW,
        "onboardingtemplateitem": VIEW,
        "onboardingplan": ("view", "change"),
    },
    # Agents: no opportunities or amounts (DESIGN.md); they work onboarding items.
    Role.SUPPORT_AGENT: {"onboardingplan": VIEW},
    Role.MANAGER: {
        "opportunity": ALL,
        "opportunitylineitem": ALL,
        "stagechange": VIEW,
        "quote": ALL,
        "order": ALL,
        "orderline": ALL,
        "product": ALL,
        "pipeline": ALL,
        "stage": ALL,
        "quota": ALL,
        "onboardingtemplate": ALL,
        "onboardingtemplateitem": ALL,
        "onboardingplan": ALL,
    },
}

# name, default?, stages: (name, probability, kind, rotting days)
PIPELINES = [
    (
        "New business",
        True,
        [
            ("Qualification", 10, "open", 14),
            ("Discovery", 20, "open", 14),
            ("Proposal", 40, "open", 10),
            ("Negotiation", 70, "open", 10),
            ("Closed won", 100, "won", None),
            ("Closed lost", 0, "lost", None),
        ],
    ),
    (
        "Expansion",
        False,
        [
            ("Identified", 20, "open", 21),
            ("Proposal", 50, "open", 14),
            ("Negotiation", 75, "open", 10),
            ("Closed won", 100, "won", None),
            ("Closed lost", 0, "lost", None),
        ],
    ),
    (
        "Renewal",
        False,
        [
            ("Upcoming", 60, "open", 30),
            ("In negotiation", 80, "open", 14),
            ("Renewed", 100, "won", None),
            ("Churned", 0, "lost", None),
        ],
    ),
]

ONBOARDING_ITEMS = [
    ("Kick-off call with the customer", "sales", 2),
    ("Set up the customer's accounts and access", "support", 3),
    ("Training session for the customer's team", "support", 7),
    ("First value review", "sales", 30),
]


def forwards(apps, schema_editor):
    grant_role_permissions(apps, "sales", GRANTS)
    Pipeline = apps.get_model("sales", "Pipeline")
    Stage = apps.get_model("sales", "Stage")
    for order, (name, is_default, stages) in enumerate(PIPELINES):
        pipeline, created = Pipeline.objects.get_or_create(
            name=name, defaults={"order": order, "is_default": is_default}
        )
        if not created:
            continue
        for position, (stage, probability, kind, rotting) in enumerate(stages):
            Stage.objects.create(
                pipeline=pipeline,
                name=stage,
                order=position,
                probability=probability,
                kind=kind,
                rotting_days=rotting,
            )
    Template = apps.get_model("sales", "OnboardingTemplate")
    Item = apps.get_model("sales", "OnboardingTemplateItem")
    if not Template.objects.filter(is_default=True).exists():
        template = Template.objects.create(name="Standard onboarding", is_default=True)
        for order, (title, role, days) in enumerate(ONBOARDING_ITEMS):
            Item.objects.create(
                template=template, title=title, role=role, due_offset_days=days, order=order
            )


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0001_initial"),
        ("crm", "0002_roles_and_search"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        CreateSearchIndex("sales_opportunity", ["name", "next_step"], "opportunity_search_idx"),
    ]
