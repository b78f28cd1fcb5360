"""What an actor did in AWS, from the staged CloudTrail and VPC flow-log Parquet (no AWS call).

Indicators are the scope's: actors (an access key id, an ARN (a user's, an assumed role's
session, or the role itself), a principal id or a user name) and IP blocks. A CloudTrail event
is in scope when any of those names its identity or its source address is in a block; a flow is
in scope when either end is in a block. The result says which API calls, resources, buckets and
objects the actors touched, when each was first and last seen, from where, and what was denied.

    cloud/cloudtrail/<name>/events/   staged by evidence.aws.cloudtrail (sidecar events.meta.json)
    cloud/vpc-flow/<name>/            staged by evidence.aws.cloudwatch (srcaddr, dstaddr, ...)
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.artifacts import META_SUFFIX
from core.fsio import read_json
from core.timeutil import parse_rfc3339, rfc3339

ACTOR_COLUMNS = ("access_key_id", "identity_arn", "principal_id", "user_name", "session_issuer_arn")
CLOUDTRAIL_COLUMNS = [
    "event_time", "event_source", "event_name", "aws_region", "source_ip", "user_agent",
    "identity_type", "identity_arn", "access_key_id", "principal_id", "user_name",
    "session_issuer_arn", "error_code", "error_message", "request_bucket", "request_key",
    "resources", "event_id", "read_only", "record", "log_object", "log_index",
]  # fmt: skip
FLOW_COLUMNS = ["srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
                "start", "end", "action"]  # fmt: skip
DENIED = ("AccessDenied", "UnauthorizedOperation", "Client.UnauthorizedOperation")
LISTED = 200  # entries of each list kept in scope.json (the staged Parquet has every event)


@dataclass
class CloudSource:
    name: str  # staged name, e.g. cloud/cloudtrail/trail/events
    folder: Path
    kind: str  # cloudtrail | vpc-flow
    window: dict[str, str] = field(default_factory=dict)


def cloud_sources(staging: Path) -> list[CloudSource]:
    """Staged CloudTrail views and VPC flow-log exports of this case."""
    found = []
    trails = staging / "cloud" / "cloudtrail"
    for sidecar in sorted(trails.glob(f"*/events{META_SUFFIX}")) if trails.is_dir() else []:
        folder = sidecar.with_name("events")
        meta = read_json(sidecar, what="CloudTrail artifact metadata")
        source = meta.get("source", {}) if isinstance(meta, dict) else {}
        if folder.is_dir() and source.get("system") == "aws-cloudtrail":
            name = folder.relative_to(staging).as_posix()
            found.append(CloudSource(name, folder, "cloudtrail", source.get("window") or {}))
    flows = staging / "cloud" / "vpc-flow"
    for folder in sorted(p for p in flows.iterdir() if p.is_dir()) if flows.is_dir() else []:
        if folder.name.startswith("."):
            continue
        sidecar = folder.with_name(folder.name + META_SUFFIX)
        meta = read_json(sidecar, what="flow log metadata") if sidecar.is_file() else {}
        source = meta.get("source", {}) if isinstance(meta, dict) else {}
        window = source.get("window") or {}
        found.append(
            CloudSource(folder.relative_to(staging).as_posix(), folder, "vpc-flow", window)
        )
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )


def _in_networks(column: pa.Array, networks: list[Any]) -> pa.Array:
    text = pc.cast(column, pa.string())
    inside = []
    for value in pc.unique(text).to_pylist():
        if value is None:
            continue
        try:
            address = ipaddress.ip_address(value)
        except ValueError:  # CloudTrail writes service names (ec2.amazonaws.com) there too
            continue
        if any(address in net for net in networks):
            inside.append(value)
    return pc.fill_null(pc.is_in(text, value_set=pa.array(inside, pa.string())), False)


def _time_mask(column: pa.Array, since: datetime, until: datetime) -> pa.Array:
    kind = column.type
    unit = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
    low = pa.scalar(int(since.timestamp() * unit), kind)
    high = pa.scalar(int(until.timestamp() * unit), kind)
    both = pc.and_(pc.greater_equal(column, low), pc.less(column, high))
    return pc.fill_null(both, False)


@dataclass
class Seen:
    events: int = 0
    first: datetime | None = None
    last: datetime | None = None
    access_keys: set[str] = field(default_factory=set)
    source_ips: Counter[str] = field(default_factory=Counter)
    errors: int = 0

    def add(self, at: datetime | None) -> None:
        self.events += 1
        if at is not None:
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last


@dataclass
class CloudTally:
    events: int = 0
    actors: dict[str, Seen] = field(default_factory=dict)
    api_calls: Counter[str] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)
    buckets: Counter[str] = field(default_factory=Counter)
    objects: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    denied: list[dict[str, Any]] = field(default_factory=list)
    per_source: dict[str, int] = field(default_factory=dict)
    matched: list[pa.RecordBatch] = field(default_factory=list)
    flows: dict[str, Any] = field(default_factory=dict)

    def add_events(self, batch: pa.RecordBatch) -> None:
        self.events += batch.num_rows
        self.matched.append(batch)
        for row in batch.to_pylist():
            actor = row["identity_arn"] or row["access_key_id"] or row["principal_id"] or "-"
            seen = self.actors.setdefault(actor, Seen())
            seen.add(row["event_time"])
            if row["access_key_id"]:
                seen.access_keys.add(row["access_key_id"])
            if row["source_ip"]:
                seen.source_ips[row["source_ip"]] += 1
            call = f"{row['event_source'] or '?'} {row['event_name'] or '?'}"
            self.api_calls[call] += 1
            for resource in row["resources"] or []:
                if resource.get("arn"):
                    self.resources[resource["arn"]] += 1
            if row["request_bucket"]:
                self.buckets[row["request_bucket"]] += 1
                if row["request_key"]:
                    self.objects[f"{row['request_bucket']}/{row['request_key']}"] += 1
            if row["error_code"]:
                seen.errors += 1
                self.errors[f"{row['error_code']} {call}"] += 1
                if len(self.denied) < LISTED:
                    self.denied.append(
                        {"at": rfc3339(row["event_time"]) if row["event_time"] else None,
                         "actor": actor, "call": call, "error_code": row["error_code"],
                         "error_message": row["error_message"], "source_ip": row["source_ip"]}
                    )  # fmt: skip

    def span(self) -> list[datetime]:
        """When the attacker was seen in the cloud: each actor's first and last CloudTrail
        event, each flow log's first and last matching flow."""
        moments = [at for s in self.actors.values() for at in (s.first, s.last) if at]
        for flows in self.flows.values():
            moments += [parse_rfc3339(flows[k]) for k in ("first_seen", "last_seen") if flows[k]]
        return moments

    def summary(self) -> dict[str, Any]:
        def top(counter: Counter[str]) -> dict[str, int]:
            return dict(counter.most_common(LISTED))

        firsts = [s.first for s in self.actors.values() if s.first]
        lasts = [s.last for s in self.actors.values() if s.last]
        return {
            "events": self.events,
            "first_seen": rfc3339(min(firsts)) if firsts else None,
            "last_seen": rfc3339(max(lasts)) if lasts else None,
            "actors": {
                name: {
                    "events": s.events,
                    "first_seen": rfc3339(s.first) if s.first else None,
                    "last_seen": rfc3339(s.last) if s.last else None,
                    "access_keys": sorted(s.access_keys),
                    "source_ips": dict(s.source_ips.most_common(LISTED)),
                    "errors": s.errors,
                }
                for name, s in sorted(self.actors.items())
            },
            "api_calls": top(self.api_calls),
            "resources": top(self.resources),
            "buckets": top(self.buckets),
            "objects": top(self.objects),
            "objects_total": len(self.objects),
            "errors": top(self.errors),
            "denied": self.denied,
            "sources": dict(self.per_source),
            "flows": self.flows,
        }


