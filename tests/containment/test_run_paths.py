"""containment.run paths that once ran in no test (issue 16): an action applied whose read-back
fails is recorded as such on each target, never as done and never as not applied."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

import pytest
import redis

from containment.base import AdapterBase
from containment.interface import Action, TargetResult
from containment.run import run_action
from containment.sessions.redis import RedisSessions
from core.errors import StepFailed


class LostAfterApply(RedisSessions):
    """The real Redis adapter; the server goes away between the deletes and the read-back."""

    def apply(self, planned: list[TargetResult]) -> None:
        super().apply(planned)
        pool = self.client.connection_pool
        pool.disconnect()
        pool.connection_kwargs["port"] = 1
        pool.reset()


@pytest.mark.redis
def test_applied_but_not_read_back_is_a_failure_that_says_so(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("session:alice:1", "x")
    client.set("session:bob:1", "y")
    receipt = run_action(LostAfterApply(redis_url), ["alice", "bob"], dry_run=False)
    assert client.exists("session:alice:1", "session:bob:1") == 0  # it was applied
    assert receipt.status == "failed"
    for target in receipt.targets:
        assert target.status == "failed"
        assert (target.reason or "").startswith("applied, but could not be read back: Redis")
    assert receipt.counts == {"failed": 2}
    assert receipt.summary.endswith("2 failed (alice, bob)")


class HalfReadBack(AdapterBase):
    """A fake for the driver alone: applies all; reads back the first, then raises."""

    name: ClassVar[str] = "half"
    action: ClassVar[Action] = "block"
    noun: ClassVar[str] = "CIDR"

    def system(self) -> str:
        return "nowhere"

    def operator(self) -> str:
        return "tester"

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        return [TargetResult(name=t, status="planned") for t in targets]

    def apply(self, planned: list[TargetResult]) -> None:
        for target in planned:
            target.status = "ok"

    def verify(self, done: list[TargetResult]) -> None:
        done[0].after = {"blocked": True}
        raise StepFailed("the firewall API timed out", hint="read the rule set by hand")


def test_a_target_read_back_before_the_failure_stays_done() -> None:
    receipt = run_action(HalfReadBack(), ["10.0.0.0/8", "192.0.2.0/24"], dry_run=False)
    first, second = receipt.targets
    assert (first.status, first.reason, first.after) == ("ok", None, {"blocked": True})
    assert second.status == "failed"
    assert second.reason == "applied, but could not be read back: the firewall API timed out"
    assert second.hint == "read the rule set by hand"
    assert receipt.status == "partial"
    assert receipt.summary == "blocked 1 CIDR; 1 failed (192.0.2.0/24)"


class Broken(HalfReadBack):
    """A fake whose apply fails with an error no adapter anticipated (a bug)."""

    def apply(self, planned: list[TargetResult]) -> None:
        raise KeyError("region")


def test_an_unexpected_error_names_its_type_and_says_how_to_see_more() -> None:
    receipt = run_action(Broken(), ["10.0.0.0/8"], dry_run=False)
    (target,) = receipt.targets
    assert (target.status, target.reason) == ("failed", "not applied: KeyError: 'region'")
    assert target.hint == "an unexpected error; rerun with --verbose"


def test_a_targets_file_comment_ends_the_line_at_its_first_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from containment.run import read_targets

    listing = tmp_path / "targets.txt"
    listing.write_text("alice # from the alert # and the SIEM\n#bob\ncarol#\n", encoding="utf-8")
    assert read_targets([], listing) == ["alice", "carol"]


def test_a_targets_file_that_cannot_be_read_is_one_line_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from containment.run import read_targets
    from core.errors import BadInput

    listing = tmp_path / "targets.txt"
    listing.write_bytes(b"alice\n\xff\xfe not utf-8\n")
    with pytest.raises(BadInput) as raised:
        read_targets([], listing)
    assert raised.value.message.startswith(f"cannot read targets file {listing}: ")
    assert "utf-8" in raised.value.message
    with pytest.raises(BadInput) as raised:
        read_targets([], tmp_path)  # a folder
    assert raised.value.message.startswith(f"cannot read targets file {tmp_path}: ")
    with pytest.raises(BadInput, match=r"^targets file not found: "):
        read_targets([], tmp_path / "nope.txt")


def test_no_targets_is_bad_input_saying_how_to_give_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from containment.run import read_targets
    from core.errors import BadInput

    empty = tmp_path / "targets.txt"
    empty.write_text("# nobody yet\n\n   \n")
    for given, listing in (([], None), ([" ", ""], None), ([], empty)):
        with pytest.raises(BadInput) as raised:
            read_targets(given, listing)
        assert raised.value.message == "no targets given"
        assert raised.value.hint == "pass --target NAME (repeatable) or --targets-file F"


class AllFail(HalfReadBack):
    """A fake for the driver alone: every target fails when applied."""

    def apply(self, planned: list[TargetResult]) -> None:
        for target in planned:
            target.fail("refused")


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (5, "5 failed (t1, t2, t3, t4, t5)"),
        (6, "6 failed (t1, t2, t3, t4, t5, ...)"),
        (7, "7 failed (t1, t2, t3, t4, t5, ...)"),
    ],
)
def test_the_summary_names_five_failed_targets_then_an_ellipsis(count: int, shown: str) -> None:
    receipt = run_action(AllFail(), [f"t{n}" for n in range(1, count + 1)], dry_run=False)
    assert receipt.summary == f"nothing done; {shown}"
