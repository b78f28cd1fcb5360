"""`breach evidence export-audit | snapshot` and `breach scope`: thin wrappers over evidence/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from breach.case import Case
from breach.options import case_option, dry_run_option, json_option
from breach.output import report, stderr
from core.errors import BadInput, BreachError, StepFailed
from core.redact import redact_dsn
from core.timeutil import parse_rfc3339
from evidence.interface import ArtifactResult
from evidence.postgres.audit import AuditExport, Window
from evidence.postgres.pgaudit import PgauditExport, parse_zone_option
from evidence.postgres.snapshot import TableSnapshot
from evidence.scope import Indicators, compute_scope


def _dsn_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dsn",
        envvar="BREACH_DSN",
        default="",
        help="libpq DSN or URL of the server under investigation; PG* variables fill gaps. [BREACH_DSN]",
    )(func)


def _jobs_option(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(1, 32),
        default=default,
        show_default=True,
        help="Worker connections, all on the same snapshot.",
    )


def _time(value: str | None, field: str) -> datetime | None:
    return parse_rfc3339(value, field=field) if value else None


@contextmanager
def _journaled(case: Case, what: str, details: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Journal the step whatever happens; the body fills `details` and may set 'result'."""
    outcome: dict[str, Any] = {"result": "ok"}
    try:
        yield outcome
    except BreachError as exc:
        case.journal(what, result="failed", details={**details, "error": exc.message})
        raise
    case.journal(what, result=outcome.pop("result"), details={**details, **outcome})


@contextmanager
def _row_progress(label: str, as_json: bool) -> Iterator[Callable[[str, int], None] | None]:
    """Rows read so far, on a terminal only (workers call it from their threads)."""
    if as_json or not stderr.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn(label), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda _key, rows: progress.advance(task, rows)


def _warn(warnings: list[str], as_json: bool) -> None:
    if not as_json:
        for line in warnings:
            stderr.print(f"[yellow]warning:[/yellow] {escape(line)}")


@click.group("evidence")
def evidence() -> None:
    """Preserve evidence: audit logs to Parquet, consistent table snapshots."""


