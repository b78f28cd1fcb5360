"""VPC flow log records: AWS's field list, typed columns, headers and custom formats.

A flow log writes one record a line, its fields separated by spaces, in the default (version 2)
format or in a custom format (`${version} ${vpc-id} ...`, the flow log's LogFormat). Fields
without a value are '-' (null here); NODATA and SKIPDATA records are kept as they are (their
log_status says so). Columns are the AWS field names in snake_case (account-id -> account_id),
`start` and `end` as UTC timestamps, counters as integers. A line that does not have the
format's number of fields, or a number that is not one, keeps its raw text in `message`; it is
counted, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from core.errors import BadInput

DEFAULT_FIELDS = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
)
INT32 = frozenset(
    {"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path", "encryption-status"}
)
INT64 = frozenset({"packets", "bytes"})
TIMES = frozenset({"start", "end"})
# Every field AWS documents (versions 2 to 10); any of them may appear in a custom format.
KNOWN = frozenset(
    {
        *DEFAULT_FIELDS,
        "vpc-id",
        "subnet-id",
        "instance-id",
        "tcp-flags",
        "type",
        "pkt-srcaddr",
        "pkt-dstaddr",
        "region",
        "az-id",
        "sublocation-type",
        "sublocation-id",
        "pkt-src-aws-service",
        "pkt-dst-aws-service",
        "flow-direction",
        "traffic-path",
        "ecs-cluster-arn",
        "ecs-cluster-name",
        "ecs-container-instance-arn",
        "ecs-container-instance-id",
        "ecs-container-id",
        "ecs-second-container-id",
        "ecs-service-name",
        "ecs-task-definition-arn",
        "ecs-task-arn",
        "ecs-task-id",
        "reject-reason",
        "resource-id",
        "encryption-status",
    }
)
FIELD = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# Columns the collector adds beside the fields: a field may not take their names.
RESERVED = frozenset({"timestamp", "stream", "ingestion_time", "message"})


def column(field: str) -> str:
    return field.replace("-", "_")


def parse_fields(text: str | Iterable[str]) -> list[str]:
    """A field list as a flow log's LogFormat gives it (`${version} ${srcaddr}`), or plain names
    separated by spaces or commas; refused when a name is not a field name."""
    raw = text if isinstance(text, str) else " ".join(text)
    names = [n for n in re.split(r"[\s,]+", raw.replace("${", " ").replace("}", " ")) if n]
    if not names:
        raise BadInput("the flow log format names no field", field="fields")
    for name in names:
        if not FIELD.match(name) or column(name) in RESERVED:
            raise BadInput(
                f"{name!r} is not a flow log field name",
                hint="e.g. '${version} ${vpc-id} ${srcaddr}' or 'version vpc-id srcaddr'",
                field="fields",
            )
    if len(set(names)) != len(names):
        raise BadInput("the flow log format repeats a field", field="fields")
    return names


def header_fields(message: str) -> list[str] | None:
    """The field list when `message` is a header line (every token an AWS field name)."""
    tokens = message.split()
    if tokens and all(t in KNOWN for t in tokens) and len(set(tokens)) == len(tokens):
        return tokens
    return None


def looks_like_v2(message: str) -> bool:
    """A default-format record: 14 fields, version 2, an account id."""
    tokens = message.split()
    return (
        len(tokens) == len(DEFAULT_FIELDS)
        and tokens[0] == "2"
        and (tokens[1].isdigit() or tokens[1] == "-")
    )


class FlowParser:
    """Parses records of one field list into columns (lists of Python values)."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        self.columns = [column(f) for f in fields]
        self.malformed = 0

    def parse(self, message: str) -> list[Any] | None:
        """The record's values in field order, or None (counted) when it does not fit."""
        tokens = message.split()
        if len(tokens) != len(self.fields):
            self.malformed += 1
            return None
        values: list[Any] = []
        for name, token in zip(self.fields, tokens, strict=True):
            if token == "-":
                values.append(None)
            elif name in INT32 or name in INT64 or name in TIMES:
                if not (token.isascii() and token.isdigit()):
                    self.malformed += 1
                    return None
                # times: seconds since the epoch, kept as milliseconds (Parquet has no seconds)
                values.append(int(token) * 1000 if name in TIMES else int(token))
            else:
                values.append(token)
        return values


def arrow_type(field: str) -> Any:
    import pyarrow as pa

    if field in INT32:
        return pa.int32()
    if field in INT64:
        return pa.int64()
    if field in TIMES:
        return pa.timestamp("ms", tz="UTC")
    return pa.string()
