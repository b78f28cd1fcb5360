"""`${...}` references resolved for a run: inputs, the environment, the incident, step outputs.

A value that is one reference and nothing else takes the referenced value as it is (a list
stays a list); a reference inside longer text is replaced by its text; `$${` is a literal `${`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from breach.playbook.model import NAME, REFERENCE, Playbook
from core.errors import BadInput

INPUT_ENV = "BREACH_INPUT_"  # BREACH_INPUT_SINCE=... gives the input `since`
Lookup = Callable[[str, str], Any]


def resolve_inputs(
    playbook: Playbook,
    given: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    required: bool = True,
) -> dict[str, Any]:
    """Each input from `--set` (first), BREACH_INPUT_<NAME>, or its default; lists split on ','.
    Not `required`: an input given nowhere is left out rather than refused."""
    environ = os.environ if env is None else env
    unknown = sorted(set(given) - set(playbook.inputs))
    if unknown:
        known = ", ".join(playbook.inputs) or "none"
        raise BadInput(
            f"--set {unknown[0]}: the playbook has no such input", hint=f"its inputs: {known}"
        )
    values: dict[str, Any] = {}
    missing = []
    for name, spec in playbook.inputs.items():
        value = given.get(name, environ.get(INPUT_ENV + name.upper(), spec.default))
        if value is None:
            missing.append(name)
            continue
        values[name] = (
            [v.strip() for v in value.split(",") if v.strip()] if spec.type == "list" else value
        )
    if missing and required:
        raise BadInput(
            f"the playbook needs {', '.join(missing)}",
            hint=" ".join(f"--set {name}=..." for name in missing),
        )
    return values


def resolve(value: Any, lookup: Lookup) -> Any:
    """`value` with every reference replaced, through `lookup(namespace, name)`."""
    if isinstance(value, dict):
        return {key: resolve(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, lookup) for item in value]
    if not isinstance(value, str):
        return value
    whole = REFERENCE.fullmatch(value.strip())
    if whole:
        return lookup(*_split(whole.group(1)))
    text = REFERENCE.sub(lambda m: _text(lookup(*_split(m.group(1)))), value)
    return text.replace("$${", "${")


def _split(reference: str) -> tuple[str, str]:
    match = NAME.match(reference)
    if match is None:  # the playbook was checked: only a bug reaches this
        raise BadInput(f"${{{reference}}} is not a reference")
    return match.group(1), match.group(2)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)
