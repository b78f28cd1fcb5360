"""Notices from templates (Jinja2), filled from the incident context and the policy.

A template's first line may be `Subject: ...`; the rest is the body. What only a person can
write is rendered as a `[[FILL IN: ...]]` marker, and `send` refuses a notice that still has one.
Users supply their own templates in a folder (`<notice>.md.j2` or `<notice>.j2`), which take
precedence over the ones shipped here.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from core.errors import BadInput
from core.records import ScopeRecord
from core.timeutil import parse_rfc3339, rfc3339, utcnow
from notify.channels.interface import Composed
from notify.context import IncidentContext
from notify.deadlines import Duration, deadline, local_iso
from notify.facts import UNDETERMINED, DataKinds, count_text, data_kinds, measures
from notify.policy import Policy

NOTICES = ("internal", "external", "gdpr-art33", "gdpr-art34")
MARKER = re.compile(r"\[\[FILL IN: ([^\]]*)\]\]")
# A draft's header: lines before the notice starting with this, never sent.
HEADER = "%%"
# The names a template takes through --set: `field("name", ...)` and `vars.name`.
_FIELD_CALL = re.compile(r"""\bfield\(\s*["'](\w+)["']""")
_VARS = re.compile(r"\bvars\.(\w+)")
_STATUS_LABELS = {
    "open": "Investigating",
    "contained": "Mitigating",
    "resolved": "Resolved",
    "closed": "Resolved",
}


@dataclass(frozen=True)
class Notice(Composed):
    name: str
    subject: str
    body: str
    template: str  # where the template came from, for the record

    def unfilled(self) -> list[str]:
        return MARKER.findall(self.text)


def marker(what: str) -> str:
    return f"[[FILL IN: {what}]]"


def parse_notice(name: str, text: str, template: str) -> Notice:
    """Split `Subject: ...` off the first line (a notice without one gets a generic subject);
    a draft's header lines (starting with %%) are dropped."""
    lines = text.lstrip("\n").split("\n")
    while lines and lines[0].startswith(HEADER):
        lines.pop(0)
    text = "\n".join(lines)
    first, _, rest = text.lstrip("\n").partition("\n")
    if first.lower().startswith("subject:"):
        return Notice(name, first.split(":", 1)[1].strip(), rest.strip("\n") + "\n", template)
    return Notice(name, f"Notice: {name}", text.strip("\n") + "\n", template)


def builtin_templates() -> Path:
    return Path(str(resources.files("notify") / "templates"))


def _environment(templates_dir: Path | None) -> jinja2.Environment:
    folders = [str(templates_dir)] if templates_dir else []
    if templates_dir is not None and not templates_dir.is_dir():
        raise BadInput(f"template folder {templates_dir} not found")
    folders.append(str(builtin_templates()))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # plain text and Markdown, not HTML
    )


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    candidates = [f"{name}.md.j2", f"{name}.j2"]
    try:
        return env.select_template(candidates)
    except jinja2.TemplateSyntaxError as exc:
        raise BadInput(
            f"template {exc.filename or exc.name} line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.TemplatesNotFound:
        raise BadInput(
            f"no template for notice {name!r}", hint=f"built in: {', '.join(NOTICES)}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"template {_first_file(env, candidates)}: cannot read it: {exc}") from None


def _first_file(env: jinja2.Environment, candidates: list[str]) -> str:
    """The file the loader would have read: the first candidate found in its folders."""
    folders = env.loader.searchpath if isinstance(env.loader, jinja2.FileSystemLoader) else []
    for folder in folders:
        for candidate in candidates:
            if (Path(folder) / candidate).is_file():
                return str(Path(folder) / candidate)
    return candidates[0]


def _template_line(exc: BaseException, filename: str) -> int | None:
    """The template line that failed (Jinja2 maps template frames onto the .j2 file)."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return lines[-1] if lines else None


def _impact(context: IncidentContext) -> str | None:
    scope = context.scope
    if scope is None:
        return None
    parts = []
    for key, what in (("affected_users", "affected users"), ("records_touched", "records touched")):
        value, reason = getattr(scope, key), scope.uncounted.get(key)
        if reason is None:
            parts += [f"{value} {what}"] if value is not None else []
        elif value:
            parts.append(f"at least {value} {what} (the rest {UNDETERMINED}: {reason})")
        else:
            parts.append(f"{what} {UNDETERMINED} ({reason})")
    if scope.tables:
        parts.append(f"tables {', '.join(sorted(scope.tables))}")
    return "; ".join(parts) or None


def _count(scope: ScopeRecord | None, key: str, what: str) -> str | None:
    """A count for a regulator: where the evidence could not make it, the gap is to fill in."""
    said = count_text(scope, key)
    if said is not None and UNDETERMINED in said:
        return f"{said} {marker(what)}"
    return said


def _plain_data(kinds: DataKinds) -> str | None:
    """The kinds for the people affected; where some are unknown, the gap is to fill in."""
    said = ", ".join(kinds.kinds)
    if kinds.undetermined:
        gap = marker("which other kinds of their data are involved")
        return f"{said}; {gap}" if said else gap
    return said or None


def _categories(kinds: DataKinds) -> str | None:
    """The kinds of personal data; tables whose columns are unknown are a gap to fill in."""
    if not kinds.annex:
        return None
    said = ", ".join(kinds.kinds)
    if kinds.undetermined:
        gap = f"{UNDETERMINED} for {len(kinds.undetermined)} table(s) (see the annex)"
        said = f"{said}; {gap}" if said else gap
        return f"{said} {marker('kinds of personal data in the tables not snapshotted')}"
    return said or None


def _every(rule: Duration) -> str:
    if rule.kind == "elapsed":
        minutes = rule.amount // 60
        return f"{minutes} minutes" if minutes < 60 else f"{minutes // 60} hour(s)"
    return "business day" if rule.kind == "next_business_day" else str(rule)


def variables(
    context: IncidentContext,
    policy: Policy,
    values: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything a template can use."""
    moment = now or utcnow()
    given = dict(values or {})
    level = policy.severities[context.case.severity]
    next_update = deadline(moment, level.update_every, policy.calendar) or moment

    def field(name: str, default: Any = None, what: str | None = None) -> Any:
        if given.get(name):
            return given[name]
        if default not in (None, "", []):
            return default
        return marker(what or name.replace("_", " "))

    def local(value: Any) -> str:
        if not value:
            return marker("time")
        when = value if isinstance(value, datetime) else parse_rfc3339(str(value))
        return local_iso(when, policy.calendar)

    case = context.case.model_dump(mode="json")
    hours_since_aware = (moment - context.case.aware_at) / timedelta(hours=1)
    scope = context.scope
    kinds = data_kinds(scope, policy.data_kinds)
    done = measures(context.containment)
    seen = scope is not None and scope.first_seen is not None and scope.last_seen is not None
    return {
        "case": case,
        "severity": {**level.model_dump(mode="json"), "id": context.case.severity},
        "org": policy.organisation.model_dump(mode="json"),
        "scope": context.scope.model_dump(mode="json") if context.scope else None,
        "facts": context.facts,
        "impact": _impact(context),
        "status_label": _STATUS_LABELS.get(context.case.status, context.case.status.title()),
        "next_update": local_iso(next_update, policy.calendar),
        "update_every": _every(level.update_every),
        "containment": [c.model_dump(mode="json") for c in context.containment],
        "measures": done.technical,
        "measures_by_system": done.by_system,
        "measures_plain": done.plain,
        # when the attacker was active (first and last matching event), not the searched window
        "period": {"first": local(scope.first_seen), "last": local(scope.last_seen)}
        if seen and scope
        else None,
        "data_kinds": kinds.kinds,
        "data_annex": kinds.annex,
        "data_kinds_undetermined": kinds.undetermined,
        "plain_data": _plain_data(kinds),
        "record_categories": _categories(kinds),
        "subjects_count": _count(scope, "affected_users", "approximate number of data subjects"),
        "records_count": _count(scope, "records_touched", "approximate number of records"),
        "org_placeholders": policy.organisation.placeholders(),
        "timeline": context.timeline,
        "now": rfc3339(moment),
        "now_local": local_iso(moment, policy.calendar),
        "hours_since_aware": round(hours_since_aware, 1),
        "time_zone": policy.calendar.timezone,
        "vars": given,
        "field": field,
        "fill": marker,
        "local": local,
    }


def template_fields(
    name: str, templates_dir: Path | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """The names template `name` accepts through --set (with `extra`: those its code fills)."""
    template = _template(_environment(templates_dir), name)
    try:
        source = Path(template.filename).read_text(encoding="utf-8") if template.filename else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"template {template.filename}: cannot read it: {exc}") from None
    return sorted(set(_FIELD_CALL.findall(source)) | set(_VARS.findall(source)) | set(extra))


def check_values(
    name: str,
    values: dict[str, str] | None,
    templates_dir: Path | None = None,
    extra: tuple[str, ...] = (),
) -> None:
    """A --set name the template does not take is a typo that would silently fill nothing."""
    known = template_fields(name, templates_dir, extra)
    unknown = sorted(set(values or {}) - set(known))
    if unknown:
        raise BadInput(
            f"notice {name} has no field {unknown[0]!r} to set",
            hint=f"it takes: {', '.join(known)} (see `breach notify fields --notice {name}`)",
            field="values",
        )


def draft_header(name: str, fields: list[str], placeholders: dict[str, str]) -> str:
    """What a reviewer needs at the top of a draft: the header lines are never sent."""
    lines = [
        f"{HEADER} draft of notice {name}; lines starting with {HEADER} are not sent.",
        f"{HEADER} fields to fill with --set NAME=VALUE: {', '.join(fields) or '-'}",
    ]
    if placeholders:
        named = ", ".join(f"organisation.{key}" for key in placeholders)
        lines.append(
            f"{HEADER} NOT SENDABLE: the organisation is the default policy's placeholder;"
            f" set {named} in your policy file"
        )
    return "\n".join(lines) + "\n"


def render_text(name: str, data: dict[str, Any], templates_dir: Path | None = None) -> Notice:
    """Render template `name` with `data`; any template mistake is one line naming file and line."""
    env = _environment(templates_dir)
    template = _template(env, name)
    filename = template.filename or name
    try:
        text = template.render(data)
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, filename)
        where = f" line {line}" if line else ""
        raise BadInput(
            f"template {filename}{where}: unknown field: {exc.message}",
            hint="see docs/notify.md for the fields a template can use",
        ) from None
    except jinja2.TemplateError as exc:
        raise BadInput(f"template {filename}: {exc}") from None
    except Exception as exc:  # whatever the template's own code raises
        line = _template_line(exc, filename)
        where = f" line {line}" if line else ""
        raise BadInput(f"template {filename}{where}: {type(exc).__name__}: {exc}") from None
    return parse_notice(name, text, filename)


def render_notice(
    name: str,
    context: IncidentContext,
    policy: Policy,
    *,
    templates_dir: Path | None = None,
    values: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Notice:
    check_values(name, values, templates_dir)
    return render_text(name, variables(context, policy, values, now), templates_dir)
