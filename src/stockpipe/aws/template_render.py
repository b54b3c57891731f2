"""Resolve a CloudFormation template for one set of parameter values, as CloudFormation would.

The stack template has conditions (which processor, optional wheel, ...). Linters and policy
checks see every branch at once; `render()` gives the template that one parameter set really
deploys: resources and outputs whose condition is false are gone, each `Fn::If` is replaced
by its chosen branch (`AWS::NoValue` removes the key), the conditions disappear, and
parameters nothing refers to any more are dropped. The result is still a valid template
(tests run cfn-lint and checkov on each rendering). `minified()` is the text `stockpipe
deploy` sends: the same document as compact JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stockpipe.errors import ConfigError

_NO_VALUE = {"Ref": "AWS::NoValue"}
_DROP = object()  # marker: the value resolved to AWS::NoValue
_SUB_NAME = re.compile(r"\$\{(?!!)([^}.]+)(?:\.[^}]+)?\}")


def parameter_values(template: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
    """Every parameter's value: the given one, else the template's default."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ConfigError(f"not parameters of the template: {', '.join(unknown)}")
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update(params)
    return values


def _cond_value(
    expr: Any, values: dict[str, str], conditions: dict[str, Any], seen: set[str]
) -> Any:
    """A condition operand: a string, or a boolean for nested condition functions."""
    if isinstance(expr, dict) and len(expr) == 1:
        ((key, arg),) = expr.items()
        if key == "Ref":
            if arg not in values:
                raise ConfigError(f"condition refers to {arg!r}, which has no value")
            return values[arg]
        if key == "Condition":
            return evaluate_condition(arg, values, conditions, seen)
        if key == "Fn::Equals":
            left, right = (_cond_value(a, values, conditions, seen) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not _cond_value(arg[0], values, conditions, seen)
        if key == "Fn::And":
            return all(_cond_value(a, values, conditions, seen) for a in arg)
        if key == "Fn::Or":
            return any(_cond_value(a, values, conditions, seen) for a in arg)
    if isinstance(expr, (str, int, float, bool)):
        return expr
    raise ConfigError(f"cannot evaluate condition expression {expr!r}")


def evaluate_condition(
    name: str, values: dict[str, str], conditions: dict[str, Any], seen: set[str] | None = None
) -> bool:
    seen = set() if seen is None else seen
    if name in seen:
        raise ConfigError(f"condition {name!r} refers to itself")
    if name not in conditions:
        raise ConfigError(f"unknown condition {name!r}")
    return bool(_cond_value(conditions[name], values, conditions, seen | {name}))


def _resolve_ifs(node: Any, truth: dict[str, bool]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            cond, when_true, when_false = node["Fn::If"]
            chosen = when_true if truth[cond] else when_false
            return _DROP if chosen == _NO_VALUE else _resolve_ifs(chosen, truth)
        out = {}
        for key, value in node.items():
            resolved = _resolve_ifs(value, truth)
            if resolved is not _DROP:
                out[key] = resolved
        return out
    if isinstance(node, list):
        return [r for r in (_resolve_ifs(v, truth) for v in node) if r is not _DROP]
    return node


def _referenced_names(node: Any, found: set[str]) -> set[str]:
    """Names used by Ref, Fn::GetAtt and Fn::Sub anywhere under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(_SUB_NAME.findall(text))
                if not isinstance(value, str):
                    _referenced_names(value[1], found)
            else:
                _referenced_names(value, found)
    elif isinstance(node, list):
        for value in node:
            _referenced_names(value, found)
    return found


def render(template: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """The template as deployed with `params` (others at their defaults)."""
    values = parameter_values(template, params)
    conditions = template.get("Conditions", {})
    truth = {name: evaluate_condition(name, values, conditions) for name in conditions}
    out: dict[str, Any] = {}
    for section, body in template.items():
        if section == "Conditions":
            continue
        if section in ("Resources", "Outputs"):
            kept = {}
            for logical_id, item in body.items():
                if "Condition" in item and not truth[item["Condition"]]:
                    continue
                item = {k: v for k, v in item.items() if k != "Condition"}
                kept[logical_id] = _resolve_ifs(item, truth)
            out[section] = kept
        else:
            out[section] = _resolve_ifs(body, truth)
    used = _referenced_names({k: v for k, v in out.items() if k != "Parameters"}, set())
    params_out = {}
    for name, spec in out.get("Parameters", {}).items():
        if name in used:
            spec = dict(spec)
            if name in values and spec.get("Type") != "CommaDelimitedList":
                spec["Default"] = values[name]
            params_out[name] = spec
    out["Parameters"] = params_out
    groups = out.get("Metadata", {}).get("AWS::CloudFormation::Interface", {})
    for group in groups.get("ParameterGroups", []):
        group["Parameters"] = [p for p in group["Parameters"] if p in params_out]
    if groups:
        groups["ParameterGroups"] = [g for g in groups["ParameterGroups"] if g["Parameters"]]
    return out


def minified(template: dict[str, Any]) -> str:
    """The template as compact JSON: what is sent to CloudFormation (no comments, no indent).

    CloudFormation reads JSON and YAML alike; the YAML file with its comments is over the
    51,200-byte inline limit, the same document as JSON is not. Two more things only humans
    and linters read are left out: checkov's notes in resource Metadata, and the layout of
    JSON documents inside Fn::Sub strings (the dashboard body; its ${...} placeholders sit
    inside JSON strings, so re-serialising keeps them).
    """
    doc = dict(template)
    resources = {}
    for logical_id, res in doc.get("Resources", {}).items():
        meta = {k: v for k, v in res.get("Metadata", {}).items() if k != "checkov"}
        res = {k: v for k, v in res.items() if k != "Metadata"}
        resources[logical_id] = {**res, "Metadata": meta} if meta else res
    doc["Resources"] = resources
    return json.dumps(_long_form(doc), separators=(",", ":"), ensure_ascii=False)


def _compact_json_text(text: str) -> str:
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if not isinstance(parsed, (dict, list)):
        return text
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


def _long_form(node: Any) -> Any:
    # JSON has no short forms: Fn::GetAtt takes [resource, attribute], not "resource.attribute".
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"} and isinstance(node["Fn::GetAtt"], str):
            resource, _, attribute = node["Fn::GetAtt"].partition(".")
            return {"Fn::GetAtt": [resource, attribute]}
        if set(node) == {"Fn::Sub"}:
            sub = node["Fn::Sub"]
            if isinstance(sub, str):
                return {"Fn::Sub": _compact_json_text(sub)}
            return {"Fn::Sub": [_compact_json_text(sub[0]), _long_form(sub[1])]}
        return {k: _long_form(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_long_form(v) for v in node]
    return node
