"""Scope of the compromise, from the staged audit Parquet alone (no database needed).

Given indicators (actors and/or source IP blocks) and a window, read every exported audit artifact
(`audit/<name>/`, whose sidecar says which column is the actor, the IP, the action, the table, the
record and the affected user) and count what those indicators touched. An event is in scope when
it matches ANY indicator. Affected users are joined to a snapshotted users table, when there is
one, for contact addresses the notification step can use; secrets columns are never copied.

    scope/affected-users.parquet   user_id, email, and any other contact columns found
    scope/records-touched.parquet  table, record_id: which records the matching events named
    scope/actors.parquet           actor, events: who acted in the matching events (containment
                                   takes it: `--targets-file ... --targets-column actor`)
    scope/scope.json               the counts below, also stored in the case
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.artifacts import META_SUFFIX, collector, describe
from core.errors import BadInput
from core.fsio import file_to_name, read_json, write_json
from core.order import natural_key, natural_sorted
from core.records import ScopeRecord
from core.timeutil import parse_rfc3339, rfc3339
from evidence.interface import PARQUET_MEDIA_TYPE, DirStager, Stager, staged_name
from evidence.parquet import commit_file

if TYPE_CHECKING:  # imported where used: scope of a case without cloud logs never loads it
    from evidence.aws.cloudtrail_scope import CloudTally

COLLECTOR = "evidence.scope"
AFFECTED_USERS = "scope/affected-users.parquet"
RECORDS_TOUCHED = "scope/records-touched.parquet"
ACTORS = "scope/actors.parquet"
SCOPE_JSON = "scope/scope.json"
CLOUD_EVENTS = "scope/cloudtrail-events.parquet"
USERS_TABLES = ("users", "user", "accounts", "customers", "members", "auth_user")
CONTACT_WORDS = ("email", "phone", "mobile", "address", "name")
SECRET_WORDS = ("password", "passwd", "hash", "token", "secret", "salt", "otp", "key")
ID_COLUMNS = ("id", "user_id", "uid")


@dataclass
class Indicators:
    actors: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        try:
            return [ipaddress.ip_network(ip.strip(), strict=False) for ip in self.ips]
        except ValueError as exc:
            raise BadInput(str(exc), field="ips") from None


@dataclass
class AuditSource:
    name: str  # artifact name relative to staging, e.g. audit/public.audit_log
    folder: Path
    roles: dict[str, str]
    window: dict[str, str]
    table: str | None
    filters: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Tally:
    events: int = 0
    principals: Counter[str] = field(default_factory=Counter)
    source_ips: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    tables: Counter[str] = field(default_factory=Counter)
    records: set[tuple[str, str]] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    per_source: dict[str, int] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    no_record: Counter[str] = field(default_factory=Counter)  # source -> events naming no record
    no_subject: Counter[str] = field(default_factory=Counter)  # source -> events naming no user

    def seen(self, column: pa.Array) -> None:
        """Widen first/last seen to a batch's event times (timestamps; naive ones are UTC)."""
        if not pa.types.is_timestamp(column.type):
            return
        span = pc.min_max(column).as_py()
        low, high = (
            t if t is None or t.tzinfo else t.replace(tzinfo=UTC)
            for t in (span["min"], span["max"])
        )
        if low is not None and (self.first_seen is None or low < self.first_seen):
            self.first_seen = low
        if high is not None and (self.last_seen is None or high > self.last_seen):
            self.last_seen = high

    def uncounted(self) -> dict[str, str]:
        """What these events cannot count: records or people they do not name."""
        found = {}
        for key, missing, what in (
            ("records_touched", self.no_record, "name no record"),
            ("affected_users", self.no_subject, "name no user (no subject column, no users table)"),
        ):
            missing = +missing  # drop the sources whose every event named one
            if missing:
                where = ", ".join(sorted(missing))
                found[key] = f"{sum(missing.values())} matching event(s) in {where} {what}"
        return found


def audit_sources(staging: Path) -> list[AuditSource]:
    """Every staged audit export (a folder with a sidecar that names its column roles)."""
    root = staging / "audit"
    found = []
    for sidecar in sorted(root.glob(f"*{META_SUFFIX}")) if root.is_dir() else []:
        folder = sidecar.with_name(sidecar.name[: -len(META_SUFFIX)])
        meta = read_json(sidecar, what="audit artifact metadata")
        source = meta.get("source", {}) if isinstance(meta, dict) else {}
        if folder.is_dir() and source.get("roles"):
            found.append(
                AuditSource(
                    staged_name(DirStager(staging), folder),
                    folder,
                    source["roles"],
                    source.get("window") or {},
                    source.get("table"),
                    source.get("filters") or {},
                )
            )
    return found


