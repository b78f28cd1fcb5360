"""The least privilege a playbook needs: an IAM policy and PostgreSQL grants for its steps.

    found = policy_for(load(Path("playbooks/data-breach.yaml")), {"kms_key": "1234-..."})
    found.iam_policy()                 # {"Version": "2012-10-17", "Statement": [...]}
    found.pg_grants("breach_responder")  # ["GRANT SELECT ON TABLE public.audit_log TO ...", ...]

Nothing here knows an API: every adapter, collector, store, channel and signer declares what it
calls (`aws_calls`) and which privileges it uses (`pg_needs`, see core.permissions); this
module only picks the declarations of each step and fills in the resources the playbook names
(literal values, `--set`, BREACH_INPUT_*, the environment). A resource it cannot name is "*",
with a note saying which input would scope it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from breach.playbook.model import Playbook, Step
from breach.playbook.variables import resolve, resolve_inputs
from core.errors import BadInput
from core.permissions import CALLER_IDENTITY, AwsCall, PgNeed

UNKNOWN = "*"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
SIMPLE_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*\Z")


class Permission(BaseModel):
    action: str
    resource: str


class Grant(BaseModel):
    """One PostgreSQL need: privileges on a table, a role membership or a role attribute."""

    privileges: list[str] = Field(default_factory=list)
    table: str | None = Field(default=None, description="TABLE s.t or ALL TABLES IN SCHEMA s")
    schema_name: str | None = None
    member: str | None = None
    admin: bool = Field(default=False, description="the membership WITH ADMIN OPTION")
    attribute: str | None = None
    why: str = ""


class StepPolicy(BaseModel):
    step: str
    kind: str
    aws: list[Permission] = Field(default_factory=list)
    pg: list[Grant] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="why a resource is '*'")


class PlaybookPolicy(BaseModel):
    playbook: str
    steps: list[StepPolicy]

    def actions(self, step: str | None = None) -> set[str]:
        return {p.action for s in self.steps if step in (None, s.step) for p in s.aws}

    def notes(self) -> list[str]:
        return [f"{s.step}: {note}" for s in self.steps for note in s.notes]

    def iam_policy(self) -> dict[str, Any]:
        """One statement per step and resource set (never an action on another's resource)."""
        statements = [statement for step in self.steps for statement in _statements(step)]
        if statements:  # who acts, for every receipt and custody entry
            statements.append(
                {
                    "Sid": "WhoAmI",
                    "Effect": "Allow",
                    "Action": [CALLER_IDENTITY.action],
                    "Resource": "*",
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}

    def pg_grants(self, role: str) -> list[str]:
        """The SQL that gives `role` what the steps use (privileges merged per table)."""
        if not ROLE_NAME.match(role):
            raise BadInput(f"{role!r} is not a plain role name", hint="e.g. breach_responder")
        tables: dict[str, tuple[set[str], list[str]]] = {}
        schemas = sorted({g.schema_name for step in self.steps for g in step.pg if g.schema_name})
        lines: dict[str, list[str]] = {}
        for step in self.steps:
            for grant in step.pg:
                if grant.table:
                    privileges, steps = tables.setdefault(grant.table, (set(), []))
                    privileges.update(grant.privileges)
                    steps.append(step.step)
                elif grant.member and grant.admin:
                    line = f"GRANT {_identifier(grant.member)} TO {role} WITH ADMIN OPTION;"
                    lines.setdefault(line, []).append(step.step)
                elif grant.member:
                    lines.setdefault(f"GRANT {grant.member} TO {role};", []).append(step.step)
                elif grant.attribute:
                    lines.setdefault(f"ALTER ROLE {role} {grant.attribute};", []).append(step.step)
        out = []
        for schema in schemas:
            out.append(f"GRANT USAGE ON SCHEMA {schema} TO {role};")
        for table, (privileges, steps) in sorted(tables.items()):
            order = [p for p in ("SELECT", "INSERT", "UPDATE", "DELETE") if p in privileges]
            out.append(
                f"GRANT {', '.join(order)} ON {table} TO {role};  -- {', '.join(dict.fromkeys(steps))}"
            )
        out += [f"{line}  -- {', '.join(dict.fromkeys(steps))}" for line, steps in lines.items()]
        return out


def _statements(step: StepPolicy) -> list[dict[str, Any]]:
    """The step's permissions, one statement per resource set."""
    by_action: dict[str, set[str]] = {}
    for permission in step.aws:
        by_action.setdefault(permission.action, set()).add(permission.resource)
    groups: dict[tuple[str, ...], list[str]] = {}
    for action, resources in by_action.items():
        key = (UNKNOWN,) if UNKNOWN in resources else tuple(sorted(resources))
        groups.setdefault(key, []).append(action)
    statements = []
    for n, (arns, actions) in enumerate(sorted(groups.items()), 1):
        statements.append(
            {
                "Sid": _sid(step.step) + (str(n) if len(groups) > 1 else ""),
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": list(arns) if len(arns) > 1 else arns[0],
            }
        )
    return statements


def policy_for(playbook: Playbook, inputs: Mapping[str, str] | None = None) -> PlaybookPolicy:
    """What each step of `playbook` needs, with resources from `inputs` (`--set`), then
    BREACH_INPUT_*, the environment and the inputs' defaults."""
    values = resolve_inputs(playbook, dict(inputs or {}), required=False)
    return PlaybookPolicy(
        playbook=playbook.name, steps=[_step_policy(step, values) for step in playbook.ordered()]
    )


# -- one step ----------------------------------------------------------------------------------
def _step_policy(step: Step, inputs: Mapping[str, Any]) -> StepPolicy:
    unresolved: dict[str, list[str]] = {}  # setting -> the references it could not resolve

    def resolved(key: str, value: Any) -> Any:
        def lookup(namespace: str, name: str) -> Any:
            if namespace == "inputs" and name in inputs:
                return inputs[name]
            if namespace == "env" and os.environ.get(name):
                return os.environ[name]
            unresolved.setdefault(key, []).append(_how_to_give(namespace, name))
            return UNKNOWN

        return resolve(value, lookup)

    settings = {key: resolved(key, value) for key, value in step.settings.items()}
    policy = StepPolicy(step=step.id, kind=step.kind)
    unscoped: dict[str, list[str]] = {}  # why -> the actions on any resource
    for declared, values in _declarations(step, settings):
        targets = _targets(settings)
        for call in declared.get("aws", ()):
            if _applies(call.when, values) and _add_call(policy, call, values, targets):
                why = _why_unknown(call.resource, unresolved, settings)
                unscoped.setdefault(why, []).append(call.action)
        for need in declared.get("pg", ()):
            if _applies(need.when, values):
                policy.pg += _grants(need, values, policy)
    for why, actions in unscoped.items():
        policy.notes.append(f"Resource * for {', '.join(dict.fromkeys(actions))}: {why}")
    return policy


def _why_unknown(
    template: str, unresolved: Mapping[str, list[str]], settings: Mapping[str, Any]
) -> str:
    fields = {f.partition(":")[0] for _, f, _, _ in string.Formatter().parse(template) if f}
    keys = {"targets" if f == "target" else f for f in fields - {"account", "region"}}
    if keys - set(settings):  # an adapter's option
        keys.add("options")
    reasons = [r for key in sorted(keys) for r in unresolved.get(key, [])]
    return ", ".join(dict.fromkeys(reasons)) or "the resource is known only at run time"


Declared = dict[str, Iterable[Any]]


def _declarations(step: Step, settings: dict[str, Any]) -> list[tuple[Declared, dict[str, Any]]]:
    """The declarations that apply to the step, each with the setting values they refer to."""
    kind = step.step_kind
    if kind.phase == "contain":
        from containment.registry import settings_type

        adapter = settings_type(kind.fixed["action"], str(settings.get("adapter", "")))
        options = settings.get("options") or {}
        values = {**_defaults(adapter), **options, "targets": settings.get("targets")}
        return [(_of(adapter), values)]
    found = DECLARED_BY.get(step.kind)
    if found is None:
        return []
    declaring, pick = found()
    values = {**_defaults(declaring), **settings}
    return [(pick(values), values)]


def _of(declaring: Any) -> Declared:
    return {"aws": getattr(declaring, "aws_calls", ()), "pg": getattr(declaring, "pg_needs", ())}


def _defaults(model: Any) -> dict[str, Any]:
    fields = getattr(model, "model_fields", {})
    return {
        name: f.get_default(call_default_factory=True)
        for name, f in fields.items()
        if not f.is_required()
    }


def _cloudtrail() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
    from evidence.aws.cloudtrail_settings import CloudTrailSettings

    return CloudTrailSettings, lambda values: _of(CloudTrailSettings)


def _audit() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
    from evidence.registry import AuditTableSettings

    return AuditTableSettings, lambda values: _of(AuditTableSettings)


def _snapshot() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
    from evidence.registry import TableSnapshotSettings

    return TableSnapshotSettings, lambda values: _of(TableSnapshotSettings)


def _seal() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
    from breach.procedure.bundle import SealSettings
    from manifests.signing import KMS_SIGNING

    return SealSettings, lambda values: {"aws": KMS_SIGNING if values.get("kms_key") else ()}


def _push() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
    from breach.procedure.locker import PushSettings
    from evidence.stores.s3 import S3Store

    def pick(values: dict[str, Any]) -> Declared:
        store = str(values.get("store", ""))
        return {"aws": S3Store.push_calls if store.startswith("s3://") or store == UNKNOWN else ()}

    return PushSettings, pick


def _send() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
    from breach.procedure.notify import SendSettings
    from notify.channels.sns import SnsSettings

    def pick(values: dict[str, Any]) -> Declared:
        channel = values.get("channel") or {}
        sns = isinstance(channel, dict) and channel.get("type") == "sns"
        if sns:
            values.update({k: v for k, v in channel.items() if k != "type"})
        return _of(SnsSettings) if sns else {}

    return SendSettings, pick


# Where each step kind's declarations are (containment: its adapter's settings); the kinds in
# NEEDS_NOTHING call no AWS API and use no database privilege beyond reading their case.
def _cloud(name: str) -> Callable[[], tuple[Any, Callable[[dict[str, Any]], Declared]]]:
    def declared() -> tuple[Any, Callable[[dict[str, Any]], Declared]]:
        from evidence.aws import settings

        model = getattr(settings, name)
        return model, lambda values: _of(model)

    return declared


DECLARED_BY: dict[str, Callable[[], tuple[Any, Callable[[dict[str, Any]], Declared]]]] = {
    "evidence.export-audit": _audit,
    "evidence.snapshot": _snapshot,
    "evidence.cloudtrail": _cloudtrail,
    "evidence.cloudwatch": _cloud("CloudWatchSettings"),
    "evidence.s3-logs": _cloud("S3LogsSettings"),
    "evidence.cloud-snapshot": _cloud("SnapshotSettings"),
    "seal": _seal,
    "bundle.push": _push,
    "notify.send": _send,
}


NEEDS_NOTHING = frozenset(
    {"incident.open", "incident.classify", "incident.close", "scope", "notify.draft"}
)


def _targets(settings: Mapping[str, Any]) -> list[str]:
    targets = settings.get("targets")
    if isinstance(targets, list):
        found = [str(t) for t in targets]
        return [UNKNOWN] if UNKNOWN in found or not found else found
    return [UNKNOWN]


def _applies(when: str | None, values: Mapping[str, Any]) -> bool:
    """NAME: the setting is set (an unknown value counts); NAME=GLOB: it matches."""
    if when is None:
        return True
    name, sep, pattern = when.partition("=")
    value = values.get(name)
    if value == UNKNOWN:
        return True
    if not sep:
        return bool(value) and str(value).lower() not in ("false", "0", "no")
    return fnmatch.fnmatchcase(str(value), pattern)


def _add_call(
    policy: StepPolicy, call: AwsCall, values: Mapping[str, Any], targets: list[str]
) -> bool:
    """Add the call's permission on each target's resource; True when one could not be named."""
    unscoped = False
    for target in targets:  # a template, or a setting in it (a destination), may name it
        for each in _each_of_lists(call.resource, values):
            resource = _resource(call.resource, each, target)
            unscoped |= resource == UNKNOWN and call.resource != UNKNOWN
            permission = Permission(action=call.action, resource=resource)
            if permission not in policy.aws:
                policy.aws.append(permission)
    return unscoped


def _each_of_lists(template: str, values: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """One set of values per element of a list setting the template names (log_groups)."""
    fields = {f.partition(":")[0] for _, f, _, _ in string.Formatter().parse(template) if f}
    lists = [f for f in sorted(fields) if isinstance(values.get(f), list) and values.get(f)]
    if not lists:
        return [values]
    return [{**values, lists[0]: item} for item in values[lists[0]]]


class _Formatter(string.Formatter):
    """Fills an ARN template; a part that is not known raises LookupError (-> "*")."""

    def __init__(self, values: Mapping[str, Any], target: str) -> None:
        self.values = {
            **values,
            "target": target,
            "account": os.environ.get("BREACH_AWS_ACCOUNT") or UNKNOWN,
            "region": values.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or UNKNOWN,
        }

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        value = self.values.get(str(key))
        if value is None or value == "" or (value == UNKNOWN and key not in ("account", "region")):
            raise LookupError(key)
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        text = str(value)
        if format_spec in ("bucket", "prefix"):
            bucket, _, prefix = text.removeprefix("s3://").partition("/")
            prefix = prefix.strip("/")
            return bucket if format_spec == "bucket" else (f"{prefix}/" if prefix else "")
        if format_spec == "head":
            return text.split("/", 1)[0]
        if format_spec == "after":
            return text.partition(":")[2]
        if format_spec == "keyprefix":  # s3://BUCKET/PREFIX: the key prefix as it is
            return text.removeprefix("s3://").partition("/")[2]
        return text


def _resource(template: str, values: Mapping[str, Any], target: str) -> str:
    if template == UNKNOWN:
        return UNKNOWN
    service = template.split(":")[2] if template.startswith("arn:") else ""
    if target.startswith(f"arn:aws:{service}:") and "{target}" in template:
        return target  # an ARN given as the target is the resource itself
    if target.startswith("alias/") and ":key/{target}" in template:
        target = UNKNOWN  # an alias names no key ARN: IAM checks the key behind it
    try:
        resource = _Formatter(values, target).format(template)
    except LookupError:
        return UNKNOWN
    return resource.replace("{target}", target)


def _grants(need: PgNeed, values: Mapping[str, Any], policy: StepPolicy) -> list[Grant]:
    """The need as grants: one per table it names (a list of tables, or none: all of a schema)."""
    if need.admin_of:
        named = values.get(need.admin_of)
        roles = named if isinstance(named, list) else [named]
        if not roles or any(r in (None, UNKNOWN, "") for r in roles):
            policy.notes.append(f"ADMIN OPTION on the roles not named: {need.why}")
            return []
        return [Grant(member=str(r), admin=True, why=need.why) for r in roles]
    if not need.privilege:
        return [Grant(member=need.member or None, attribute=need.attribute or None, why=need.why)]
    privileges = [p.strip() for p in need.privilege.split(",")]
    named = need.on(values) if callable(need.on) else values.get(need.on, need.on)
    if isinstance(named, list) and not named:
        schema = _identifier(str(values.get("schema_name") or values.get("schema") or "public"))
        on = f"ALL TABLES IN SCHEMA {schema}"
        return [Grant(privileges=privileges, table=on, schema_name=schema, why=need.why)]
    tables = named if isinstance(named, list) else [named]
    if any(t in (None, UNKNOWN, "") for t in tables):
        policy.notes.append(f"{need.privilege} on a table not named: {need.why}")
        return []
    from evidence.postgres.catalog import split_name  # the collectors' reading of a table name

    grants = []
    for table in tables:
        schema, name = split_name(str(table))
        on = f"TABLE {_identifier(schema)}.{_identifier(name)}"
        grants.append(
            Grant(privileges=privileges, table=on, schema_name=_identifier(schema), why=need.why)
        )
    return grants


def _identifier(name: str) -> str:
    """A name as SQL: quoted unless it is a plain lower-case name."""
    return name if SIMPLE_IDENTIFIER.match(name) else '"' + name.replace('"', '""') + '"'


def _how_to_give(namespace: str, name: str) -> str:
    if namespace == "inputs":
        return f"inputs.{name} not given (--set {name}=...)"
    if namespace == "env":
        return f"${name} not set"
    return f"{namespace}.{name} is known only at run time"


def _sid(step_id: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", step_id))
