"""A playbook's YAML, read with the line and column of every value, so errors can point at them.

PyYAML's composer keeps each node's position; the data is built from the same nodes, so a
position is looked up by the path of keys and indexes pydantic reports (`steps.2.with.targets`).
Duplicate keys are refused (YAML lets the last one win silently) and only the safe YAML types
are built (no Python objects: a playbook is data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import BadInput

Location = tuple[str | int, ...]
MAX_BYTES = 1 << 20  # a playbook is a page or two, not a megabyte


@dataclass
class Source:
    """The parsed document and where each of its values stands in the file."""

    path: Path
    data: Any
    positions: dict[Location, tuple[int, int]] = field(default_factory=dict)

    def where(self, location: Location) -> str:
        """`FILE:LINE:COL` of the value at `location`, or of its nearest enclosing value."""
        loc = tuple(location)
        while loc and loc not in self.positions:
            loc = loc[:-1]
        line, column = self.positions.get(loc, (1, 1))
        return f"{self.path}:{line}:{column}"

    def error(self, location: Location, message: str) -> BadInput:
        field_name = ".".join(str(part) for part in location)
        at = f" {field_name}:" if field_name else ""
        return BadInput(f"{self.where(location)}:{at} {message}")


def read(path: Path) -> Source:
    """Parse the playbook at `path`; a missing file, a YAML error or a duplicate key is one line."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the playbook: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise BadInput(f"{path}: larger than {MAX_BYTES} bytes; is this a playbook?")
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise BadInput(f"{path}:{line}:{column}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: {exc}") from None
    source = Source(path, None)
    source.data = _build(node, (), source) if node is not None else {}
    return source


_CONSTRUCTOR = yaml.SafeLoader("")
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _build(node: yaml.Node, location: Location, source: Source) -> Any:
    source.positions[location] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
        raise source.error(location, f"the tag {node.tag!r} is not allowed in a playbook")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*location, "<key>"), source)
            if not isinstance(key, str):
                raise source.error(location, f"keys are names, not {key!r}")
            if key in out:
                source.positions[(*location, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                raise source.error((*location, key), "given twice")
            out[key] = _build(value_node, (*location, key), source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*location, i), source) for i, item in enumerate(node.value)]
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise source.error(location, str(exc.problem)) from None
