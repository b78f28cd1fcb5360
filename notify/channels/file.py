"""The file/stdout channel: the notice as text, for a ticket system, a printer or review."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TextIO

from pydantic import Field

from core.errors import BreachError
from core.fsio import write_text
from notify.channels.interface import Accepted, ChannelSettings, Message, PermanentError

STDOUT = "-"


class FileSettings(ChannelSettings):
    """Where the notice's text goes: a file, or '-' for standard output."""

    type: Literal["file"] = "file"
    out: str = Field(min_length=1, description="a file to write, or '-' for stdout")


class FileChannel:
    name = "file"

    def __init__(self, target: str | Path, stream: TextIO | None = None) -> None:
        self._target = str(target)
        self._stream = stream

    @classmethod
    def from_settings(cls, settings: FileSettings) -> FileChannel:
        return cls(settings.out)

    @property
    def to_stdout(self) -> bool:
        return self._target == STDOUT

    def destination(self) -> str:
        return "stdout" if self.to_stdout else self._target

    def secrets(self) -> Iterable[str]:
        return []

    def send_once(self, message: Message) -> Accepted:
        if self.to_stdout:
            stream = self._stream or sys.stdout
            stream.write(message.text)
            stream.flush()
            return Accepted(f"stdout:{message.sha256[:16]}")
        try:
            write_text(Path(self._target), message.text)
        except (BreachError, OSError) as exc:
            message_text = exc.diagnostics() if isinstance(exc, BreachError) else str(exc)
            raise PermanentError(message_text) from None
        return Accepted(f"file:{self._target}")
