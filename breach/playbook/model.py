"""A playbook: the steps of one kind of incident, their order, variables and targets.

`load(path)` reads and checks it whole before anything runs: the YAML, the shape (pydantic),
each step's `with:` against its procedure step's settings model, every `${...}` reference and
the `needs` graph. The first problem is raised as one line naming the file, line, column and
field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from breach.playbook import source as yaml_source
from breach.playbook.kinds import KINDS, StepKind
from breach.playbook.source import Location, Source
from core.errors import BreachError

STEP_ID = r"^[a-z][a-z0-9_-]{0,39}$"
# ${namespace.name}; `$${` writes a literal `${`.
REFERENCE = re.compile(r"(?<!\$)\$\{\s*([^}]*?)\s*\}")
NAME = re.compile(r"^(incident|env|inputs|steps)\.([A-Za-z_][A-Za-z0-9_.-]*)$")
INCIDENT_FIELDS = ("id", "severity", "title", "case", "opened_at", "aware_at")


class Input(BaseModel):
    """A value the responder gives with `--set NAME=VALUE` (required unless it has a default)."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    default: str | None = None
    type: Literal["text", "list"] = Field(
        default="text", description="list: given comma-separated, used as a list of names"
    )


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[str, Field(pattern=STEP_ID)]
    kind: str
    description: str = ""
    needs: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = Field(
        default=None,
        description="run only when this resolves to something other than '', false, 0, no, off",
    )
    before_evidence: bool = Field(
        default=False,
        description="a containment step that may run before the evidence steps are committed",
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown step kind {kind!r}; one of: {', '.join(KINDS)}")
        return kind

    @property
    def step_kind(self) -> StepKind:
        return KINDS[self.kind]


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    incident: str = Field(default="", description="the kind of incident it is for")
    inputs: dict[str, Input] = Field(default_factory=dict)
    steps: Annotated[list[Step], Field(min_length=1)]
    path: Path | None = Field(default=None, exclude=True)

    def step(self, step_id: str) -> Step:
        return next(step for step in self.steps if step.id == step_id)

    def ordered(self) -> list[Step]:
        """The steps in run order: file order, except that a step waits for what it needs."""
        done: set[str] = set()
        out: list[Step] = []
        pending = list(self.steps)
        while pending:
            ready = next(s for s in pending if set(s.needs) <= done)
            pending.remove(ready)
            done.add(ready.id)
            out.append(ready)
        return out

    def upstream(self, step_id: str) -> set[str]:
        """Every step `step_id` needs, directly or through others."""
        seen: set[str] = set()
        todo = list(self.step(step_id).needs)
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.step(current).needs)
        return seen


