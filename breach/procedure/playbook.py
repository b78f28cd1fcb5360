"""Playbooks as procedure steps: list the ones in a folder, show one, validate some, and the
least privilege one needs (`playbook_policy`: its IAM policy and PostgreSQL grants).

    checked = validate_playbooks(ValidateSettings(playbooks=[Path("playbooks/data-breach.yaml")]))

A playbook is checked whole (YAML, shape, every step's settings, variables, `needs`) before
anything runs; the first problem is one BadInput line with the file, line and column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from breach.playbook.model import Playbook, load
from breach.playbook.policy import StepPolicy, policy_for
from core.errors import BadInput

PLAYBOOKS_DIR = "BREACH_PLAYBOOKS_DIR"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlaybookStep(BaseModel):
    id: str
    kind: str
    summary: str = Field(description="what the kind does")
    description: str
    needs: list[str]
    phase: str


class PlaybookSummary(BaseModel):
    path: Path
    name: str
    description: str
    incident: str
    steps: int


class PlaybookView(PlaybookSummary):
    inputs: dict[str, dict[str, str | None]]
    order: list[PlaybookStep] = Field(description="the steps in the order a run takes them")


def playbooks_dir() -> Path:
    return Path(os.environ.get(PLAYBOOKS_DIR, "playbooks"))


# -- list ------------------------------------------------------------------------------------
class ListSettings(_Settings):
    folder: Path | None = Field(
        default=None, description="default: $BREACH_PLAYBOOKS_DIR or ./playbooks"
    )


class PlaybookList(BaseModel):
    folder: Path
    playbooks: list[PlaybookSummary]
    invalid: dict[str, str] = Field(description="file -> the first problem found in it")


def list_playbooks(settings: ListSettings) -> PlaybookList:
    """Every playbook (*.yaml, *.yml) in the folder, checked; the broken ones with their problem."""
    folder = settings.folder or playbooks_dir()
    if not folder.is_dir():
        raise BadInput(f"no playbook folder at {folder}", hint=f"pass --dir or set {PLAYBOOKS_DIR}")
    found, invalid = [], {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            found.append(_summary(load(path)))
        except BadInput as exc:
            invalid[str(path)] = exc.diagnostics()
    return PlaybookList(folder=folder, playbooks=found, invalid=invalid)


# -- show ------------------------------------------------------------------------------------
class ShowSettings(_Settings):
    playbook: Path


def show_playbook(settings: ShowSettings) -> PlaybookView:
    """The playbook's inputs and its steps in run order."""
    playbook = load(settings.playbook)
    order = [
        PlaybookStep(
            id=step.id,
            kind=step.kind,
            summary=step.step_kind.summary,
            description=step.description,
            needs=step.needs,
            phase=step.step_kind.phase,
        )
        for step in playbook.ordered()
    ]
    inputs = {
        name: {"description": spec.description, "default": spec.default, "type": spec.type}
        for name, spec in playbook.inputs.items()
    }
    return PlaybookView(**_summary(playbook).model_dump(), inputs=inputs, order=order)


# -- validate --------------------------------------------------------------------------------
class ValidateSettings(_Settings):
    playbooks: list[Path] = Field(min_length=1)


class Validated(BaseModel):
    playbooks: list[PlaybookSummary]


def validate_playbooks(settings: ValidateSettings) -> Validated:
    """Check each playbook whole; the first problem is raised (one line, file:line:column)."""
    return Validated(playbooks=[_summary(load(path)) for path in settings.playbooks])


def _summary(playbook: Playbook) -> PlaybookSummary:
    assert playbook.path is not None
    return PlaybookSummary(
        path=playbook.path,
        name=playbook.name,
        description=playbook.description,
        incident=playbook.incident,
        steps=len(playbook.steps),
    )


# -- policy ----------------------------------------------------------------------------------
class PolicySettings(_Settings):
    playbook: Path
    inputs: dict[str, str] = Field(
        default_factory=dict, description="--set NAME=VALUE: names the resources to scope to"
    )
    role: str = Field(default="breach_responder", description="the PostgreSQL role granted to")


class PolicyReport(BaseModel):
    playbook: str
    iam_policy: dict[str, Any] = Field(description="the IAM policy document (2012-10-17)")
    pg_grants: list[str] = Field(description="SQL giving the role what the steps use")
    notes: list[str] = Field(description="where a resource is '*', and what would scope it")
    steps: list[StepPolicy]


def playbook_policy(settings: PolicySettings) -> PolicyReport:
    """The least AWS permissions and PostgreSQL grants the playbook's steps need."""
    found = policy_for(load(settings.playbook), settings.inputs)
    return PolicyReport(
        playbook=found.playbook,
        iam_policy=found.iam_policy(),
        pg_grants=found.pg_grants(settings.role),
        notes=found.notes(),
        steps=found.steps,
    )
