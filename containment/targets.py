"""Which targets an action takes: `--target` values, plus a targets file.

A targets file is text (one target a line; blank lines and `#` comments skipped) or Parquet,
such as scope's `scope/affected-users.parquet` (column `user_id`) or `scope/actors.parquet`
(column `actor`): `column` names the column to read; without it, a one-column file's column, or
the first of TARGET_COLUMNS the file has. Targets from Parquet are listed in natural order
(numeric ids numerically); the others in the order given. Duplicates are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.errors import BadInput
from core.order import natural_sorted

PARQUET_MAGIC = b"PAR1"
TARGET_COLUMNS = ("user_id", "actor", "target", "name", "id")
NO_TARGETS_HINT = "pass --target NAME (repeatable) or --targets-file F"


def read_targets(
    given: Iterable[str], targets_file: Path | None = None, column: str | None = None
) -> list[str]:
    """`--target` values plus a file's targets, deduplicated; none at all is bad input."""
    names = [t.strip() for t in given if t.strip()]
    if targets_file is not None:
        names += file_targets(targets_file, column)
    elif column is not None:
        raise BadInput("a targets column needs a Parquet targets file", field="targets_column")
    unique = list(dict.fromkeys(names))
    if not unique:
        raise BadInput("no targets given", hint=NO_TARGETS_HINT)
    return unique


def file_targets(path: Path, column: str | None = None) -> list[str]:
    """The targets a text or Parquet file lists."""
    try:
        with path.open("rb") as handle:
            parquet = handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
        if parquet:
            return parquet_targets(path, column)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"targets file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read targets file {path}: {exc}") from None
    if column is not None:
        raise BadInput(
            f"{path} is a text file: a targets column applies to Parquet", field="targets_column"
        )
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def parquet_targets(path: Path, column: str | None = None) -> list[str]:
    """The non-empty values of one column of a Parquet file, in natural order."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            names = parquet.schema_arrow.names
            chosen = _column(path, names, column)
            values = parquet.read(columns=[chosen]).column(chosen)
    except (OSError, pa.ArrowException) as exc:
        raise BadInput(f"cannot read targets file {path}: {exc}") from None
    if pa.types.is_floating(values.type):
        whole = pc.all(pc.equal(values, pc.floor(values))).as_py() is not False
        if whole:  # ids stored as floats read as "42", not "42.0"
            values = pc.cast(values, pa.int64())
    try:
        text = pc.cast(values, pa.string())
    except pa.ArrowException:
        raise BadInput(f"{path}: column {chosen} does not hold ids") from None
    found = {str(v).strip() for v in text.to_pylist() if v is not None and str(v).strip()}
    return natural_sorted(list(found))


def _column(path: Path, names: list[str], column: str | None) -> str:
    if column is not None:
        if column not in names:
            raise BadInput(
                f"{path} has no column {column!r}",
                hint=f"its columns: {', '.join(names)}",
                field="targets_column",
            )
        return column
    if len(names) == 1:
        return names[0]
    for name in TARGET_COLUMNS:
        if name in names:
            return name
    raise BadInput(
        f"{path} has several columns and none is a known target column",
        hint=f"name one with --targets-column (its columns: {', '.join(names)})",
    )
