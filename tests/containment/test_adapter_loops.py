"""The per-target loops every adapter shares (AdapterBase.plan/apply/verify), with a fake."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from containment.base import AdapterBase
from containment.interface import Action, TargetResult
from containment.run import run_action
from core.aws import AwsCallFailed


def refused(code: str, hint: str | None = None) -> AwsCallFailed:
    return AwsCallFailed(f"Call: {code}: refused", hint, code, "req-1")


class Fake(AdapterBase):
    """Each target's name says what happens to it; only the hooks are written here."""

    name: ClassVar[str] = "fake"
    action: ClassVar[Action] = "block"
    noun: ClassVar[str] = "CIDR"
    target_errors: ClassVar[tuple[type[Exception], ...]] = (AwsCallFailed,)
    missing_codes: ClassVar[tuple[str, ...]] = ("NoSuchThing",)
    unreadable: ClassVar[str] = "could not read the fake back"

    def __init__(self, shared_plan_error: bool = False, shared_read_error: bool = False) -> None:
        self.shared_plan_error, self.shared_read_error = shared_plan_error, shared_read_error
        self.applied: list[str] = []

    def system(self) -> str:
        return "nowhere"

    def operator(self) -> str:
        return "tester"

    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        if self.shared_plan_error:
            raise refused("Throttling")

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        target.change = "block it"
        if target.name == "ghost":
            raise refused("NoSuchThing")
        if target.name == "denied-plan":
            raise refused("AccessDenied", "needs fake:Get")
        if target.name == "done":
            target.status = "noop"

    def apply_one(self, target: TargetResult) -> None:
        if target.name == "denied-apply":
            raise refused("AccessDenied", "needs fake:Put")
        if target.name == "refused-by-adapter":
            target.fail("the adapter said no")
            return
        if target.name == "crash":
            raise RuntimeError("socket closed")
        self.applied.append(target.name)
        target.change = "blocked"

    def prepare_verify(self, done: list[TargetResult]) -> None:
        if self.shared_read_error:
            raise refused("Throttling")

    def verify_one(self, target: TargetResult) -> None:
        if target.name == "unreadable":
            raise refused("Throttling")
        target.after = {"blocked": True}


def test_each_target_fails_or_goes_missing_alone() -> None:
    names = ["a", "ghost", "denied-plan", "done", "denied-apply", "refused-by-adapter"]
    receipt = run_action(Fake(), [*names, "unreadable", "b"], dry_run=False)
    got = {t.name: t for t in receipt.targets}
    assert {n: t.status for n, t in got.items()} == {
        "a": "ok",
        "ghost": "missing",
        "denied-plan": "failed",
        "done": "noop",
        "denied-apply": "failed",
        "refused-by-adapter": "failed",
        "unreadable": "failed",
        "b": "ok",
    }
    assert got["ghost"].change == "" and got["ghost"].reason == "Call: NoSuchThing: refused"
    assert (got["denied-plan"].reason, got["denied-plan"].hint) == (
        "Call: AccessDenied: refused",
        "needs fake:Get",
    )
    assert got["denied-apply"].hint == "needs fake:Put"
    assert got["refused-by-adapter"].reason == "the adapter said no"
    assert got["unreadable"].reason == "could not read the fake back: Call: Throttling: refused"
    assert got["a"].after == {"blocked": True} and got["a"].change == "blocked"


def test_an_error_of_another_kind_stops_the_step_and_the_driver_marks_the_rest() -> None:
    fake = Fake()
    receipt = run_action(fake, ["a", "crash", "b"], dry_run=False)
    assert fake.applied == ["a"]  # nothing after the crash was touched
    got = {t.name: t for t in receipt.targets}
    assert got["a"].status == "ok" and got["a"].after == {"blocked": True}
    for name in ("crash", "b"):
        assert got[name].status == "failed"
        assert got[name].reason == "not applied: RuntimeError: socket closed"


def test_a_failed_shared_read_fails_every_target() -> None:
    planned = run_action(Fake(shared_plan_error=True), ["a", "b"], dry_run=True)
    assert [t.reason for t in planned.targets] == ["Call: Throttling: refused"] * 2
    assert planned.status == "failed"
    done = run_action(Fake(shared_read_error=True), ["a", "b"], dry_run=False)
    assert [t.reason for t in done.targets] == [
        "could not read the fake back: Call: Throttling: refused"
    ] * 2
