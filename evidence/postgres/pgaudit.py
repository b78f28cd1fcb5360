"""pgaudit records from a PostgreSQL server log, parsed into columns and staged as Parquet.

pgaudit writes one log message per audited statement:

    2026-11-01 12:00:00.123 UTC [4242] alice@app 10.0.0.5(51234) LOG:  AUDIT: SESSION,1,1,READ,\
SELECT,TABLE,public.users,"select * from users",<not logged>

The prefix (log_line_prefix) varies by server: the timestamp must lead the line; pid, user@db and
the client address are picked up when present. Statements spanning lines (continuation lines carry
no prefix) are joined back. csvlog files (`*.csv`) are read by their fixed columns instead.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from core.artifacts import describe, sidecar_path
from core.errors import BadInput, StepFailed
from evidence.interface import (
    ArtifactResult,
    FailedItem,
    Stager,
    commit_staged,
    staged_name,
)
from evidence.parquet import ParquetSink, SinkStats, by_day, temp_dir_for
from evidence.postgres.audit import Window, artifact_meta, export_name, parse_networks

COLLECTOR = "evidence.postgres.pgaudit"
BATCH_ROWS = 50_000

SCHEMA = pa.schema(
    [
        ("log_time", pa.timestamp("us", tz="UTC")),
        ("pid", pa.int32()),
        ("user_name", pa.string()),
        ("database", pa.string()),
        ("client_addr", pa.string()),
        ("audit_type", pa.string()),
        ("statement_id", pa.int64()),
        ("substatement_id", pa.int64()),
        ("class", pa.string()),
        ("command", pa.string()),
        ("object_type", pa.string()),
        ("object_name", pa.string()),
        ("statement", pa.string()),
        ("parameter", pa.string()),
    ]
)
ROLES = {
    "time": "log_time",
    "actor": "user_name",
    "ip": "client_addr",
    "action": "command",
    "table": "object_name",
}

_PREFIX_TIME = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(?P<tz>[A-Za-z][A-Za-z0-9/_+-]*|[+-]\d{2}(?::?\d{2})?)?"
)
_PID = re.compile(r"\[(\d+)(?:-\d+)?\]")
_USER_DB = re.compile(r"(?:^|\s)([^\s@\[\]]+)@([^\s@\[\]]+)(?=\s|$)")
_CLIENT = re.compile(
    r"(?:^|[\s=])(\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:]+)(?:\(\d+\))?(?=\s|$)"
)
_AUDIT = "AUDIT: "


@dataclass
class ParseStats:
    lines: int = 0
    records: int = 0
    malformed: int = 0
    sha256: str = ""
    bytes: int = 0
    first_malformed: list[str] = field(default_factory=list)


def zone_for(token: str | None, default: tzinfo | None) -> tzinfo:
    """A log timestamp's zone: UTC, a numeric offset, or the given zone for abbreviations."""
    if token in (None, "", "UTC", "GMT", "Z", "UCT"):
        if token is None and default is not None:
            return default
        return UTC
    assert token is not None
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", token)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        return timezone(sign * delta)
    if default is not None:
        return default
    try:
        return ZoneInfo(token)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(
            f"log time zone {token!r} is ambiguous: name the log's zone (e.g. Europe/Paris),"
            " or set log_timezone = 'UTC' on the server",
            field="log_timezone",
        ) from None


def parse_zone_option(value: str | None) -> tzinfo | None:
    if not value:
        return None
    try:
        return zone_for(value, None)
    except BadInput:
        raise BadInput(f"{value!r} is not a time zone", field="log_timezone") from None


def _prefix_fields(prefix: str) -> dict[str, Any]:
    found: dict[str, Any] = dict.fromkeys(("pid", "user_name", "database", "client_addr"))
    if pid := _PID.search(prefix):
        found["pid"] = int(pid.group(1))
    if user_db := _USER_DB.search(prefix):
        found["user_name"], found["database"] = user_db.group(1), user_db.group(2)
    for candidate in _CLIENT.finditer(prefix):
        try:
            found["client_addr"] = str(ipaddress.ip_address(candidate.group(1)))
            break
        except ValueError:
            continue
    return found


def _audit_fields(text: str) -> dict[str, Any] | None:
    """The CSV after 'AUDIT: ' (statement and parameter may be quoted, with commas inside)."""
    try:
        row = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None
    if len(row) < 9 or row[0] not in ("SESSION", "OBJECT"):
        return None
    try:
        statement_id, substatement_id = int(row[1]), int(row[2])
    except ValueError:
        return None
    return {
        "audit_type": row[0],
        "statement_id": statement_id,
        "substatement_id": substatement_id,
        "class": row[3],
        "command": row[4],
        "object_type": row[5] or None,
        "object_name": row[6] or None,
        "statement": row[7],
        "parameter": ",".join(row[8:]),
    }


def _messages(lines: Iterator[str]) -> Iterator[str]:
    """Join continuation lines (no timestamp prefix) onto the message they belong to."""
    current: list[str] = []
    for line in lines:
        if _PREFIX_TIME.match(line) and current:
            yield "\n".join(current)
            current = []
        if current or _PREFIX_TIME.match(line):
            current.append(line)
    if current:
        yield "\n".join(current)


def _parse_stderr_message(message: str, zone: tzinfo | None) -> dict[str, Any] | None:
    head = _PREFIX_TIME.match(message)
    index = message.find(_AUDIT)
    if head is None or index < 0:
        return None
    moment = datetime.fromisoformat(head.group("ts").replace("T", " "))
    moment = moment.replace(tzinfo=zone_for(head.group("tz"), zone)).astimezone(UTC)
    audit = _audit_fields(message[index + len(_AUDIT) :])
    if audit is None:
        return None
    prefix = message[head.end() : index]
    return {"log_time": moment, **_prefix_fields(prefix), **audit}


