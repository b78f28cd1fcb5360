"""The affected-users list, streamed: Parquet (the scope artifact), CSV or plain text.

Addresses are yielded once each, in file order, so a position in the list is stable across runs
and a bulk send can resume at it. The list's fingerprint (sha256 over the addresses) tells a
resumed run whether it is still the same list.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path

from core.errors import BadInput


class RecipientList:
    def __init__(self, path: Path, column: str = "email") -> None:
        self.path = path
        self.column = column
        if not path.is_file():
            raise BadInput(f"recipients file {path} not found")

    def _raw(self) -> Iterator[str]:
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".parquet":
                yield from self._parquet()
            elif suffix == ".csv":
                yield from self._csv()
            else:
                yield from self._lines()
        except (UnicodeDecodeError, csv.Error) as exc:
            raise BadInput(f"recipients file {self.path}: not UTF-8 text or CSV: {exc}") from None

    def _parquet(self) -> Iterator[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            source = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise BadInput(f"recipients file {self.path}: not a Parquet file: {exc}") from None
        if self.column not in source.schema_arrow.names:
            raise BadInput(
                f"recipients file {self.path}: no column {self.column!r}",
                hint=f"columns: {', '.join(source.schema_arrow.names)}",
            )
        for batch in source.iter_batches(columns=[self.column], batch_size=10_000):
            for value in batch.column(0).to_pylist():
                if value:
                    yield str(value)

    def _csv(self) -> Iterator[str]:
        with self.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if self.column not in (reader.fieldnames or []):
                raise BadInput(f"recipients file {self.path}: no column {self.column!r}")
            for row in reader:
                if row.get(self.column):
                    yield row[self.column]

    def _lines(self) -> Iterator[str]:
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                text = line.strip()
                if text and not text.startswith("#"):
                    yield text

    def __iter__(self) -> Iterator[str]:
        """Each address once (case-insensitively), in file order."""
        seen: set[bytes] = set()
        for address in self._raw():
            address = address.strip()
            key = hashlib.blake2b(address.lower().encode(), digest_size=16).digest()
            if key not in seen:
                seen.add(key)
                yield address

    def fingerprint(self) -> tuple[str, int]:
        digest, count = hashlib.sha256(), 0
        for address in self:
            digest.update(address.encode("utf-8") + b"\n")
            count += 1
        return digest.hexdigest(), count
