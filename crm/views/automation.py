"""Automations for managers and admins (``/automations/``): the list of rules, the builder
(trigger, the segment builder's conditions, ordered actions), pause and resume, the dry run and
each rule's run log. Everyone else gets 404 on every URL; a rule outside the user's teams too."""

from __future__ import annotations

import json
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count, Max, Prefetch
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.automation import engine, portable, starters
from crm.automation.actions import recipient_choices, settable_fields, template_choices
from crm.automation.engine import FIELD_OPERATORS
from crm.automation.registry import automation
from crm.automation.services import (
    may_build_rules,
    rule_create,
    rule_delete,
    rule_set_active,
    rule_update,
)
from crm.models import Rule, RuleRun, RuleRunStep, Team, User
from crm.models.automation import RuleTrigger
from crm.segments.forms import (
    ROOT,
    _single_values,
    builder_tree,
    new_uid,
    tree_definition,
    tree_for_definition,
)
from crm.selectors import is_record_key, record_get, scoped
from crm.views.segments import _picker_cache, group_context
from crm.views.submissions import submitted_once

RULES_PAGE_SIZE = 25
RUNS_PAGE_SIZE = 25
ACTION_PARAM = re.compile(r"^[a-z_]{1,30}$")
ACTION_KEY = re.compile(r"^action-(\d{1,2})-kind$")


def _builder_or_404(user) -> None:
    if not may_build_rules(user):
        raise Http404


def rule_get(*, user, pk) -> Rule:
    """The rule ``pk`` if ``user`` may see it (managers: their teams' rules), else 404."""
    _builder_or_404(user)
    return record_get(Rule.objects.visible_to(user).select_related("run_as", "created_by"), pk)


def _paginate(request, queryset, size):
    paginator = Paginator(queryset, size)
    try:
        return paginator.page(request.GET.get("page") or 1)
    except InvalidPage:
        return paginator.page(1)


@login_required
@require_GET
def rule_list(request):
    _builder_or_404(request.user)
    rules = (
        Rule.objects.visible_to(request.user)
        .select_related("run_as", "created_by")
        .annotate(run_count=Count("runs"), last_run_at=Max("runs__created_at"))
        .order_by("name", "id")
    )
    page = _paginate(request, rules, RULES_PAGE_SIZE)
    for rule in page.object_list:
        rule.trigger_text = engine.trigger_label(rule)
        entity = automation.entity(rule.entity)
        rule.entity_label = entity.label if entity else rule.entity
    return render(
        request,
        "crm/automation/list.html",
        {
            "page_obj": page,
            "entities": automation.entities(),
            "starters": starters.starters(),
        },
    )


# --- the builder -------------------------------------------------------------------------------


def _run_as_choices(user) -> list[User]:
    people = User.objects.filter(is_active=True, groups__isnull=False).distinct()
    if not user.is_admin_role:
        people = people.filter(pk__in=user.managed_user_ids)
    return list(people.order_by("first_name", "last_name", "username"))


def _data_from_post(post, *, entity_key: str, user) -> tuple[dict, dict]:
    """The rule's data as the service takes it, and the builder tree of its conditions."""
    tree = builder_tree(post)
    conditions = _single_values(entity_key, tree_definition(tree))
    rows = []
    for key in post:
        match = ACTION_KEY.match(key)
        if not match:
            continue
        index = match.group(1)
        kind = post.get(key, "")
        if not kind:
            continue  # "remove this action"
        params = {"kind": kind}
        prefix = f"action-{index}-"
        for name in post:
            field = name[len(prefix) :]
            if name.startswith(prefix) and ACTION_PARAM.match(field) and field != "kind":
                params[field] = post.get(name)
        params.pop("order", None)
        params["to"] = post.getlist(f"action-{index}-to")
        try:
            order = int(post.get(f"action-{index}-order") or index)
        except ValueError:
            order = int(index)
        rows.append((order, int(index), params))
    actions = [params for _, _, params in sorted(rows, key=lambda row: row[:2])]
    run_as_pk = post.get("run_as") or ""
    run_as = User.objects.filter(pk=int(run_as_pk)).first() if is_record_key(run_as_pk) else None
    data = {
        "name": post.get("name", ""),
        "entity": entity_key,
        "trigger": post.get("trigger", ""),
        "trigger_params": _trigger_params(post),
        "conditions": conditions,
        "actions": actions,
        "daily_cap": post.get("daily_cap", ""),
        "run_as": run_as,
    }
    return data, tree


def _trigger_params(post) -> dict:
    """The inputs of the chosen trigger (each trigger has inputs of its own)."""
    trigger = post.get("trigger")
    if trigger == RuleTrigger.STAGE:
        return {"value": post.get("trigger_stage", "")}
    if trigger == RuleTrigger.DATE:
        return {
            "field": post.get("trigger_date_field", ""),
            "days": post.get("trigger_date_days", ""),
            "when": post.get("trigger_date_when", ""),
        }
    if trigger == RuleTrigger.IDLE:
        return {"days": post.get("trigger_idle_days", "")}
    return {
        "field": post.get("trigger_field", ""),
        "operator": post.get("trigger_operator", ""),
        "value": post.get("trigger_value", ""),
    }


