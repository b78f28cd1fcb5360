"""`breach evidence export-audit | snapshot` and `breach scope`: thin shells over
breach.procedure.evidence (imported when a command runs, so --help loads no driver)."""

from __future__ import annotations

import functools
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import LazyGroup, invoke
from breach.options import DSN_HELP, PATH, case_option, dry_run_option, json_option
from breach.output import report, row_progress, some, warn
from breach.process import lean

dsn_option = click.option("--dsn", envvar="BREACH_DSN", default="", help=DSN_HELP)
jobs_option = click.option(
    "--jobs", "-j", type=click.IntRange(1, 32), default=2, show_default=True,
    help="Worker connections, all on the same snapshot.",
)  # fmt: skip


# Collectors whose commands live in modules of their own, imported when one runs:
# name -> ("module:attribute", the one line `breach evidence --help` shows).
MORE: dict[str, tuple[str, str]] = {
    "cloudwatch": ("breach.commands.cloud:cloudwatch", "CloudWatch logs and VPC flow logs."),
    "s3-logs": ("breach.commands.cloud:s3_logs", "Copy ALB/NLB and S3 access log objects."),
    "cloud-snapshot": ("breach.commands.cloud:cloud_snapshot", "Snapshot RDS and EBS resources."),
    "cloudtrail": (
        "breach.commands.cloudtrail:cloudtrail",
        "CloudTrail, byte for byte and as Parquet.",
    ),
}


@click.group("evidence", cls=LazyGroup, lazy=MORE)
def evidence() -> None:
    """Preserve evidence: audit logs to Parquet, consistent table snapshots."""


@evidence.command("export-audit")
@case_option()
@dsn_option
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
    "--pgaudit-log", type=PATH,
    help="A PostgreSQL server log (stderr or csvlog) to parse pgaudit AUDIT: lines from.",
)  # fmt: skip
@click.option("--log-timezone", help="Zone of log timestamps written as an abbreviation (CET).")
@click.option("--name", help="Stage as audit/NAME (default: the table, or 'pgaudit').")
@jobs_option
@json_option
@lean
def export_audit(case_dir: str, as_json: bool, **values: Any) -> None:
    """Stream an audit table, query or pgaudit log for the window to day-partitioned Parquet."""
    from breach.procedure import evidence as steps

    label = f"exporting {values['table'] or values['name']}"
    with row_progress(label, not as_json and bool(values["table"] or values["query"])) as progress:
        run = functools.partial(steps.export_audit, progress=progress)
        result = invoke(run, steps.ExportAuditSettings, case=case_dir, **values)
    warn(result.warnings, as_json)

    def human(out: Console) -> None:
        for item in result.artifacts:
            span = f"{item.oldest_event} .. {item.newest_event}"
            span = span if item.row_count else "no event in the window"
            out.print(f"staged {escape(item.artifact)}: {item.row_count} rows ({span})")

    report(as_json, result.model_dump(mode="json"), human)


@evidence.command("snapshot")
@case_option()
@dsn_option
@click.option("--table", "tables", multiple=True, help="schema.table to snapshot (repeat).")
@click.option("--schema", help="Snapshot every table of this schema.")
@jobs_option
@dry_run_option
@json_option
@lean
def snapshot(case_dir: str, dry_run: bool, as_json: bool, **values: Any) -> None:
    """Read tables at ONE point in time (exported snapshot) to Parquet with their DDL."""
    from breach.procedure import evidence as steps
    from core.errors import StepFailed

    if dry_run:
        plan = invoke(steps.snapshot_plan, steps.SnapshotSettings, case=case_dir, **values)
        report(as_json, plan.model_dump(mode="json"), lambda out: _print_plan(out, plan.tables))
        return
    with row_progress("snapshot rows", not as_json) as progress:
        run = functools.partial(steps.snapshot, progress=progress)
        result = invoke(run, steps.SnapshotSettings, case=case_dir, **values)
    warn(result.warnings, as_json)
    data = result.model_dump(mode="json")
    report(as_json, data, lambda out: _print_snapshot(out, data))
    if result.problem:
        raise StepFailed(result.problem)


def _print_plan(out: Console, tables: list[Any]) -> None:
    out.print("dry run: would read, under ACCESS SHARE locks only:")
    for item in tables:
        rows = item.estimated_rows
        estimate = f"~{rows} rows" if rows is not None else "rows unknown (never analyzed)"
        out.print(f"  {item.table}: {estimate}, {item.total_bytes / 1e6:.1f} MB")


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
@lean
def scope(case_dir: str, as_json: bool, **values: Any) -> None:
    """Who and what the indicators touched, from the exported audit Parquet; affected users."""
    from breach.procedure import evidence as steps

    found = invoke(steps.scope, steps.ScopeSettings, case=case_dir, **values)
    warn(found.warnings, as_json)
    data = found.model_dump(mode="json")

    def human(out: Console) -> None:  # names come from the breached systems: escaped
        cloud = found.cloud or {}
        lines = [
            f"scope {data['since']} .. {data['until']}: {found.events} matching events",
            f"  principals: {some(found.principals)}",
            f"  source IPs: {some(found.source_ips)}",
            f"  actions: {found.actions or '-'}",
            f"  tables: {found.tables or '-'}",
            f"  records touched: {found.records_touched}",
            f"  affected users: {found.affected_users} -> {found.affected_users_artifact}",
        ]
        if cloud:  # CloudTrail and flow logs: the whole of it is in --json
            seen, calls = f"{cloud['first_seen']} .. {cloud['last_seen']}", cloud["api_calls"]
            lines.append(f"  cloud: {cloud['events']} events ({seen}), {cloud['denied']} denied")
            lines.append(f"  cloud API calls: {some(list(calls))}")
        for line in lines:
            out.print(escape(line))

    report(as_json, data, human)
