"""The shipped playbooks cut down to some of their steps, run as `breach run` runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from breach.playbook.model import load
from breach.playbook.policy import policy_for

ROOT = Path(__file__).parents[2]
PLAYBOOKS = {name: ROOT / "playbooks" / f"{name}.yaml" for name in ("data-breach", "credential-compromise")}  # fmt: skip
KEEP = ("incident.open", "seal")  # what the AWS steps need around them: a case, a bundle


def reduced(name: str, tmp_path: Path, keep: list[str] | None = None) -> tuple[Path, list[str]]:
    """The shipped playbook with its AWS steps (or those in `keep`), their `with:` verbatim,
    what they need around them, `needs` cut down to the kept steps upstream, and only the
    inputs they use; and the ids of the AWS steps."""
    shipped = load(PLAYBOOKS[name])
    found = policy_for(shipped, {})
    aws = [s.step for s in found.steps if s.aws]
    book = yaml.safe_load(PLAYBOOKS[name].read_text())
    wanted = keep if keep is not None else aws
    kept = [s for s in book["steps"] if s["id"] in wanted or (keep is None and s["kind"] in KEEP)]
    ids = {s["id"] for s in kept}
    for step in kept:
        step["needs"] = sorted(shipped.upstream(step["id"]) & ids)
    book["steps"] = kept
    used = json.dumps(kept)
    book["inputs"] = {k: v for k, v in book["inputs"].items() if f"inputs.{k}}}" in used}
    path = tmp_path / f"{name}-aws.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path, aws


def inputs_of(book: Path, world: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in world.items() if k in load(book).inputs}


def run(book: Path, case: Path, world: dict[str, str]) -> dict[str, Any]:
    from breach.procedure.run import RunSettings, run_playbook

    report = run_playbook(RunSettings(playbook=book, case=case, values=inputs_of(book, world)))
    return {step.id: step for step in report.steps}


def said(step: Any, case: Path) -> str:
    """What the failed step said: its error, and what it recorded per target, table or object
    (receipts' reasons and hints, a snapshot's failed tables, artifacts' not-covered reasons)."""
    records = [p.read_text() for p in case.rglob("*.json")]
    return "\n".join([step.error or "", *records])