def _action_rows(entity, actions, *, blank: int = 1) -> list[dict]:
    rows = [_action_row(entity, index, params) for index, params in enumerate(actions)]
    for extra in range(blank):
        rows.append(_action_row(entity, len(actions) + extra, {}))
    return rows


def _action_row(entity, index: int, params: dict) -> dict:
    to = params.get("to") or []
    action = automation.action(params.get("kind", ""))
    select = None
    if action is not None and action.select is not None:
        name, label, choices = action.select
        select = {
            "name": name,
            "label": label,
            "value": str(params.get(name, "")),
            "choices": [(str(value), text) for value, text in choices()],
        }
    return {
        "select": select,
        "index": index,
        "order": index + 1,
        "kind": params.get("kind", ""),
        "params": params,
        "to": [str(v) for v in (to if isinstance(to, list) else [to])],
        "kinds": [(a.kind, a.label) for a in automation.actions_for(entity.key)],
    }


def _builder_context(request, *, entity, data: dict, tree: dict, rule=None, errors=None):
    cache = _picker_cache(entity.key, request.user)
    params = data.get("trigger_params") or {}
    return {
        "rule": rule,
        "entity": entity,
        "data": data,
        "trigger_params": params,
        "errors": errors or {},
        "root": group_context(entity.key, tree, parent="", depth=1, cache=cache),
        "triggers": RuleTrigger.choices,
        "fields": list(entity.fields.values()),
        "date_fields": list(entity.date_fields.values()),
        "operators": [(key, label) for key, label, _ in FIELD_OPERATORS],
        "stages": entity.stage_value_choices() if entity.stage_field else [],
        "actions": _action_rows(entity, data.get("actions") or [], blank=3),
        "action_choices": _action_choices(entity),
        "run_as_choices": _run_as_choices(request.user),
    }


def _action_choices(entity) -> dict:
    return {
        "fields": settable_fields(entity),
        "users": [(u.pk, str(u)) for u in User.objects.filter(is_active=True).order_by("username")],
        "teams": list(Team.objects.order_by("name").values_list("pk", "name")),
        "recipients": recipient_choices(entity),
        "templates": template_choices(),
    }


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def rule_builder(request, pk=None):
    """Create (no pk; ``?entity=`` chooses the kind of record) or edit a rule. A new rule is
    saved switched off, so its dry run can be read before it acts."""
    _builder_or_404(request.user)
    rule = rule_get(user=request.user, pk=pk) if pk is not None else None
    entity_key = rule.entity if rule else request.GET.get("entity", "")
    entity = automation.entity(entity_key)
    if entity is None:
        return render(request, "crm/automation/choose.html", {"entities": automation.entities()})
    errors = {}
    if request.method == "POST":
        data, tree = _data_from_post(request.POST, entity_key=entity.key, user=request.user)
        try:
            if rule is None:
                rule = rule_create(user=request.user, data=data)
                messages.success(
                    request, f"Rule “{rule}” was saved, switched off: read its dry run first."
                )
            else:
                rule = rule_update(rule=rule, user=request.user, data=data)
                messages.success(request, f"Rule “{rule}” was saved.")
            return HttpResponseRedirect(rule.get_absolute_url())
        except ValidationError as error:
            errors = error.message_dict
    elif rule is not None:
        data = {
            "name": rule.name,
            "trigger": rule.trigger,
            "trigger_params": rule.trigger_params,
            "actions": rule.actions,
            "daily_cap": rule.daily_cap,
            "run_as": rule.run_as,
        }
        tree = tree_for_definition(rule.conditions)
    else:
        data = {"trigger": RuleTrigger.CREATED, "daily_cap": 3, "run_as": request.user}
        tree = {"uid": ROOT, "op": "and", "children": [{"uid": new_uid()}]}
    context = _builder_context(
        request, entity=entity, data=data, tree=tree, rule=rule, errors=errors
    )
    return render(request, "crm/automation/builder.html", context, status=400 if errors else 200)


@login_required
@require_GET
def rule_action_row(request):
    """One action row of the builder, with the inputs of the chosen kind (HTMX)."""
    _builder_or_404(request.user)
    entity = automation.entity(request.GET.get("entity", ""))
    if entity is None:
        raise Http404
    try:
        index = max(0, min(int(request.GET.get("index", 0)), 99))
    except ValueError:
        index = 0
    kind = request.GET.get(f"action-{index}-kind", "")
    if kind and automation.action(kind) is None:
        kind = ""
    row = _action_row(entity, index, {"kind": kind})
    row["order"] = request.GET.get(f"action-{index}-order", index + 1)
    return render(
        request,
        "crm/automation/_action.html",
        {"action": row, "entity": entity, "action_choices": _action_choices(entity)},
    )


# --- a rule's page: pause/resume, dry run, run log ------------------------------------------------


