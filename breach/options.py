"""Shared option decorators keep flags (and their BREACH_* variables) uniform across commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# The signing key passphrase, for scripts (breach.procedure.bundle reads the same variable).
PASSPHRASE_ENV = "BREACH_KEY_PASSPHRASE"


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the result as JSON for machines."
    )(func)


def case_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--case",
        "case_dir",
        envvar="BREACH_CASE",
        required=required,
        help="Case folder, or an incident id under $BREACH_CASES_DIR (./cases). [BREACH_CASE]",
    )


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Plan only: read-only calls, print what would change."
    )(func)


def aws_options(func: F) -> F:
    """The AWS settings users know: credential chain, profile, region, role, endpoint."""
    for decorator in reversed(
        [
            click.option("--profile", envvar="AWS_PROFILE", help="AWS profile. [AWS_PROFILE]"),
            click.option(
                "--region",
                envvar=["BREACH_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
                help="AWS region. [AWS_REGION]",
            ),
            click.option(
                "--role-arn",
                envvar="BREACH_ROLE_ARN",
                help="Assume this incident-response role first. [BREACH_ROLE_ARN]",
            ),
            click.option(
                "--endpoint-url",
                envvar=["BREACH_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"],
                help="AWS endpoint (moto, LocalStack). [AWS_ENDPOINT_URL]",
            ),
        ]
    ):
        func = decorator(func)
    return func