def _parse_csvlog_row(row: list[str], zone: tzinfo | None) -> dict[str, Any] | None:
    if len(row) < 14 or not row[13].startswith(_AUDIT):
        return None
    head = _PREFIX_TIME.match(row[0])
    audit = _audit_fields(row[13][len(_AUDIT) :])
    if head is None or audit is None:
        return None
    moment = datetime.fromisoformat(head.group("ts").replace("T", " "))
    moment = moment.replace(tzinfo=zone_for(head.group("tz"), zone)).astimezone(UTC)
    client = row[4].rsplit(":", 1)[0] if row[4] else None
    return {
        "log_time": moment,
        "pid": int(row[3]) if row[3].isdigit() else None,
        "user_name": row[1] or None,
        "database": row[2] or None,
        "client_addr": client,
        **audit,
    }


class _HashingLines:
    """Lines of the log, hashing the raw bytes on the way (the source's sha256 is recorded)."""

    def __init__(self, path: Path, stats: ParseStats) -> None:
        self.path = path
        self.stats = stats

    def __iter__(self) -> Iterator[str]:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for raw in handle:
                digest.update(raw)
                self.stats.bytes += len(raw)
                self.stats.lines += 1
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
        self.stats.sha256 = digest.hexdigest()


def parse_log(
    path: Path, stats: ParseStats, zone: tzinfo | None = None
) -> Iterator[dict[str, Any]]:
    """Every pgaudit record in a stderr or csvlog file, in file order."""
    lines = _HashingLines(path, stats)
    if path.suffix.lower() == ".csv":
        for row in csv.reader(iter(lines)):
            if len(row) > 13 and row[13].startswith(_AUDIT):
                yield from _counted(_parse_csvlog_row(row, zone), stats, row[13])
        return
    for message in _messages(iter(lines)):
        if _AUDIT in message:
            yield from _counted(_parse_stderr_message(message, zone), stats, message)


def _counted(
    record: dict[str, Any] | None, stats: ParseStats, raw: str
) -> Iterator[dict[str, Any]]:
    if record is None:
        stats.malformed += 1
        if len(stats.first_malformed) < 3:
            stats.first_malformed.append(raw[:200])
        return
    stats.records += 1
    yield record


def _in_scope(
    record: dict[str, Any], window: Window, actors: set[str], networks: list[Any]
) -> bool:
    if not window.since <= record["log_time"] < window.until:
        return False
    if not actors and not networks:
        return True
    if record.get("user_name") in actors:
        return True
    address = record.get("client_addr")
    if address and networks:
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in networks)
    return False


def _batches(records: Iterator[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(chunk, schema=SCHEMA)
            chunk = []
    if chunk:
        yield pa.RecordBatch.from_pylist(chunk, schema=SCHEMA)


@dataclass
class PgauditExport:
    """Collector: the pgaudit records of one server log in a window, as audit/<artifact>/."""

    log: Path
    window: Window
    actors: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    artifact: str = "pgaudit"
    log_timezone: tzinfo | None = None
    name: str = COLLECTOR

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        try:
            return [self.export(stager)], []
        except StepFailed as exc:
            return [], [FailedItem(str(self.log), exc.message)]

    def export(self, stager: Stager) -> ArtifactResult:
        if not self.log.is_file():
            raise BadInput(f"no log file at {self.log}", field="pgaudit_log")
        networks = [ipaddress.ip_network(n) for n in parse_networks(self.ips)]
        final = stager.stage_path(f"audit/{export_name(self.artifact)}")
        if final.exists():
            raise BadInput(
                f"{final} is already staged",
                hint="give this export another name to stage it separately",
                field="name",
            )
        stats = ParseStats()
        records = (
            r
            for r in parse_log(self.log, stats, self.log_timezone)
            if _in_scope(r, self.window, set(self.actors), networks)
        )
        tmp = temp_dir_for(final)
        sink = ParquetSink(tmp, SCHEMA, by_day("log_time"), time_column="log_time")
        try:
            for batch in _batches(records):
                sink.put(batch)
            empty = f"day={self.window.since.astimezone(UTC).date().isoformat()}/part-0000.parquet"
            written = sink.finish(empty_file=empty)
            meta = artifact_meta(self._source(stats), written, SCHEMA, COLLECTOR)
            describe(tmp, meta)  # under the hidden name too: both become visible at the commit
            commit_staged(stager, sidecar_path(tmp), sidecar_path(final))
            commit_staged(stager, tmp, final)
        except BaseException:
            sink.abort()
            sidecar_path(tmp).unlink(missing_ok=True)
            raise
        name = staged_name(stager, final)
        return ArtifactResult(name, written.rows, meta, self._warnings(stats, written))

    def _source(self, stats: ParseStats) -> dict[str, Any]:
        return {
            "system": "postgresql-log",
            "log_file": self.log.name,
            "log_sha256": stats.sha256,
            "log_bytes": stats.bytes,
            "lines_read": stats.lines,
            "audit_records": stats.records,
            "malformed_records": stats.malformed,
            "table": "pgaudit",
            "window": self.window.to_json(),
            "filters": {"actors": self.actors, "ips": self.ips},
            "time_column": "log_time",
            "roles": ROLES,
        }

    def _warnings(self, stats: ParseStats, written: SinkStats) -> list[str]:
        warnings = []
        if stats.records == 0:
            warnings.append(f"no pgaudit records (AUDIT: lines) found in {self.log}")
        elif written.rows == 0:
            warnings.append("no pgaudit records in the window: staged an empty artifact")
        if stats.malformed:
            warnings.append(f"{stats.malformed} AUDIT: lines could not be parsed (kept out)")
        return warnings