def tally_cloud(
    sources: list[CloudSource],
    actors: list[str],
    networks: list[Any],
    since: datetime,
    until: datetime,
) -> CloudTally:
    tally = CloudTally()
    for source in sources:
        if source.kind == "cloudtrail":
            _tally_trail(source, actors, networks, since, until, tally)
        elif networks:
            _tally_flows(source, networks, since, until, tally)
    return tally


def _tally_trail(
    source: CloudSource, actors: list[str], networks: list[Any], since: datetime,
    until: datetime, tally: CloudTally,
) -> None:  # fmt: skip
    wanted = pa.array(actors, pa.string())
    for path in _files(source.folder):
        with pq.ParquetFile(path) as parquet:
            columns = [c for c in CLOUDTRAIL_COLUMNS if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(columns=columns):
                masks = []
                if actors:
                    for name in ACTOR_COLUMNS:
                        if name in columns:
                            masks.append(pc.fill_null(pc.is_in(batch.column(name), wanted), False))
                if networks and "source_ip" in columns:
                    masks.append(_in_networks(batch.column("source_ip"), networks))
                if not masks:
                    continue
                hit = masks[0]
                for mask in masks[1:]:
                    hit = pc.or_(hit, mask)
                hit = pc.and_(hit, _time_mask(batch.column("event_time"), since, until))
                selected = batch.filter(hit)
                if selected.num_rows:
                    tally.per_source[source.name] = (
                        tally.per_source.get(source.name, 0) + selected.num_rows
                    )
                    tally.add_events(selected)


def _tally_flows(
    source: CloudSource, networks: list[Any], since: datetime, until: datetime, tally: CloudTally
) -> None:
    summary = tally.flows.setdefault(
        source.name,
        {"flows": 0, "bytes_from": 0, "bytes_to": 0, "packets": 0, "peers": Counter(),
         "ports": Counter(), "actions": Counter(), "first_seen": None, "last_seen": None},
    )  # fmt: skip
    for path in _files(source.folder):
        with pq.ParquetFile(path) as parquet:
            columns = [c for c in FLOW_COLUMNS if c in parquet.schema_arrow.names]
            if "srcaddr" not in columns or "dstaddr" not in columns:
                continue
            for batch in parquet.iter_batches(columns=columns):
                src = _in_networks(batch.column("srcaddr"), networks)
                dst = _in_networks(batch.column("dstaddr"), networks)
                hit = pc.or_(src, dst)
                if "start" in columns and pa.types.is_timestamp(batch.column("start").type):
                    hit = pc.and_(hit, _time_mask(batch.column("start"), since, until))
                selected = batch.filter(hit)
                from_side = src.filter(hit).to_pylist()
                for row, outbound in zip(selected.to_pylist(), from_side, strict=True):
                    summary["flows"] += 1
                    size = int(row.get("bytes") or 0)
                    summary["bytes_from" if outbound else "bytes_to"] += size
                    summary["packets"] += int(row.get("packets") or 0)
                    peer = row["dstaddr"] if outbound else row["srcaddr"]
                    summary["peers"][str(peer)] += 1
                    if row.get("dstport") is not None:
                        summary["ports"][str(row["dstport"])] += 1
                    if row.get("action"):
                        summary["actions"][str(row["action"])] += 1
                    for key, pick in (("first_seen", min), ("last_seen", max)):
                        at = row.get("start") if key == "first_seen" else row.get("end")
                        if isinstance(at, datetime):
                            old = summary[key]
                            summary[key] = at if old is None else pick(old, at)
    for key in ("peers", "ports", "actions"):
        summary[key] = dict(summary[key].most_common(LISTED))
    for key in ("first_seen", "last_seen"):
        if isinstance(summary[key], datetime):
            summary[key] = rfc3339(summary[key])


def matched_table(tally: CloudTally) -> pa.Table | None:
    """Every CloudTrail event in scope, for scope/cloudtrail-events.parquet."""
    if not tally.matched:
        return None
    return pa.Table.from_batches(tally.matched)
