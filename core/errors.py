"""The one error root. Every package raises these; the CLI catches them once."""

from __future__ import annotations

BAD_INPUT = 2
STEP_FAILED = 1


class BreachError(Exception):
    """A failure the user can act on: one line of message, optionally a hint."""

    exit_code = BAD_INPUT

    def __init__(self, message: str, hint: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The settings field at fault, when there is one: the CLI names its flag in the hint.
        self.field = field

    def diagnostics(self) -> str:
        """The single line the CLI prints."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class BadInput(BreachError):
    """The user gave something unusable: a path, a key, a DSN, a file. Exit 2."""


class StepFailed(BreachError):
    """A step ran and failed, or a check did not pass. Exit 1."""

    exit_code = STEP_FAILED
