"""A small IAM policy simulator for the rendered template (moto has no SimulatePrincipalPolicy).

`StackNames` resolves the intrinsics of a rendered template (`template_render.render`) to
the names and ARNs one stack would have; `allowed()` evaluates identity-policy statements
the way IAM does for the parts our template uses: an explicit Deny wins, otherwise one
matching Allow is needed; `*` and `?` wildcards in actions (case-insensitive) and
resources; the condition operators StringEquals, StringLike and Bool, where a key missing
from the request context makes the condition false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"

_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::Athena::WorkGroup": "Name",
    "AWS::Glue::Job": "Name",
}


@dataclass
class StackNames:
    """Physical names of one rendered stack: `resolve()` turns intrinsics into strings."""

    rendered: dict[str, Any]
    region: str = "us-east-1"
    account: str = ACCOUNT
    refs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in self.rendered.get("Parameters", {}).items():
            if "Default" in spec:
                value = str(spec["Default"])
                is_list = spec["Type"] == "CommaDelimitedList"
                self.refs[name] = value.split(",") if is_list else value
        self.refs.update(
            {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": "aws"}
        )
        resources = self.rendered["Resources"]
        for logical_id, res in resources.items():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::Glue::Database":
                self.refs[logical_id] = self.resolve(props["DatabaseInput"]["Name"])
            elif res["Type"] in _NAME_PROPERTY and _NAME_PROPERTY[res["Type"]] in props:
                self.refs[logical_id] = self.resolve(props[_NAME_PROPERTY[res["Type"]]])
            else:
                self.refs[logical_id] = f"{logical_id}-physical-id"
        for logical_id, res in resources.items():
            name = self.refs[logical_id]
            arn = {
                "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
                "AWS::Kinesis::Stream": f"arn:aws:kinesis:{self.region}:{self.account}:stream/{name}",
                "AWS::IAM::Role": f"arn:aws:iam::{self.account}:role/{name}",
            }.get(res["Type"])
            if arn:
                self.refs[f"{logical_id}.Arn"] = arn

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v) for k, v in node.items()}
        ((key, arg),) = node.items()
        if key == "Ref":
            return self.refs[arg]
        if key == "Fn::GetAtt":
            name = arg if isinstance(arg, str) else ".".join(arg)
            return self.refs[name]
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            local = {**self.refs, **{k: self.resolve(v) for k, v in extra.items()}}
            text = re.sub(r"\$\{(?!!)([^}]+)\}", lambda m: local[m.group(1)], text)
            return text.replace("${!", "${")
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(self.resolve(parts))
        if key == "Fn::Split":
            sep, text = arg
            return self.resolve(text).split(sep)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(index)]
        return {key: self.resolve(arg)}

    def statements_of_role(self, role_id: str) -> list[dict[str, Any]]:
        """Every identity-policy statement of a role: inline, and AWS::IAM::Policy on it."""
        resources = self.rendered["Resources"]
        docs = [p["PolicyDocument"] for p in resources[role_id]["Properties"].get("Policies", [])]
        for res in resources.values():
            if res["Type"] == "AWS::IAM::Policy":
                roles = self.resolve(res["Properties"]["Roles"])
                if self.refs[role_id] in roles:
                    docs.append(res["Properties"]["PolicyDocument"])
        return [st for doc in docs for st in self.resolve(doc["Statement"])]


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE if ignore_case else 0) is not None


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            actual = context[key]
            wanted = [str(v) for v in _as_list(expected)]
            if operator == "StringEquals":
                ok = actual in wanted
            elif operator == "StringLike":
                ok = any(_glob(w, actual) for w in wanted)
            elif operator == "Bool":
                ok = actual.lower() in [w.lower() for w in wanted]
            else:
                raise NotImplementedError(f"condition operator {operator}")
            if not ok:
                return False
    return True


def _applies(st: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if not any(_glob(a, action, ignore_case=True) for a in _as_list(st["Action"])):
        return False
    if not any(_glob(r, resource) for r in _as_list(st["Resource"])):
        return False
    return _condition_holds(st.get("Condition", {}), context)


def allowed(
    statements: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> bool:
    context = context or {}
    matching = [st for st in statements if _applies(st, action, resource, context)]
    if any(st["Effect"] == "Deny" for st in matching):
        return False
    return any(st["Effect"] == "Allow" for st in matching)


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {a for st in statements if st["Effect"] == "Allow" for a in _as_list(st["Action"])}
