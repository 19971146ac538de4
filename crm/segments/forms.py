"""The segment builder's form, and ``SegmentChoiceField`` for other apps' forms.

The builder posts its tree as flat fields (``group-<uid>-op``, ``group-<uid>-parent``,
``cond-<uid>-group``, ``cond-<uid>-criterion``, ``cond-<uid>-operator``, ``cond-<uid>-value``);
``builder_tree`` rebuilds the tree from them in page order, starting at the group ``root``.
"""

from __future__ import annotations

import re
import secrets

from django import forms
from django.core.exceptions import ValidationError

from crm.segments.choices import SegmentTarget
from crm.segments.definition import definition_clean, empty_definition, is_group
from crm.segments.registry import Kind, segment_criteria

ROOT = "root"
UID = re.compile(r"^[A-Za-z0-9]{1,24}$")
FIELD = re.compile(r"^(group|cond)-([A-Za-z0-9]{1,24})-(op|parent|group)$")


def new_uid() -> str:
    return secrets.token_hex(4)


def builder_tree(data) -> dict:
    """The definition tree held by the builder's fields in ``data`` (a QueryDict), with each
    node's ``uid``. Conditions whose criterion is not chosen yet are left out."""
    groups: dict[str, dict] = {ROOT: {"uid": ROOT, "op": data.get(f"group-{ROOT}-op", "and")}}
    groups[ROOT]["children"] = []
    children_of: dict[str, list] = {}
    for key in data:
        match = FIELD.match(key)
        if not match:
            continue
        kind, uid, part = match.groups()
        if kind == "group" and part == "parent" and uid != ROOT and uid not in groups:
            groups[uid] = {"uid": uid, "op": data.get(f"group-{uid}-op", "and"), "children": []}
            children_of.setdefault(data.get(key, ""), []).append(groups[uid])
        elif kind == "cond" and part == "group":
            node = {
                "uid": uid,
                "criterion": data.get(f"cond-{uid}-criterion", ""),
                "operator": data.get(f"cond-{uid}-operator", ""),
                "value": data.getlist(f"cond-{uid}-value"),
            }
            children_of.setdefault(data.get(key, ""), []).append(node)
    _attach(groups[ROOT], children_of, seen=set())
    return groups[ROOT]


def _attach(group, children_of, *, seen):
    seen.add(group["uid"])
    for child in children_of.get(group["uid"], []):
        if is_group(child):
            if child["uid"] in seen:
                continue
            _attach(child, children_of, seen=seen)
        group["children"].append(child)


def tree_for_definition(definition) -> dict:
    """A stored definition with a ``uid`` on every node, for rendering it in the builder."""
    if not is_group(definition):
        definition = empty_definition()
    node = {"uid": ROOT, "op": definition.get("op", "and"), "children": []}
    _add_uids(definition, node)
    return node


def _add_uids(source, target):
    for child in source.get("children", []):
        if is_group(child):
            group = {"uid": new_uid(), "op": child.get("op", "and"), "children": []}
            _add_uids(child, group)
            target["children"].append(group)
        else:
            value = child.get("value")
            values = value if isinstance(value, list) else [value]
            target["children"].append({**child, "uid": new_uid(), "value": values})


def tree_definition(tree: dict) -> dict:
    """The definition a builder tree stands for: uids dropped, blank conditions left out, a
    single value where the criterion takes one."""
    children = []
    for child in tree.get("children", []):
        if is_group(child):
            children.append(tree_definition(child))
        elif child.get("criterion"):
            children.append(
                {
                    "criterion": child["criterion"],
                    "operator": child.get("operator"),
                    "value": child.get("value"),
                }
            )
    return {"op": tree.get("op", "and"), "children": children}


def _single_values(target_key, definition, cache=None):
    cache = {} if cache is None else cache
    for child in definition["children"]:
        if is_group(child):
            _single_values(target_key, child, cache)
            continue
        criterion = segment_criteria.criterion(target_key, child["criterion"], cache=cache)
        if criterion and criterion.kind != Kind.MULTI_CHOICE and isinstance(child["value"], list):
            child["value"] = child["value"][0] if child["value"] else ""
    return definition


class SegmentForm(forms.Form):
    """Name, what the segment holds, sharing, and the condition tree posted by the builder."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=300, required=False)
    target = forms.ChoiceField(label="Holds", choices=())
    shared = forms.BooleanField(required=False, help_text="Everyone can see and use it.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(SegmentTarget.choices)
        self.fields["target"].choices = [
            (t.key, labels[t.key]) for t in segment_criteria.targets() if t.key in labels
        ]
        self.tree = builder_tree(self.data) if self.is_bound else None

    def clean(self):
        cleaned = super().clean()
        target = cleaned.get("target")
        if target and self.tree is not None:
            definition = _single_values(target, tree_definition(self.tree))
            try:
                cleaned["definition"] = definition_clean(target, definition)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


def definition_from_post(data) -> tuple[str, dict]:
    """``(target, definition)`` of the builder's current state in ``data`` (not checked)."""
    target = data.get("target", "")
    return target, _single_values(target, tree_definition(builder_tree(data)))


class SegmentChoiceField(forms.ModelChoiceField):
    """Pick one of the segments ``user`` may use, holding ``target`` records; for other apps'
    forms (enrol a segment in a sequence, send a campaign, run a survey, filter a dashboard)::

        self.fields["segment"] = SegmentChoiceField(user=request.user, target="contact")

    ``cleaned_data["segment"]`` is a ``Segment``; ``segment_members(segment, user)`` its rows.
    """

    def __init__(self, *, user, target: str | None = None, **kwargs):
        from crm.segments.selectors import segments_usable_by

        kwargs.setdefault("empty_label", "Choose a segment")
        super().__init__(queryset=segments_usable_by(user, target), **kwargs)

    def label_from_instance(self, obj):
        return obj.name + ("" if obj.shared else " (private)")
