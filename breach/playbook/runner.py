"""Run a playbook over the procedure layer: every step journaled before and after, resumable.

Each step is the same function the CLI calls. Before it runs, `playbook.step` is journaled as
`started`; after, as `ok` (with the step's outputs), `failed`, `skipped` or `blocked`. Run again
(after a failure, a crash, a kill -9), the runner takes the journal as the truth: a step whose
last record is `ok` is not run again; a step found `started` is done if its own commit record
follows (the export, snapshot, receipt or seal it journals itself), else run again, and each
step reconciles what an interrupted run of it did (issue-10 steps: intent first, read back).
A failed step blocks the steps that need it; the others go on. The case is locked for the run.
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from breach.case import Case, is_case_dir
from breach.playbook.model import Playbook, Step
from breach.playbook.preflight import preflight
from breach.playbook.variables import resolve
from core import faults
from core.errors import BadInput, BreachError
from core.fsio import write_json
from core.timeutil import rfc3339, utcnow

STEP = "playbook.step"
DRY_RUNS = "dry-runs"
FALSE = ("", "false", "0", "no", "off")
FINISHED = ("done", "already done", "reconciled", "skipped")
# The record each kind journals itself when its work is committed.
COMMIT_RECORD = {
    "incident.open": "incident.open",
    "incident.classify": "incident.classify",
    "scope": "scope.compute",
    "seal": "evidence.seal",
    "bundle.push": "locker.push",
    "incident.close": "case.update",  # closing is the status change, journaled last
}
State = Literal["done", "already done", "reconciled", "failed", "blocked", "skipped", "planned"]


class RunProgress(Protocol):
    """What a run shows while it goes: each step's start, its rows or bytes, its end."""

    def start(self, step: Step, n: int, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...

    def expect(self, total: int) -> None:
        """The step's total (bytes to seal, rows an export's planner estimates), when known."""

    def end(self, report: StepReport, n: int, total: int) -> None: ...


class StepReport(BaseModel):
    id: str
    kind: str
    state: State
    seconds: float = 0.0
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    note: str | None = None

    @property
    def failed(self) -> bool:
        return self.state in ("failed", "blocked")


class RunReport(BaseModel):
    playbook: str
    path: Path
    case: Path
    dry_run: bool
    started_at: str
    steps: list[StepReport]

    @property
    def failed(self) -> list[StepReport]:
        return [s for s in self.steps if s.failed]


class Runner:
    def __init__(
        self,
        playbook: Playbook,
        case_dir: Path,
        inputs: dict[str, Any],
        *,
        progress: RunProgress | None = None,
    ) -> None:
        self.playbook = playbook
        self.case_dir = case_dir
        self.inputs = inputs
        self.progress = progress
        self.case: Case | None = None
        self.outputs: dict[str, dict[str, Any]] = {}
        self.states: dict[str, State] = {}
        self.interrupted: set[str] = set()

    # -- the run ---------------------------------------------------------------------------
    def run(self, steps: list[Step], *, rerun: set[str] | None = None) -> RunReport:
        """Run `steps` (in run order); `rerun` are run even if the journal says done."""
        started = rfc3339(utcnow())
        self._open_case()
        self._read_journal()
        self._adopt_open_case()
        reports = []
        for n, step in enumerate(steps, 1):
            if self.progress:
                self.progress.start(step, n, len(steps))
            report = self._step(step, force=step.id in (rerun or set()))
            self.states[step.id] = report.state
            reports.append(report)
            if self.progress:
                self.progress.end(report, n, len(steps))
        return self._report(started, reports, dry_run=False)

    def plan(self, steps: list[Step]) -> RunReport:
        """A dry run: every step's settings resolved and checked, and what it would act on
        reached with read-only calls (breach.playbook.preflight); nothing run, nothing
        journaled; the plan is kept in the case's dry-runs/ folder (when the case exists),
        apart from its timeline."""
        started = rfc3339(utcnow())
        if is_case_dir(self.case_dir):
            self.case = Case.load(self.case_dir)
            self._read_journal()
        reports = []
        for n, step in enumerate(steps, 1):
            report = self._plan_step(step)
            reports.append(report)
            if self.progress:
                self.progress.end(report, n, len(steps))
        result = self._report(started, reports, dry_run=True)
        if self.case is not None:
            name = f"{started.replace(':', '')}-{self.playbook.name}.json"
            write_json(self.case_dir / DRY_RUNS / name, result.model_dump(mode="json"))
        return result

    def _step(self, step: Step, *, force: bool) -> StepReport:
        blocked = [n for n in step.needs if self.states.get(n) not in FINISHED]
        if blocked:
            return self._record(
                step, "blocked", error=f"needs {', '.join(blocked)}, which did not finish"
            )
        if not force and self.states.get(step.id) == "done":
            return StepReport(
                id=step.id,
                kind=step.kind,
                state="already done",
                outputs=self.outputs.get(step.id, {}),
            )
        if not force and step.id in self.interrupted and self._committed(step):
            return self._record(step, "reconciled", note="an interrupted run had committed it")
        begun = time.monotonic()
        try:
            if not self._wanted(step):
                return self._record(step, "skipped", note="its `when:` is empty or false")
            settings = self._settings(step)
            self._journal(step, "started")
            faults.point("run.step-started")
            result = _call(step, settings, self.progress)
            faults.point("run.step-returned")
        except BreachError as exc:
            return self._record(
                step, "failed", error=exc.diagnostics(), seconds=time.monotonic() - begun
            )
        self._open_case()  # the step may have opened or changed the case
        problems = _problems(result)
        outputs = _outputs(step.kind, result)
        return self._record(
            step,
            "failed" if problems else "done",
            outputs=outputs,
            error="; ".join(problems) or None,
            seconds=time.monotonic() - begun,
        )

    def _plan_step(self, step: Step) -> StepReport:
        if self.states.get(step.id) == "done":
            return StepReport(id=step.id, kind=step.kind, state="already done")
        begun = time.monotonic()
        try:
            if not self._wanted(step):
                return StepReport(
                    id=step.id,
                    kind=step.kind,
                    state="skipped",
                    note="its `when:` is empty or false",
                )
            settings = self._settings(step, planning=True)
            found = preflight(step.kind, settings)
        except BreachError as exc:
            return StepReport(
                id=step.id, kind=step.kind, state="failed", error=exc.diagnostics(),
                seconds=time.monotonic() - begun,
            )  # fmt: skip
        shown = settings.model_dump(mode="json", exclude_defaults=True)
        return StepReport(
            id=step.id, kind=step.kind, state="planned", note=found,
            outputs={"settings": shown}, seconds=time.monotonic() - begun,
        )  # fmt: skip

    # -- settings and references ------------------------------------------------------------
    def _settings(self, step: Step, *, planning: bool = False) -> BaseModel:
        kind = step.step_kind
        lookup = self._placeholder if planning else self._lookup
        values = resolve(step.settings, lookup)
        values.update(kind.fixed)
        if "case" in kind.injected:
            values["case"] = str(self.case_dir)
        if "case_dir" in kind.injected:
            values["case_dir"] = self.case_dir
        try:
            return kind.settings_model().model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise BadInput(f"step {step.id}: with.{where}: {message}") from None

    def _wanted(self, step: Step) -> bool:
        if step.when is None:
            return True

        def lenient(namespace: str, name: str) -> Any:  # an unset variable is a "no" here
            return os.environ.get(name, "") if namespace == "env" else self._lookup(namespace, name)

        return str(resolve(step.when, lenient)).strip().lower() not in FALSE

    def _lookup(self, namespace: str, name: str) -> Any:
        if namespace == "inputs":
            return self.inputs[name]
        if namespace == "env":
            if name not in os.environ:
                raise BadInput(f"the environment variable {name} is not set")
            return os.environ[name]
        if namespace == "incident":
            return self._incident(name)
        step_id, _, output = name.partition(".")
        return self._output(step_id, output)

    def _placeholder(self, namespace: str, name: str) -> Any:
        """In a plan, what is not known until a step runs stands as `<steps.x.y>`."""
        if namespace == "steps" and self.states.get(name.partition(".")[0]) != "done":
            return (
                [f"<steps.{name}>"]
                if name.endswith(("_users", "actors", "_ips"))
                else f"<steps.{name}>"
            )
        if namespace == "incident" and self.case is None:
            return f"<incident.{name}>"
        return self._lookup(namespace, name)

    def _incident(self, name: str) -> Any:
        if self.case is None:
            raise BadInput(f"${{incident.{name}}}: the case is not open yet")
        if name == "case":
            return str(self.case.root)
        value = getattr(self.case.record, name)
        return rfc3339(value) if hasattr(value, "tzinfo") else value

    def _output(self, step_id: str, output: str) -> Any:
        kind = self.playbook.step(step_id).kind
        if kind == "scope" and self.case is not None:
            return _scope_output(self.case, output)
        if kind == "seal" and self.case is not None and self.case.record.last_bundle:
            bundle_id = self.case.record.last_bundle["id"]
            return str(self.case.bundles / bundle_id) if output == "bundle" else bundle_id
        try:
            return self.outputs[step_id][output]
        except KeyError:
            raise BadInput(
                f"${{steps.{step_id}.{output}}} is not known (step {step_id} has not run here)",
                hint=f"run it again with --from {step_id}",
            ) from None

    # -- the case and its journal -----------------------------------------------------------
    def _open_case(self) -> None:
        if self.case is None and is_case_dir(self.case_dir):
            # The writer's load: the case lock for the whole run, and what an interrupted
            # command left finished or removed first (breach.recovery).
            try:
                self.case = Case.load(self.case_dir, write=True)
            except BadInput:
                if (self.case_dir / "case.json").exists():
                    raise  # else an open killed before its entry: recovery left no case
        elif self.case is not None:
            self.case = Case.load(self.case_dir, write=True)  # a step changed it: read it again

    def _read_journal(self) -> None:
        """Each step's last state, outputs and whether it was left `started`, from the journal."""
        if self.case is None:
            return
        for entry in self.case.timeline():
            details = entry.get("details") or {}
            if entry.get("what") != STEP or details.get("playbook") != self.playbook.name:
                continue
            step_id, result = str(details.get("step")), entry.get("result")
            self.interrupted.discard(step_id)
            if result == "started":
                self.interrupted.add(step_id)
            elif result in ("ok", "reconciled"):
                self.states[step_id] = "done"
                self.outputs[step_id] = details.get("outputs") or {}
            elif step_id in self.states:
                del self.states[step_id]

    def _adopt_open_case(self) -> None:
        """A case opened by an interrupted run (killed before its `ok`) is the open step done."""
        if self.case is None:
            return
        for step in self.playbook.steps:
            if step.kind == "incident.open" and self.states.get(step.id) != "done":
                self._record(step, "reconciled", note=f"the case {self.case.id} was open")
                self.states[step.id] = "done"

    def _committed(self, step: Step) -> bool:
        """Whether the step's own commit record follows its last `started` record."""
        assert self.case is not None
        what = COMMIT_RECORD.get(step.kind, step.kind)
        after_start = False
        for entry in self.case.timeline():
            details = entry.get("details") or {}
            if entry.get("what") == STEP and details.get("step") == step.id:
                after_start = entry.get("result") == "started"
            elif after_start and entry.get("what") == what and entry.get("result") == "ok":
                return True
        return False

    def _record(self, step: Step, state: State, **fields: Any) -> StepReport:
        report = StepReport(id=step.id, kind=step.kind, state=state, **fields)
        result = {"done": "ok", "already done": "ok"}.get(state, state)
        self._journal(
            step,
            result,
            outputs=report.outputs,
            error=report.error,
            seconds=round(report.seconds, 3),
        )
        if report.outputs:
            self.outputs[step.id] = report.outputs
        return report

    def _journal(self, step: Step, result: str, **details: Any) -> None:
        if self.case is None:
            return
        base = {"playbook": self.playbook.name, "step": step.id, "kind": step.kind}
        kept = {k: v for k, v in details.items() if v not in (None, {}, 0.0)}
        self.case.journal(STEP, result=result, details={**base, **kept})

    def _report(self, started: str, steps: list[StepReport], *, dry_run: bool) -> RunReport:
        assert self.playbook.path is not None
        return RunReport(
            playbook=self.playbook.name,
            path=self.playbook.path,
            case=self.case_dir,
            dry_run=dry_run,
            started_at=started,
            steps=steps,
        )


# -- calling a step and reading its result -----------------------------------------------------
def _call(step: Step, settings: BaseModel, progress: RunProgress | None) -> BaseModel:
    """Call the step; where it reports progress (rows, bytes, and what it expects in all: see
    core.progress), pass them on to the run's progress."""
    module, name = step.step_kind.call.split(":")
    function = getattr(importlib.import_module(module), name)
    if progress is not None and "progress" in inspect.signature(function).parameters:
        result = function(settings, progress=_Relay(progress))
    else:
        result = function(settings)
    assert isinstance(result, BaseModel)
    return result


class _Relay:
    """A step's progress callback (its last argument is the amount just done; `expect(total)`
    first where the step knows its total) feeding the run's progress."""

    def __init__(self, progress: RunProgress) -> None:
        self.progress = progress

    def __call__(self, *args: Any) -> None:
        self.progress.advance(int(args[-1]))

    def expect(self, total: int) -> None:
        self.progress.expect(total)


def _problems(result: BaseModel) -> list[str]:
    """What a step that returned did not do: failed targets, items not collected or covered."""
    problems = []
    failed = getattr(result, "failed", None)
    if failed:
        names = ", ".join(
            str(getattr(f, "name", None) or getattr(f, "target", f)) for f in failed[:5]
        )
        problems.append(f"{len(failed)} failed: {names}")
    not_covered = getattr(result, "not_covered", None)
    if not_covered:
        problems.append(f"{len(not_covered)} not covered")
    return problems


def _outputs(kind: str, result: BaseModel) -> dict[str, Any]:
    """The small outputs kept in the journal (scope and seal outputs are read from the case)."""
    data = result.model_dump(mode="json")
    if kind == "incident.open":
        return {"id": data["id"], "severity": data["severity"]}
    if kind == "incident.classify":
        return {"severity": data["severity"]}
    if kind.startswith("contain."):
        targets = data["receipt"]["targets"]
        return {
            "done": [t["name"] for t in targets if t["status"] in ("ok", "noop")],
            "failed": [t["name"] for t in targets if t["status"] in ("failed", "missing")],
        }
    if kind == "evidence.export-audit":
        return {"artifacts": [a["artifact"] for a in data["artifacts"]]}
    if kind == "evidence.snapshot":
        return {"artifacts": [a["name"] for a in data["exported"]]}
    if kind == "evidence.cloudtrail":
        return {"artifacts": [data["artifact"]]}
    if kind == "bundle.push":
        return {"uri": f"{data['store'].rstrip('/')}/{data['bundle_id']}"}
    return {}


def _scope_output(case: Case, output: str) -> Any:
    scope = case.record.scope
    if scope is None:
        raise BadInput("the case has no scope yet", hint="run the scope step first")
    if output == "affected_users":
        return affected_users(case)
    if output == "actors":
        return list(scope.principals)
    if output == "source_ips":
        return list(scope.source_ips)
    return scope.records_touched


def affected_users(case: Case) -> list[str]:
    """The user ids scope staged, in their natural order (numbers as numbers)."""
    import pyarrow.parquet as pq

    artifact = case.record.scope.affected_users_artifact if case.record.scope else None
    if not artifact:
        return []
    ids = pq.read_table(case.staging / artifact, columns=["user_id"]).column(0).to_pylist()
    users = [str(i) for i in ids if i is not None]
    return sorted(users, key=lambda u: (0, int(u), "") if u.isdigit() else (1, 0, u))