def _window(indicators: Indicators, sources: Sequence[Any]) -> tuple[datetime, datetime]:
    """The asked window, else the span of the exports' own windows."""
    since, until = indicators.since, indicators.until
    if since is None:
        starts = [parse_rfc3339(s.window["since"]) for s in sources if s.window.get("since")]
        since = min(starts) if starts else datetime.min.replace(tzinfo=UTC)
    if until is None:
        ends = [parse_rfc3339(s.window["until"]) for s in sources if s.window.get("until")]
        until = max(ends) if ends else datetime.max.replace(tzinfo=UTC)
    if since >= until:
        raise BadInput(
            f"the scope's window starts at {rfc3339(since)}, which is not before its end"
            f" {rfc3339(until)}",
            field="since",
        )
    return since, until


def _time_mask(column: pa.Array, since: datetime, until: datetime) -> pa.Array:
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is None:  # naive: stored in UTC
        low: Any = since.astimezone(UTC).replace(tzinfo=None)
        high: Any = until.astimezone(UTC).replace(tzinfo=None)
    elif pa.types.is_date(kind):
        low, high = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    else:
        low, high = since, until
    after = pc.greater_equal(column, pa.scalar(low, type=kind))
    before = pc.less(column, pa.scalar(high, type=kind))
    return pc.fill_null(pc.and_(after, before), False)


def _ip_mask(column: pa.Array, networks: list[Any]) -> pa.Array:
    """Membership tested once per distinct address, then mapped back with is_in."""
    text = pc.cast(column, pa.string())
    inside = []
    for value in pc.unique(text).to_pylist():
        if value is None:
            continue
        try:
            address = ipaddress.ip_interface(value).ip
        except ValueError:
            continue
        if any(address in net for net in networks):
            inside.append(value)
    return pc.fill_null(pc.is_in(text, value_set=pa.array(inside, pa.string())), False)


def _indicator_mask(batch: pa.RecordBatch, roles: dict[str, str], ind: Indicators) -> pa.Array:
    masks = []
    if ind.actors and "actor" in roles:
        actor = pc.cast(batch.column(roles["actor"]), pa.string())
        masks.append(pc.fill_null(pc.is_in(actor, value_set=pa.array(ind.actors)), False))
    if ind.ips and "ip" in roles:
        masks.append(_ip_mask(batch.column(roles["ip"]), ind.networks()))
    if not masks:
        return pa.array([False] * batch.num_rows)
    result = masks[0]
    for mask in masks[1:]:
        result = pc.or_(result, mask)
    return result


def _count(counter: Counter[str], column: pa.Array) -> None:
    text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    for entry in pc.value_counts(text).to_pylist():
        if entry["values"] is not None:
            counter[entry["values"]] += entry["counts"]


def _is_users_table(name: str | None) -> bool:
    return bool(name) and str(name).rsplit(".", 1)[-1].strip('"').lower() in USERS_TABLES


def _tally_batch(batch: pa.RecordBatch, source: AuditSource, tally: Tally) -> None:
    roles = source.roles
    tally.events += batch.num_rows
    tally.seen(batch.column(roles["time"]))
    tally.per_source[source.name] = tally.per_source.get(source.name, 0) + batch.num_rows
    for role, counter in (
        ("actor", tally.principals),
        ("ip", tally.source_ips),
        ("action", tally.actions),
        ("table", tally.tables),
    ):
        if role in roles:
            _count(counter, batch.column(roles[role]))
    tables = (
        pc.cast(batch.column(roles["table"]), pa.string()).to_pylist()
        if "table" in roles
        else [source.table] * batch.num_rows
    )
    if "record" in roles:
        records = pc.cast(batch.column(roles["record"]), pa.string()).to_pylist()
        for table, record in zip(tables, records, strict=True):
            if record is not None:
                tally.records.add((str(table), record))
                if _is_users_table(table):
                    tally.users.add(record)
    if "subject" in roles:
        subjects = pc.cast(batch.column(roles["subject"]), pa.string())
        tally.users.update(v for v in pc.unique(subjects).to_pylist() if v is not None)
    else:  # a person is named only by a record of the users table
        named = sum(map(_is_users_table, tables)) if "record" in roles else 0
        tally.no_subject[source.name] += batch.num_rows - named
    if "record" not in roles:
        tally.no_record[source.name] += batch.num_rows


