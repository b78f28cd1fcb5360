"""Shared option decorators keep flags (and their BREACH_* variables) uniform across commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
PATH = click.Path(path_type=Path)
POLICY_HELP = "Policy file (TOML/JSON) merged over the default. [BREACH_POLICY]"
DSN_HELP = (
    "libpq DSN or URL of the server under investigation; PG* variables fill gaps. [BREACH_DSN]"
)

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


def options(*table: tuple[tuple[str, ...], dict[str, Any]]) -> Callable[[F], F]:
    """Declare options from a table of (flags, click.option keyword arguments), in order."""

    def apply(func: F) -> F:
        for flags, kwargs in reversed(table):
            func = click.option(*flags, **kwargs)(func)
        return func

    return apply


# Whose keys are trusted for what (manifests.trust), and the checks a user may choose not to
# make, each named for what is lost. The waivers have no BREACH_* variable on purpose: a check
# is never switched off by the environment a command happens to run in.
trust_options = options(
    (("--pubkey", "pubkeys"), dict(multiple=True, type=PATH, help="Trusted sealer public key (PEM): who may sign the statement.")),
    (("--trust",), dict(multiple=True, envvar="BREACH_TRUST", type=PATH, help="Folder of trusted sealer public keys (*.pem). [BREACH_TRUST]")),
    (("--custody-trust",), dict(multiple=True, envvar="BREACH_CUSTODY_TRUST", type=PATH, help="Trusted custodian public key (PEM), or a folder of them: who may sign custody entries; never a sealer. [BREACH_CUSTODY_TRUST]")),
    (("--no-signer-check",), dict(is_flag=True, help="Go on without a trusted sealer key: who signed is NOT checked, and the verdict says so.")),
    (("--no-custodian-check",), dict(is_flag=True, help="Accept custody entries signed by keys outside the custody trust set (their chain and signatures are still checked).")),
    (("--no-previous-check",), dict(is_flag=True, help="Accept that the previous bundle of the chain is not at hand (its link is NOT checked).")),
)  # fmt: skip


def reason_option(help: str = "Why (journaled).", **kwargs: Any) -> Callable[[F], F]:
    """--reason: required unless the command gives it a default."""
    return click.option("--reason", required="default" not in kwargs, help=help, **kwargs)
