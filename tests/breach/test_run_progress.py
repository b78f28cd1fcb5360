"""`breach run` tells its progress what a step expects in all, so a terminal shows the time left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breach.case import Case
from breach.playbook.model import load
from breach.playbook.runner import Runner
from breach.procedure.keys import GenerateKeysSettings, generate_keys

BOOK = """\
name: seal-only
description: seal what a hand-opened case holds
steps:
  - id: seal
    kind: seal
    with: {{signing_key: "{key}", recipients: ["{recipient}"]}}
"""


class Recorded:
    """A run's progress, as a terminal would be told it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, step: Any, n: int, total: int) -> None:
        self.calls.append(("start", (step.id, n, total)))

    def advance(self, amount: int) -> None:
        self.calls.append(("advance", amount))

    def expect(self, total: int) -> None:
        self.calls.append(("expect", total))

    def end(self, report: Any, n: int, total: int) -> None:
        self.calls.append(("end", (report.id, report.state)))


def test_a_seal_step_tells_the_bytes_it_will_encrypt_before_it_reports_them(
    tmp_path: Path,
) -> None:
    keys = generate_keys(GenerateKeysSettings(out=tmp_path / "keys"))
    case = Case.open("INC-PROGRESS-1", "P2", "progress", root=tmp_path / "case")
    staged = case.stage_json("notes/found", {"rows": list(range(5000))})
    book = tmp_path / "seal.yaml"
    book.write_text(BOOK.format(key=keys.signing_key, recipient=keys.age_recipient))
    progress = Recorded()
    playbook = load(book)
    report = Runner(playbook, tmp_path / "case", {}, progress=progress).run(playbook.steps)
    assert [s.state for s in report.steps] == ["done"]
    kinds = [kind for kind, _ in progress.calls]
    assert kinds[0] == "start" and kinds[-1] == "end" and "expect" in kinds
    told = [value for kind, value in progress.calls if kind == "expect"]
    done = sum(value for kind, value in progress.calls if kind == "advance")
    assert kinds.index("expect") < kinds.index("advance")  # the total first, then the bytes
    assert len(told) == 1 and done == told[0]  # the bar ends full
    assert told[0] > staged.stat().st_size  # the notes and what opening the case staged
