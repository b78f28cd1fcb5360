"""The `breach` command: thin Click wrappers over library functions, one error catch in main."""

from __future__ import annotations

import os
import sys
import traceback

import click

from breach import __version__
from breach.commands import LazyGroup
from breach.output import route_library_warnings, safe, stderr
from core.errors import BAD_INPUT, STEP_FAILED, BreachError


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="breach")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks and debug detail.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="When another command is changing the case, wait up to SECONDS for it to finish "
    "(default: refuse at once, naming it). Also BREACH_WAIT.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, wait: float | None) -> None:
    """breachkit: preserve, seal, contain and communicate a data breach."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if wait is not None:  # read by every step that takes a case's lock (breach.caselock)
        os.environ["BREACH_WAIT"] = str(wait)


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 ok, 1 a check or step failed, 2 bad input; never a bare traceback."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args
    route_library_warnings()
    try:
        code = cli.main(
            args=args, prog_name="breach", standalone_mode=False, auto_envvar_prefix="BREACH"
        )
    except BreachError as exc:
        if verbose:
            traceback.print_exc()
        stderr.print(f"[red]error:[/red] {safe(exc.diagnostics())}")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click wraps Ctrl-C in Abort
            stderr.print("interrupted")
            sys.exit(130)
        stderr.print("aborted")
        sys.exit(BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(BAD_INPUT)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, details under --verbose
        if verbose:
            traceback.print_exc()
        stderr.print(
            f"[red]internal error:[/red] {safe(f'{type(exc).__name__}: {exc}')} (rerun with --verbose)"
        )
        sys.exit(STEP_FAILED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
