"""Field types for the pydantic models of settings, records and the case (kept apart from
timeutil so that the verifier does not import pydantic)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from core.errors import BadInput
from core.timeutil import parse_moment, rfc3339, to_utc

# Aware datetimes, stored in UTC, written as RFC 3339 with Z.
UtcDatetime = Annotated[
    datetime, AfterValidator(to_utc), PlainSerializer(rfc3339, return_type=str, when_used="json")
]


def _moment(value: Any) -> Any:
    """Text as `core.timeutil.parse_moment` reads it (RFC 3339, a date, now, -2h), a date, or an
    aware datetime."""
    if isinstance(value, str):
        try:
            return parse_moment(value)
        except BadInput as exc:  # a validation error names the setting (the CLI: its flag)
            reason = exc.message.removeprefix("time: ")
            context = {"reason": reason, "hint": exc.hint or ""}
            raise PydanticCustomError("rfc3339", "{reason} (hint: {hint})", context) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError(
                "naive",
                "{time} has no time zone (hint: add Z or an offset like +01:00)",
                {"time": repr(value.isoformat())},
            )
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


# A moment in time as settings take it: from a flag, a playbook's YAML or Python; kept in UTC.
Moment = Annotated[UtcDatetime, BeforeValidator(_moment)]


# An incident id names the case's folder and heads every bundle id: the WHOLE string must match
# (fullmatch; `^...$` with re.match lets a trailing newline through).
INCIDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
INCIDENT_ID_HINT = "1 to 64 letters, digits, '.', '_' and '-', starting with a letter or digit"


def incident_id(value: str, *, field: str = "incident_id") -> str:
    """`value` if it is a usable incident id, else BadInput naming `field` (one line)."""
    if not isinstance(value, str) or not INCIDENT_ID.fullmatch(value):
        raise BadInput(
            f"incident id {value!r} is not usable as a folder name",
            hint=f"{INCIDENT_ID_HINT}, e.g. INC-2026-0042",
            field=field,
        )
    return value


def _incident_id(value: str) -> str:
    if not INCIDENT_ID.fullmatch(value):
        raise PydanticCustomError(
            "incident_id",
            "incident id {value} is not usable as a folder name ({hint}, e.g. INC-2026-0042)",
            {"value": repr(value), "hint": INCIDENT_ID_HINT},
        )
    return value


# The type of every setting and record field that holds an incident id (--id, --incident).
IncidentId = Annotated[str, AfterValidator(_incident_id)]
