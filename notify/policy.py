"""The notification policy as data: severities, the escalation matrix, regulatory regimes.

The default ships with the package (`default-policy.toml`); a user file (TOML or JSON) is merged
over it table by table. Any mistake is one line naming the file and the field.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import BadInput
from notify.deadlines import Calendar, DurationField

Severity = Literal["P1", "P2", "P3", "P4"]
SEVERITIES: tuple[Severity, ...] = ("P1", "P2", "P3", "P4")
DEFAULT_POLICY = "default-policy.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PLACEHOLDER_NAME = "Example Ltd"
PLACEHOLDER_DOMAIN = "example.com"


class Organisation(_Strict):
    name: str = PLACEHOLDER_NAME
    dpo_contact: str = ""
    security_contact: str = ""
    supervisory_authority: str = "the competent supervisory authority"

    def placeholders(self) -> dict[str, str]:
        """The fields still holding the default policy's placeholders: field -> value."""
        found = {"name": self.name} if self.name.strip() == PLACEHOLDER_NAME else {}
        for key in ("dpo_contact", "security_contact"):
            value = getattr(self, key)
            if re.search(rf"@{re.escape(PLACEHOLDER_DOMAIN)}\b", value, re.IGNORECASE):
                found[key] = value
        return found


class SeverityLevel(_Strict):
    name: str
    definition: str
    response_time: DurationField
    examples: list[str] = Field(default_factory=list)
    escalation: str = ""
    update_every: DurationField


class Role(_Strict):
    """One row of the escalation matrix: how soon this role must be told, per severity."""

    label: str
    P1: DurationField
    P2: DurationField
    P3: DurationField
    P4: DurationField
    notice: str | None = None

    def rule(self, severity: Severity) -> Any:
        return getattr(self, severity)


class ClassifyRules(_Strict):
    error_rate_p2: float = Field(default=0.05, gt=0, lt=1)


class Regime(_Strict):
    name: str
    audience: str
    deadline: DurationField
    calendar: str | None = None
    cutoff: time | None = None
    applies: Literal["personal-data-breach", "always"] = "personal-data-breach"
    severities: list[Severity] = Field(default_factory=lambda: list(SEVERITIES))
    enabled: bool = True
    notice: str | None = None


class Policy(_Strict):
    version: Literal[1] = 1
    source: str = DEFAULT_POLICY
    organisation: Organisation = Organisation()
    calendar: Calendar = Calendar()
    calendars: dict[str, Calendar] = Field(default_factory=dict)
    severities: dict[Severity, SeverityLevel]
    escalation: dict[str, Role] = Field(default_factory=dict)
    classify: ClassifyRules = ClassifyRules()
    regimes: dict[str, Regime] = Field(default_factory=dict)
    # kind of personal data -> column names that hold it (notify.facts.data_kinds)
    data_kinds: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        missing = [s for s in SEVERITIES if s not in self.severities]
        if missing:
            raise ValueError(f"severities: {', '.join(missing)} not defined")
        for regime_id, regime in self.regimes.items():
            if regime.calendar and regime.calendar not in self.calendars:
                raise ValueError(
                    f"regimes.{regime_id}.calendar: no calendar {regime.calendar!r} in [calendars]"
                )
        return self

    def calendar_for(self, regime: Regime) -> Calendar:
        return self.calendars[regime.calendar] if regime.calendar else self.calendar

    def obligation_ids(self) -> list[str]:
        return [f"escalation:{role}" for role in self.escalation] + list(self.regimes)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse(text: str, name: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if name.endswith(".json") else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"policy file {name}: not valid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"policy file {name}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"policy file {name}: the top level must be a table")
    return data


def _read_user_file(path: Path) -> dict[str, Any]:
    if path.suffix.lower() not in (".toml", ".json"):
        raise BadInput(f"policy file {path}: use TOML (.toml) or JSON (.json)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"policy file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"policy file {path}: cannot read it: {exc}") from None
    return _parse(text, str(path))


def default_policy_data() -> dict[str, Any]:
    text = resources.files("notify").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
    return _parse(text, DEFAULT_POLICY)


def build_policy(data: dict[str, Any], source: str) -> Policy:
    try:
        return Policy.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        # A whole-policy check has no location; its message starts with the field it names.
        field = ".".join(str(part) for part in first["loc"])
        raise BadInput(
            f"policy file {source}: field {field + ': ' if field else ''}{message}",
            hint="see notify/default-policy.toml for the expected shape",
        ) from None


def load_policy(path: Path | str | None = None) -> Policy:
    """The default policy, with the user's file (if any) merged over it."""
    data = default_policy_data()
    if path is None:
        return build_policy(data, DEFAULT_POLICY)
    user = Path(path)
    return build_policy(_merge(data, _read_user_file(user)), str(user))