@evidence.command("export-audit")
@case_option()
@_dsn_option
@click.option("--table", help="Audit table, schema.table.")
@click.option("--query", help="Custom source SQL (needs --name); filtered by the window.")
@click.option("--time-column", help="Event time column (timestamptz) the window applies to.")
@click.option("--since", required=True, help="Window start, inclusive (RFC 3339).")
@click.option("--until", required=True, help="Window end, exclusive (RFC 3339).")
@click.option("--actor", "actors", multiple=True, help="Only events by this principal (repeat).")
@click.option("--ip", "ips", multiple=True, help="Only events from this address/CIDR (repeat).")
@click.option("--actor-column", help="Column naming the principal (default: guessed by name).")
@click.option("--ip-column", help="Column holding the source IP (default: guessed by name).")
@click.option(
    "--pgaudit-log",
    type=click.Path(path_type=Path),
    help="A PostgreSQL server log (stderr or csvlog) to parse pgaudit AUDIT: lines from.",
)
@click.option("--log-timezone", help="Zone of log timestamps written as an abbreviation (CET).")
@click.option("--name", help="Stage as audit/NAME (default: the table, or 'pgaudit').")
@_jobs_option(2)
@json_option
def export_audit(
    case_dir: str,
    dsn: str,
    table: str | None,
    query: str | None,
    time_column: str | None,
    since: str,
    until: str,
    actors: tuple[str, ...],
    ips: tuple[str, ...],
    actor_column: str | None,
    ip_column: str | None,
    pgaudit_log: Path | None,
    log_timezone: str | None,
    name: str | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Stream an audit table, query or pgaudit log for the window to day-partitioned Parquet."""
    case = Case.load(case_dir)
    window = Window(parse_rfc3339(since, field="--since"), parse_rfc3339(until, field="--until"))
    if not (table or query or pgaudit_log):
        raise BadInput("give --table, --query or --pgaudit-log")
    if (table or query) and not time_column:
        raise BadInput("--time-column is required with --table/--query")
    results: list[ArtifactResult] = []
    if table or query:
        exporter = AuditExport(
            dsn=dsn,
            window=window,
            time_column=time_column or "",
            table=table,
            query=query,
            actors=list(actors),
            ips=list(ips),
            actor_column=actor_column,
            ip_column=ip_column,
            artifact=name if not pgaudit_log else None,
            jobs=jobs,
        )
        details = {"source": table or "query", "dsn": redact_dsn(dsn), **window.to_json()}
        with (
            _journaled(case, "evidence.export-audit", details) as outcome,
            _row_progress(f"exporting {table or name}", as_json) as progress,
        ):
            exporter.progress = progress
            result = exporter.export(case)
            outcome.update(_outcome(result))
        results.append(result)
    if pgaudit_log:
        log_export = PgauditExport(
            log=pgaudit_log,
            window=window,
            actors=list(actors),
            ips=list(ips),
            artifact=name if name and not (table or query) else "pgaudit",
            log_timezone=parse_zone_option(log_timezone),
        )
        details = {"source": f"pgaudit log {pgaudit_log.name}", **window.to_json()}
        with _journaled(case, "evidence.export-audit", details) as outcome:
            result = log_export.export(case)
            outcome.update(_outcome(result))
        results.append(result)
    warnings = [w for r in results for w in r.warnings]
    _warn(warnings, as_json)
    data = {"artifacts": [_summary(r) for r in results], "warnings": warnings}
    report(as_json, data, lambda out: _print_exports(out, results))


def _outcome(result: ArtifactResult) -> dict[str, Any]:
    return {
        "result": "empty" if result.row_count == 0 else "ok",
        "artifact": result.name,
        "rows": result.row_count,
        "warnings": result.warnings,
    }


def _summary(result: ArtifactResult) -> dict[str, Any]:
    source = result.meta.get("source", {})
    keys = ("table", "row_count", "oldest_event", "newest_event", "pg_snapshot", "lsn", "window")
    return {"artifact": result.name, **{k: source.get(k) for k in keys}}


def _print_exports(out: Console, results: list[ArtifactResult]) -> None:
    for result in results:
        source = result.meta.get("source", {})
        span = f"{source.get('oldest_event')} .. {source.get('newest_event')}"
        if not result.row_count:
            span = "no event in the window"
        out.print(f"staged {escape(result.name)}: {result.row_count} rows ({span})")


@evidence.command("snapshot")
@case_option()
@_dsn_option
@click.option("--table", "tables", multiple=True, help="schema.table to snapshot (repeat).")
@click.option("--schema", help="Snapshot every table of this schema.")
@_jobs_option(2)
@dry_run_option
@json_option
def snapshot(
    case_dir: str,
    dsn: str,
    tables: tuple[str, ...],
    schema: str | None,
    jobs: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Read tables at ONE point in time (exported snapshot) to Parquet with their DDL."""
    case = Case.load(case_dir)
    collector = TableSnapshot(dsn=dsn, tables=list(tables), schema=schema, jobs=jobs)
    details: dict[str, Any] = {"dsn": redact_dsn(dsn), "tables": list(tables), "schema": schema}
    if dry_run:
        with _journaled(case, "evidence.snapshot", {**details, "dry_run": True}) as outcome:
            estimates = [e.to_json() for e in collector.estimate()]
            outcome.update(result="dry-run", estimates=estimates)
        report(
            as_json, {"dry_run": True, "tables": estimates}, lambda out: _print_plan(out, estimates)
        )
        return
    with (
        _journaled(case, "evidence.snapshot", details) as outcome,
        _row_progress("snapshot rows", as_json) as progress,
    ):
        collector.progress = progress
        result = collector.run(case)
        outcome.update(
            result="failed" if result.failed else "ok",
            snapshot=result.snapshot,
            exported={a.name: a.row_count for a in result.exported},
            failed=[f.to_json() for f in result.failed],
        )
    _warn([w for a in result.exported for w in a.warnings], as_json)
    report(as_json, result.to_json(), lambda out: _print_snapshot(out, result.to_json()))
    if result.failed:
        names = ", ".join(f"{f.target} ({f.reason})" for f in result.failed)
        raise StepFailed(f"{len(result.failed)} table(s) not snapshotted: {names}")


def _print_plan(out: Console, estimates: list[dict[str, Any]]) -> None:
    out.print("dry run: would read, under ACCESS SHARE locks only:")
    for item in estimates:
        size = item["total_bytes"] / 1e6
        rows = item["estimated_rows"]
        estimate = f"~{rows} rows" if rows is not None else "rows unknown (never analyzed)"
        out.print(f"  {item['table']}: {estimate}, {size:.1f} MB")


def _print_snapshot(out: Console, data: dict[str, Any]) -> None:
    snap = data["snapshot"]
    out.print(f"snapshot {snap['pg_snapshot']} at LSN {snap['lsn']} -> {data['folder']}")
    for item in data["exported"]:
        out.print(f"  {escape(item['name'])}: {item['row_count']} rows")
    for item in data["failed"]:
        out.print(f"  [red]FAILED[/red] {escape(item['target'])}: {escape(item['reason'])}")


@click.command("scope")
@case_option()
@click.option("--actor", "actors", multiple=True, help="A compromised principal (repeat).")
@click.option("--ip", "ips", multiple=True, help="An attacker address or CIDR (repeat).")
@click.option("--since", help="Window start (RFC 3339). Default: the exports' window.")
@click.option("--until", help="Window end (RFC 3339). Default: the exports' window.")
@json_option
def scope(
    case_dir: str,
    actors: tuple[str, ...],
    ips: tuple[str, ...],
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Who and what the indicators touched, from the exported audit Parquet; affected users."""
    case = Case.load(case_dir)
    indicators = Indicators(
        list(actors), list(ips), _time(since, "--since"), _time(until, "--until")
    )
    details = {"actors": list(actors), "ips": list(ips)}
    with _journaled(case, "scope.compute", details) as outcome:
        result = compute_scope(case, indicators)
        outcome.update(
            events=result.details["events"],
            affected_users=result.scope["affected_users"],
            warnings=result.warnings,
        )
    case.update("scope computed", scope=result.scope)
    _warn(result.warnings, as_json)
    report(
        as_json,
        {**result.details, "warnings": result.warnings},
        lambda out: _print_scope(out, result.details),
    )


def _print_scope(out: Console, data: dict[str, Any]) -> None:
    out.print(f"scope {data['since']} .. {data['until']}: {data['events']} matching events")
    out.print(f"  principals: {_some(data['principals'])}")
    out.print(f"  source IPs: {_some(data['source_ips'])}")
    out.print(f"  actions: {data['actions'] or '-'}")
    out.print(f"  tables: {data['tables'] or '-'}")
    out.print(f"  records touched: {data['records_touched']}")
    out.print(f"  affected users: {data['affected_users']} -> {data['affected_users_artifact']}")


def _some(values: list[str], shown: int = 20) -> str:
    """A list for a terminal: the first few, then how many more (--json has them all)."""
    text = ", ".join(values[:shown]) or "-"
    return f"{text} ... ({len(values) - shown} more)" if len(values) > shown else text
