"""`breach evidence cloudtrail`: a thin shell over breach.procedure.cloudtrail (imported when the
command runs, so --help loads neither boto3 nor pyarrow)."""

from __future__ import annotations

import functools
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from breach.commands import invoke
from breach.options import PATH, case_option, json_option, options
from breach.output import report, row_progress, warn
from breach.process import lean

# --region here names the regions to collect (repeat), so the AWS options are declared without
# breach.options.aws_options' single --region; the first region is also the session's.
CLOUDTRAIL_OPTIONS = options(
    (("--since",), {"required": True, "help": "Window start, inclusive (RFC 3339)."}),
    (("--until",), {"required": True, "help": "Window end, exclusive (RFC 3339)."}),
    (("--bucket",), {"help": "The trail's S3 delivery: s3://BUCKET[/PREFIX]."}),
    (("--source",), {"type": PATH, "help": "A local copy of the delivery layout (AWSLogs/...)."}),
    (("--lookup",), {"is_flag": True, "help": "LookupEvents instead (90 days, management only)."}),
    (("--account", "accounts"), {"multiple": True, "help": "Only this account id (repeat)."}),
    (("--region", "regions"), {"multiple": True, "envvar": "BREACH_AWS_REGIONS",
                               "help": "Only this region (repeat); the first is the session's."}),
    (("--validate-digests",), {"is_flag": True,
                               "help": "Check objects against CloudTrail's signed digests."}),
    (("--jobs", "-j"), {"type": click.IntRange(1, 32), "default": 2, "show_default": True,
                        "help": "Objects read at once."}),
    (("--name", "artifact"), {"help": "Stage as this name (default cloud/cloudtrail/trail)."}),
    (("--profile",), {"envvar": "AWS_PROFILE", "help": "AWS profile. [AWS_PROFILE]"}),
    (("--role-arn",), {"envvar": "BREACH_ROLE_ARN", "help": "Assume this role first."}),
    (("--endpoint-url",), {"envvar": ["BREACH_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"],
                           "help": "AWS endpoint (moto, LocalStack). [AWS_ENDPOINT_URL]"}),
)  # fmt: skip


@click.command("cloudtrail")
@case_option()
@CLOUDTRAIL_OPTIONS
@json_option
@lean
def cloudtrail(case_dir: str, as_json: bool, **values: Any) -> None:
    """Preserve CloudTrail log objects byte for byte, with a day-partitioned Parquet view."""
    from breach.procedure import cloudtrail as step
    from core.errors import StepFailed

    with row_progress("cloudtrail events", not as_json) as progress:
        run = functools.partial(step.cloudtrail, progress=progress)
        result = invoke(run, step.CloudTrailStepSettings, case=case_dir, **values)
    warn(result.warnings, as_json)
    report(as_json, result.model_dump(mode="json"), lambda out: _human(out, result))
    if result.problem:
        raise StepFailed(result.problem)


def _human(out: Console, result: Any) -> None:
    span = f"{result.oldest_event} .. {result.newest_event}" if result.rows else "no event"
    out.print(
        f"staged {_show(result.artifact)}: {result.rows} events from {result.objects} objects"
        f" ({span})"
    )
    if result.digests is not None:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(result.digests.items())) or "none"
        out.print(f"  digests: {counts}")
    for item in result.not_covered:
        out.print(f"  [red]NOT COVERED[/red] {_show(item.target)}: {_show(item.reason)}")


def _show(text: str) -> str:
    """Names read from the account (S3 keys) for a terminal: markup and control bytes escaped."""
    return escape(
        "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    )
