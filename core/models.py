"""Field types for the pydantic models of the case and of notices (kept apart from timeutil so
that the verifier does not import pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

from core.timeutil import rfc3339, to_utc

# Aware datetimes, stored in UTC, written as RFC 3339 with Z.
UtcDatetime = Annotated[
    datetime, AfterValidator(to_utc), PlainSerializer(rfc3339, return_type=str, when_used="json")
]