def load(path: Path) -> Playbook:
    """Read and check a playbook; raise BadInput (one line, with file and line) if it is wrong."""
    source = yaml_source.read(path)
    if not isinstance(source.data, dict):
        raise source.error((), "a playbook is a mapping (name, description, inputs, steps)")
    try:
        playbook = Playbook.model_validate(source.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise source.error(_yaml_location(first["loc"]), _message(first)) from None
    playbook.path = path
    check(playbook, source)
    return playbook


def check(playbook: Playbook, source: Source) -> None:
    _check_ids_and_needs(playbook, source)
    _check_cycles(playbook, source)
    for index, step in enumerate(playbook.steps):
        _check_settings(step, ("steps", index, "with"), source)
        _check_adapter(step, ("steps", index, "with"), source)
        _check_references(playbook, step.settings, step, ("steps", index, "with"), source)
        _check_references(playbook, step.when, step, ("steps", index, "when"), source)
        _check_evidence_first(playbook, step, ("steps", index), source)


def references(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    """Every `${...}` in a value (nested lists and mappings), with where it stands."""
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield location, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, (*location, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from references(item, (*location, i))


# -- the checks ------------------------------------------------------------------------------
def _check_ids_and_needs(playbook: Playbook, source: Source) -> None:
    ids: set[str] = set()
    for index, step in enumerate(playbook.steps):
        if step.id in ids:
            raise source.error(("steps", index, "id"), f"step id {step.id!r} is used twice")
        ids.add(step.id)
    for index, step in enumerate(playbook.steps):
        for n, need in enumerate(step.needs):
            if need not in ids:
                raise source.error(("steps", index, "needs", n), f"no step {need!r} to need")
            if need == step.id:
                raise source.error(("steps", index, "needs", n), "a step cannot need itself")


def _check_cycles(playbook: Playbook, source: Source) -> None:
    index = {step.id: i for i, step in enumerate(playbook.steps)}
    state: dict[str, str] = {}

    def visit(step_id: str, trail: list[str]) -> None:
        state[step_id] = "visiting"
        for need in playbook.step(step_id).needs:
            if state.get(need) == "visiting":
                cycle = " -> ".join([*trail[trail.index(need) :], need])
                raise source.error(("steps", index[need], "needs"), f"needs form a cycle: {cycle}")
            if need not in state:
                visit(need, [*trail, need])
        state[step_id] = "done"

    for step in playbook.steps:
        if step.id not in state:
            visit(step.id, [step.id])


def _check_settings(step: Step, location: Location, source: Source) -> None:
    """`with:` against the step's settings model: known names, required ones given, and every
    value without a `${...}` valid for its field (the others are checked when resolved)."""
    kind = step.step_kind
    model = kind.settings_model()
    fields = model.model_fields
    for name, value in step.settings.items():
        if name in kind.injected or name in kind.fixed:
            raise source.error((*location, name), f"set by the runner for {step.kind}, not here")
        if name not in fields:
            known = ", ".join(n for n in fields if n not in (*kind.injected, *kind.fixed))
            raise source.error(
                (*location, name), f"{step.kind} takes no {name!r}; it takes {known}"
            )
        if next(references(value, ()), None) is None:
            _check_value(model, name, value, (*location, name), source)
    for name, info in fields.items():
        given = name in step.settings or name in kind.injected or name in kind.fixed
        if info.is_required() and not given:
            raise source.error(location[:-1], f"{step.kind} needs `{name}` under `with:`")


def _check_adapter(step: Step, location: Location, source: Source) -> None:
    """A containment step's adapter exists for its action, and takes the options given."""
    action = step.step_kind.fixed.get("action")
    adapter = step.settings.get("adapter")
    if action is None or not isinstance(adapter, str) or next(references(adapter, ()), None):
        return
    from containment.registry import adapter_settings, settings_type

    try:
        settings_type(action, adapter)
    except BreachError as exc:
        raise source.error((*location, "adapter"), exc.diagnostics()) from None
    options = step.settings.get("options") or {}
    if next(references(options, ()), None) is None:
        try:
            adapter_settings(action, adapter, options)
        except BreachError as exc:
            raise source.error((*location, "options"), exc.diagnostics()) from None


def _check_value(
    model: type[BaseModel], name: str, value: Any, location: Location, source: Source
) -> None:
    info = model.model_fields[name]
    adapter: TypeAdapter[Any] = TypeAdapter(info.rebuild_annotation())
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise source.error((*location, *first["loc"]), _message(first)) from None


def _check_references(
    playbook: Playbook, value: Any, step: Step, location: Location, source: Source
) -> None:
    upstream = playbook.upstream(step.id)
    for where, text in references(value, location):
        match = NAME.match(text)
        if match is None:
            raise source.error(where, f"${{{text}}}: not incident.*, env.*, inputs.* or steps.*")
        namespace, name = match.groups()
        problem = _reference_problem(playbook, upstream, namespace, name)
        if problem:
            raise source.error(where, f"${{{text}}}: {problem}")


def _reference_problem(
    playbook: Playbook, upstream: set[str], namespace: str, name: str
) -> str | None:
    if namespace == "inputs" and name not in playbook.inputs:
        return f"no input {name!r} (declare it under `inputs:`)"
    if namespace == "incident" and name not in INCIDENT_FIELDS:
        return f"the incident has no {name!r}; it has {', '.join(INCIDENT_FIELDS)}"
    if namespace == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return "not an environment variable name"
    if namespace != "steps":
        return None
    step_id, _, output = name.partition(".")
    if not any(step.id == step_id for step in playbook.steps):
        return f"no step {step_id!r}"
    if step_id not in upstream:
        return f"this step does not need {step_id!r} (add it to `needs:`)"
    outputs = playbook.step(step_id).step_kind.outputs
    if output not in outputs:
        offered = ", ".join(outputs) if outputs else "nothing"
        return f"step {step_id!r} yields no {output!r} (it yields {offered})"
    return None


def _check_evidence_first(
    playbook: Playbook, step: Step, location: Location, source: Source
) -> None:
    """Containment changes the systems evidence steps read: it waits for all of them, unless
    the playbook says `before_evidence: true` for that step."""
    if step.step_kind.phase != "contain" or step.before_evidence:
        return
    evidence = {s.id for s in playbook.steps if s.step_kind.phase == "evidence"}
    missing = sorted(evidence - playbook.upstream(step.id))
    if missing:
        raise source.error(
            (*location, "needs"),
            f"containment would run before evidence step(s) {', '.join(missing)} are committed;"
            " add them to `needs:` (or say `before_evidence: true`)",
        )


def _yaml_location(loc: tuple[int | str, ...]) -> Location:
    """pydantic's location, with the `with` alias as it is written in the file."""
    return tuple("with" if part == "settings" else part for part in loc)


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
