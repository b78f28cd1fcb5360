"""`breach evidence cloudwatch | s3-logs | cloud-snapshot`: thin shells over
breach.procedure.cloud (imported when a command runs, so --help loads no AWS library)."""

from __future__ import annotations

import functools
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.options import aws_options, case_option, json_option
from breach.output import report, row_progress, warn
from breach.process import lean

AWS = ("profile", "region", "role_arn", "endpoint_url")
since_option = click.option("--since", required=True, help="Window start, inclusive (RFC 3339).")
until_option = click.option("--until", required=True, help="Window end, exclusive (RFC 3339).")


def jobs_option(what: str) -> Any:
    """--jobs, bounded by the settings (so 0 is one line of bad input, not click's usage)."""
    return click.option(
        "--jobs", "-j", type=int, default=4, show_default=True, help=f"{what} [1-32]"
    )


def _aws(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values.pop(key) for key in AWS}


def _finish(result: Any, as_json: bool, human: Any) -> None:
    """Warnings, the result, and exit 1 when something asked for was not collected."""
    from core.errors import StepFailed

    warn(result.warnings, as_json)
    report(as_json, result.model_dump(mode="json"), human)
    if result.problem:
        raise StepFailed(result.problem, hint="the rest is staged; the metadata says what is not")


@click.command("cloudwatch")
@case_option()
@click.option("--log-group", "log_groups", multiple=True, required=True, help="Log group (repeat).")
@since_option
@until_option
@click.option(
    "--format", type=click.Choice(["auto", "vpc-flow", "lines"]), default="auto",
    show_default=True, help="vpc-flow: typed flow log columns; lines: timestamped lines.",
)  # fmt: skip
@click.option("--fields", help="Flow log format, '${version} ${vpc-id} ...' (default: header).")
@jobs_option("Log groups and streams fetched at once (written in order).")
@aws_options
@json_option
@lean
def cloudwatch(case_dir: str, as_json: bool, **values: Any) -> None:
    """CloudWatch log groups for a window to Parquet; VPC flow logs in typed columns."""
    from breach.procedure import cloud as steps

    aws = _aws(values)
    with row_progress("reading log events", not as_json) as progress:
        run = functools.partial(steps.cloudwatch, progress=progress)
        result = invoke(run, steps.CloudWatchStepSettings, case=case_dir, aws=aws, **values)

    def human(out: Console) -> None:
        for item in result.artifacts:
            span = f"{item.oldest_event} .. {item.newest_event}" if item.row_count else "none"
            mark = "" if item.complete else " [yellow](incomplete)[/yellow]"
            name = escape(repr(item.log_group))
            out.print(f"staged {name} ({item.format}): {item.row_count} events ({span}){mark}")
            out.print(f"  -> {escape(item.artifact)}")
        for failed in result.failed:
            out.print(f"[red]FAILED[/red] {escape(repr(failed.target))}: {escape(failed.reason)}")

    _finish(result, as_json, human)


@click.command("s3-logs")
@case_option()
@click.option("--prefix", required=True, help="s3://BUCKET/PREFIX of ALB/NLB/ELB or S3 logs.")
@since_option
@until_option
@click.option(
    "--delivery-lag", type=click.IntRange(0, 1440), default=60, show_default=True,
    help="Minutes after the window a log object may still have been written.",
)  # fmt: skip
@jobs_option("Objects copied at once.")
@aws_options
@json_option
@lean
def s3_logs(case_dir: str, as_json: bool, **values: Any) -> None:
    """Copy the window's load-balancer and S3 access log objects byte for byte."""
    from breach.procedure import cloud as steps

    aws = _aws(values)
    with row_progress("copying log objects", not as_json) as progress:
        run = functools.partial(steps.s3_logs, progress=progress)
        result = invoke(run, steps.S3LogsStepSettings, case=case_dir, aws=aws, **values)

    def human(out: Console) -> None:
        total = sum(c.size for c in result.copied)
        out.print(f"copied {len(result.copied)} log objects ({total} bytes) of {result.prefix}")
        for reason, count in sorted(result.skipped.items()):
            out.print(f"  skipped {count}: {escape(reason)}")
        for failed in result.failed:
            out.print(f"  [red]FAILED[/red] {escape(repr(failed.target))}: {escape(failed.reason)}")
        out.print(f"  index: {escape(result.index)}")

    _finish(result, as_json, human)


@click.command("cloud-snapshot")
@case_option()
@click.option("--rds-instance", "rds_instances", multiple=True, help="RDS instance id (repeat).")
@click.option("--rds-cluster", "rds_clusters", multiple=True, help="RDS cluster id (repeat).")
@click.option("--ebs-volume", "ebs_volumes", multiple=True, help="EBS volume id (repeat).")
@click.option("--instance", "instances", multiple=True, help="EC2 instance: all its volumes.")
@click.option("--share-with", multiple=True, help="Share with this AWS account id (repeat).")
@click.option("--copy-to-region", "copy_to", multiple=True, help="Copy to this region (repeat).")
@click.option("--kms-key", help="Encrypt the copies with this KMS key (alias/NAME, id or ARN).")
@click.option(
    "--wait-minutes", type=click.FloatRange(0), default=60, show_default=True,
    help="How long to wait for the snapshots to complete.",
)  # fmt: skip
@aws_options
@json_option
@lean
def cloud_snapshot(case_dir: str, as_json: bool, **values: Any) -> None:
    """Snapshot RDS and EBS resources, tagged with the incident; share or copy them."""
    from breach.procedure import cloud as steps

    aws = _aws(values)
    with row_progress("snapshots complete", not as_json) as progress:
        run = functools.partial(steps.cloud_snapshot, progress=progress)
        result = invoke(run, steps.CloudSnapshotStepSettings, case=case_dir, aws=aws, **values)

    def human(out: Console) -> None:
        for snap in result.snapshots:
            shared = f", shared with {', '.join(snap.shared_with)}" if snap.shared_with else ""
            copies = "".join(f", copy {c.snapshot_id} in {c.region}" for c in snap.copies)
            out.print(
                f"{escape(snap.snapshot_id)} of {escape(snap.source)}: {snap.state}{shared}"
                f"{escape(copies)}"
            )
        for failed in result.failed:
            out.print(f"[red]FAILED[/red] {escape(failed.target)}: {escape(failed.reason)}")
        out.print(f"record: {escape(result.record)}")
        for earlier in result.reconciled:
            found = f"{len(earlier.snapshots)} snapshot(s) of unfinished run {earlier.run}"
            out.print(f"reconciled {found}: {escape(earlier.record)}")

    _finish(result, as_json, human)
