"""Field types for the pydantic models of settings, records and the case (kept apart from
timeutil so that the verifier does not import pydantic)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from core.errors import BadInput
from core.timeutil import parse_rfc3339, rfc3339, to_utc

# Aware datetimes, stored in UTC, written as RFC 3339 with Z.
UtcDatetime = Annotated[
    datetime, AfterValidator(to_utc), PlainSerializer(rfc3339, return_type=str, when_used="json")
]


def _moment(value: Any) -> Any:
    """RFC 3339 text (a bare date is midnight UTC), a date, or an aware datetime."""
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
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