def parquet_files(folder: Path) -> list[Path]:
    """The files of an export folder (day=.../part-NNNN.parquet), hidden temporaries left out.
    Read file by file with ParquetFile: pyarrow.dataset would import pandas (0.1-0.3 s)."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    )


def tally_sources(
    sources: list[AuditSource], indicators: Indicators, since: datetime, until: datetime
) -> Tally:
    tally = Tally()
    for source in sources:
        columns = sorted(set(source.roles.values()))
        for path in parquet_files(source.folder):
            with pq.ParquetFile(path) as parquet:
                missing = [c for c in columns if c not in parquet.schema_arrow.names]
                if missing:
                    raise BadInput(f"{source.name} lacks the columns its metadata names: {missing}")
                for batch in parquet.iter_batches(columns=columns):
                    mask = pc.and_(
                        _time_mask(batch.column(source.roles["time"]), since, until),
                        _indicator_mask(batch, source.roles, indicators),
                    )
                    selected = batch.filter(mask)
                    if selected.num_rows:
                        _tally_batch(selected, source, tally)
    return tally


def _snapshot_table(parquet: Path) -> str | None:
    """The table a snapshot file holds: its name after the schema's, decoded (the file name is
    core.fsio.qualified_file, so a table "Users" is public.%55sers.parquet)."""
    return file_to_name(parquet.name[: -len(".parquet")].rsplit(".", 1)[-1])


def find_users_snapshot(staging: Path) -> Path | None:
    """The newest snapshotted users table, if any snapshot holds one."""
    candidates = [
        p
        for p in (staging / "snapshot").glob("*/*.parquet")
        if not p.name.startswith(".") and _is_users_table(_snapshot_table(p))
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def table_columns(staging: Path, tables: list[str]) -> dict[str, list[str]]:
    """The columns of each touched table, from its newest snapshot (matched by the table's
    decoded last name part: `users` and `public.users` both find `public.users.parquet`)."""
    files = [p for p in (staging / "snapshot").glob("*/*.parquet") if not p.name.startswith(".")]
    found = {}
    for table in tables:
        short = table.rsplit(".", 1)[-1].strip('"').lower()
        matches = [p for p in files if (_snapshot_table(p) or "").lower() == short]
        if matches:
            newest = max(matches, key=lambda p: p.stat().st_mtime)
            found[table] = list(pq.read_schema(newest).names)
    return found


def _contact_columns(names: list[str]) -> list[str]:
    def is_contact(name: str) -> bool:
        low = name.lower()
        return any(w in low for w in CONTACT_WORDS) and not any(w in low for w in SECRET_WORDS)

    return [n for n in names if is_contact(n)]


def affected_users_table(user_ids: list[str], users_file: Path | None) -> pa.Table:
    """user_id and email (null when unknown), plus contact columns from the users snapshot."""
    ids = pa.array(natural_sorted(user_ids), pa.string())
    base = pa.table({"user_id": ids})
    if users_file is None:
        return base.append_column("email", pa.nulls(len(ids), pa.string()))
    with pq.ParquetFile(users_file) as parquet:
        names = parquet.schema_arrow.names
        id_column = next((c for c in ID_COLUMNS if c in names), None)
        if id_column is None:
            return base.append_column("email", pa.nulls(len(ids), pa.string()))
        contacts = [c for c in _contact_columns(names) if c != id_column]
        columns = [id_column, *contacts]
        schema = pa.schema([parquet.schema_arrow.field(c) for c in columns])
        parts = [
            batch.filter(pc.is_in(pc.cast(batch.column(id_column), pa.string()), value_set=ids))
            for batch in parquet.iter_batches(columns=columns)
        ]
    found = pa.Table.from_batches(parts, schema=schema)
    found = pa.table(
        {"user_id": pc.cast(found.column(id_column), pa.string())}
        | {c: pc.cast(found.column(c), pa.string()) for c in contacts}
    )
    joined = base.join(found, "user_id", join_type="left outer")
    ids_found = joined.column("user_id").to_pylist()
    order = sorted(range(len(ids_found)), key=lambda i: natural_key(ids_found[i]))
    joined = joined.take(pa.array(order, pa.int64()))  # natural order: "2" before "10"
    if "email" not in joined.column_names:
        joined = joined.append_column("email", pa.nulls(joined.num_rows, pa.string()))
    ordered = [
        "user_id",
        "email",
        *[c for c in joined.column_names if c not in ("user_id", "email")],
    ]
    return joined.select(ordered)


def coverage_warnings(sources: list[AuditSource], since: datetime, until: datetime) -> list[str]:
    """What the exports cannot show: time outside their windows, events their filters left out."""
    warnings = []
    for source in sources:
        start, end = source.window.get("since"), source.window.get("until")
        if start and end and (since < parse_rfc3339(start) or until > parse_rfc3339(end)):
            warnings.append(
                f"{source.name} covers only {start} .. {end}: events outside it are not counted"
            )
        narrowed = {k: v for k, v in source.filters.items() if v}
        if narrowed:
            shown = "; ".join(f"{k} {', '.join(v)}" for k, v in sorted(narrowed.items()))
            warnings.append(
                f"{source.name} was exported only for {shown}: other events are not in it"
            )
    return warnings


@dataclass
class ScopeResult:
    scope: ScopeRecord  # exactly what the case keeps and the notification step reads
    details: dict[str, Any]  # scope.json: the above plus per-source counts and provenance
    warnings: list[str]


def compute_scope(stager: Stager, indicators: Indicators) -> ScopeResult:
    """Count what the indicators touched and stage scope/affected-users.parquet and scope.json."""
    if not indicators.actors and not indicators.ips:
        raise BadInput(
            "no indicator: the scope needs at least one compromised actor or attacker IP",
            hint="--actor or --ip on the command line; actors or ips in settings",
            field="actors",
        )
    from evidence.aws.cloudtrail_scope import cloud_sources, tally_cloud

    sources = audit_sources(stager.staging)
    clouds = cloud_sources(stager.staging)
    if not sources and not clouds:
        raise BadInput(
            "no exported audit logs in this case (nor CloudTrail or VPC flow logs)",
            hint="run `breach evidence export-audit` or `breach evidence cloudtrail` first",
        )
    since, until = _window(indicators, [*sources, *clouds])
    tally = tally_sources(sources, indicators, since, until)
    cloud = tally_cloud(clouds, indicators.actors, indicators.networks(), since, until)
    cloud_summary = cloud.summary() if clouds else None
    if clouds:
        _stage_cloud_events(stager, cloud, clouds, since, until)
    users_file = find_users_snapshot(stager.staging)
    users = affected_users_table(sorted(tally.users), users_file)
    contacts_from = staged_name(stager, users_file) if users_file else None
    provenance = _meta(PARQUET_MEDIA_TYPE, sources, contacts_from, users.num_rows, since, until)
    provenance["source"]["indicators"] = {"actors": indicators.actors, "ips": indicators.ips}
    _stage_table(stager, AFFECTED_USERS, users, provenance)
    records = pa.table(
        {
            "table": pa.array([t for t, _ in sorted(tally.records)], pa.string()),
            "record_id": pa.array([r for _, r in sorted(tally.records)], pa.string()),
        }
    )
    provenance = {**provenance, "source": {**provenance["source"], "row_count": records.num_rows}}
    _stage_table(stager, RECORDS_TOUCHED, records, provenance)
    actors = actors_table(tally.principals, cloud_summary)
    provenance = {**provenance, "source": {**provenance["source"], "row_count": actors.num_rows}}
    _stage_table(stager, ACTORS, actors, provenance)
    scope = ScopeRecord(
        since=since,
        until=until,
        principals=sorted(set(tally.principals) | _cloud_actors(cloud_summary)),
        source_ips=sorted(set(tally.source_ips) | _cloud_ips(cloud_summary)),
        actions=dict(sorted((tally.actions + _cloud_actions(cloud_summary)).items())),
        tables=dict(sorted(tally.tables.items())),
        # None, not 0, where no matching event could be counted (see `uncounted`)
        records_touched=len(tally.records) if tally.records or not tally.no_record else None,
        affected_users=users.num_rows if tally.users or not tally.no_subject else None,
        affected_users_artifact=AFFECTED_USERS,
        # the attacker's period: the audit log's matching events and the cloud's together
        first_seen=min(seen) if (seen := _seen(tally, cloud)) else None,
        last_seen=max(seen) if seen else None,
        columns=table_columns(stager.staging, list(tally.tables)),
        uncounted=tally.uncounted(),
    )
    warnings = coverage_warnings(sources, since, until) + _cloud_coverage(clouds, since, until)
    if sources and tally.events == 0:
        warnings.append("no audit event matched the indicators in the window")
    if clouds and cloud.events == 0 and not any(f["flows"] for f in cloud.flows.values()):
        warnings.append("no CloudTrail event or flow matched the indicators in the window")
    if tally.users and users_file is None:
        warnings.append("no users table was snapshotted: affected users have no contact address")
    details = {
        **scope.model_dump(mode="json"),
        "events": tally.events,
        "indicators": {"actors": indicators.actors, "ips": indicators.ips},
        "principal_events": dict(tally.principals),
        "source_ip_events": dict(tally.source_ips),
        "sources": [
            {"artifact": s.name, "events": tally.per_source.get(s.name, 0)} for s in sources
        ],
        "contacts_from": contacts_from,
        "records_touched_artifact": RECORDS_TOUCHED,
        "cloud": None,  # no CloudTrail or flow logs staged
    }
    if cloud_summary is not None:
        details["cloud"] = {**cloud_summary, "artifact": CLOUD_EVENTS if cloud.events else None}
    target = stager.stage_path(SCOPE_JSON)
    write_json(target, details)
    describe(target, _meta("application/json", sources, contacts_from, tally.events, since, until))
    return ScopeResult(scope, details, warnings)


def actors_table(principals: Counter[str], cloud: dict[str, Any] | None) -> pa.Table:
    """Who acted in the matching events (audit principals and CloudTrail actors), with how many
    events each, in natural order."""
    events = Counter(principals)
    for name, actor in (cloud or {}).get("actors", {}).items():
        if name != "-":
            events[name] += int(actor.get("events", 0))
    names = natural_sorted(list(events))
    return pa.table(
        {
            "actor": pa.array(names, pa.string()),
            "events": pa.array([events[n] for n in names], pa.int64()),
        }
    )


def _seen(tally: Tally, cloud: CloudTally) -> list[datetime]:
    return [at for at in (tally.first_seen, tally.last_seen) if at] + cloud.span()


def _cloud_actors(summary: dict[str, Any] | None) -> set[str]:
    return {name for name in (summary or {}).get("actors", {}) if name != "-"}


def _cloud_ips(summary: dict[str, Any] | None) -> set[str]:
    if not summary:
        return set()
    return {ip for actor in summary["actors"].values() for ip in actor["source_ips"]}


def _cloud_actions(summary: dict[str, Any] | None) -> Counter[str]:
    """CloudTrail calls as actions: `cloudtrail:iam.amazonaws.com CreateAccessKey`."""
    return Counter({f"cloudtrail:{k}": v for k, v in (summary or {}).get("api_calls", {}).items()})


def _cloud_coverage(clouds: list[Any], since: datetime, until: datetime) -> list[str]:
    warnings = []
    for source in clouds:
        start, end = source.window.get("since"), source.window.get("until")
        if start and end and (since < parse_rfc3339(start) or until > parse_rfc3339(end)):
            warnings.append(
                f"{source.name} covers only {start} .. {end}: events outside it are not counted"
            )
    return warnings


def _stage_cloud_events(
    stager: Stager, cloud: Any, clouds: list[Any], since: datetime, until: datetime
) -> None:
    from evidence.aws.cloudtrail_scope import matched_table

    table = matched_table(cloud)
    if table is None:
        return
    meta = {
        "media_type": PARQUET_MEDIA_TYPE,
        "source": {
            "system": "breachkit-scope",
            "inputs": [c.name for c in clouds if c.kind == "cloudtrail"],
            "window": {"since": rfc3339(since), "until": rfc3339(until)},
            "row_count": table.num_rows,
        },
        "collector": collector(COLLECTOR),
    }
    _stage_table(stager, CLOUD_EVENTS, table, meta)


def _meta(
    media_type: str,
    sources: list[AuditSource],
    contacts_from: str | None,
    rows: int,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    return {
        "media_type": media_type,
        "source": {
            "system": "breachkit-scope",
            "inputs": [s.name for s in sources] + ([contacts_from] if contacts_from else []),
            "window": {"since": rfc3339(since), "until": rfc3339(until)},
            "row_count": rows,
        },
        "collector": collector(COLLECTOR),
    }


def _stage_table(stager: Stager, name: str, table: pa.Table, meta: dict[str, Any]) -> None:
    target = stager.stage_path(name)
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    describe(target, meta)  # first: an artifact is never staged without its description
    commit_file(tmp, target)