@login_required
@require_GET
def rule_detail(request, pk):
    rule = rule_get(user=request.user, pk=pk)
    entity = automation.entity(rule.entity)
    runs = (
        RuleRun.objects.filter(rule=rule)
        .order_by("-id")
        .prefetch_related(Prefetch("steps", queryset=RuleRunStep.objects.order_by("index")))
    )
    page = _paginate(request, runs, RUNS_PAGE_SIZE)
    openable = _records_openable(request.user, entity, [run.record_pk for run in page.object_list])
    for run in page.object_list:
        run.record_url = _record_url(entity, run.record_pk) if run.record_pk in openable else ""
    return render(
        request,
        "crm/automation/detail.html",
        {
            "rule": rule,
            "entity": entity,
            "trigger_text": engine.trigger_label(rule),
            "action_labels": [_action_label(params) for params in rule.actions],
            "page_obj": page,
        },
    )


def _records_openable(user, entity, pks) -> set[int]:
    """Which of ``pks`` still exist and ``user`` may open (one query): the log names the others
    without a link, so it never leads to a 404."""
    if entity is None or not pks:
        return set()
    return set(scoped(entity.model, user=user).filter(pk__in=set(pks)).values_list("pk", flat=True))


def _record_url(entity, pk) -> str:
    if entity is None or not hasattr(entity.model, "get_absolute_url"):
        return ""
    try:
        return entity.model(pk=pk).get_absolute_url()
    except Exception:
        return ""


def _action_label(params: dict) -> str:
    action = automation.action(params.get("kind", ""))
    label = action.label if action else "An action no longer available"
    details = [
        f"{key.replace('_', ' ')}: {value}"
        for key, value in params.items()
        if key != "kind" and value not in ("", None, [])
    ]
    return label + (f" ({'; '.join(str(d) for d in details)})" if details else "")


@login_required
@require_POST
def rule_toggle(request, pk):
    rule = rule_get(user=request.user, pk=pk)
    active = request.POST.get("active") == "on"
    rule = rule_set_active(rule=rule, user=request.user, active=active)
    messages.success(
        request,
        f"Rule “{rule}” is on: it fires on the records its dry run counted, then on each that "
        "enters its trigger."
        if active
        else f"Rule “{rule}” is paused: it starts no new runs.",
    )
    return HttpResponseRedirect(rule.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def rule_delete_view(request, pk):
    """Asks first; deleting takes the rule's run log with it (what its runs did stays)."""
    rule = rule_get(user=request.user, pk=pk)
    if request.method == "POST":
        name = str(rule)
        rule_delete(rule=rule, user=request.user)
        messages.success(request, f"Rule “{name}” deleted with its run log.")
        return HttpResponseRedirect(reverse("rule_list"))
    return render(request, "crm/automation/delete.html", {"rule": rule})


@login_required
@require_POST
def rule_dry_run(request, pk):
    rule = rule_get(user=request.user, pk=pk)
    try:
        result = engine.rule_dry_run(rule=rule)
        context = {"count": result.count, "explanation": result.explanation}
    except ValidationError as error:
        context = {"problems": error.messages}
    return render(request, "crm/automation/_dry_run.html", context)


# --- export, import and ready-made rules ----------------------------------------------------------


def _json_download(document: dict, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def rules_export_view(request):
    """Every rule the user sees, as one JSON file."""
    _builder_or_404(request.user)
    rules = Rule.objects.visible_to(request.user).order_by("name", "id")[: portable.MAX_RULES]
    return _json_download(portable.rules_export(rules), "automation-rules.json")


@login_required
@require_GET
def rule_export_view(request, pk):
    rule = rule_get(user=request.user, pk=pk)
    return _json_download(portable.rules_export([rule]), f"automation-rule-{rule.pk}.json")


#: An exported file is small; anything larger is not one.
MAX_IMPORT_BYTES = 1024 * 1024


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def rules_import_view(request):
    """Rules from an exported file, created switched off and run as the importing user; all
    or none."""
    _builder_or_404(request.user)
    problems = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            problems = ["Choose a file of exported rules."]
        elif upload.size > MAX_IMPORT_BYTES:
            problems = ["The file is too large to be exported rules (at most 1 MB)."]
        else:
            try:
                document = json.loads(upload.read().decode("utf-8"))
                made = portable.rules_import(user=request.user, document=document)
                messages.success(
                    request,
                    f"Imported {len(made)} rule{'s' if len(made) != 1 else ''}, switched off: "
                    "read each one's dry run before switching it on.",
                )
                return HttpResponseRedirect(reverse("rule_list"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                problems = ["The file is not JSON."]
            except ValidationError as error:
                problems = error.messages
    return render(
        request,
        "crm/automation/import.html",
        {"problems": problems},
        status=400 if problems else 200,
    )


@login_required
@require_POST
@submitted_once
def rule_from_starter_view(request, key):
    _builder_or_404(request.user)
    found = starters.starter(key)
    if found is None:
        raise Http404
    try:
        rule = portable.rule_from_starter(user=request.user, starter=found)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return HttpResponseRedirect(reverse("rule_list"))
    messages.success(request, f"Rule “{rule}” was made from the template, switched off: adjust it.")
    return HttpResponseRedirect(reverse("rule_edit", args=[rule.pk]))
