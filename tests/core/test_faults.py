"""The fault points crash tests rely on: they kill exactly where and when they are told."""

import subprocess
import sys
from pathlib import Path

from core import faults

SCRIPT = "from core import faults\nfor i in range(3):\n    print(i, flush=True)\n    faults.point('loop')\n"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2]), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_unset_points_do_nothing(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 0 and done.stdout.split() == ["0", "1", "2"]


def test_a_point_kills_on_its_nth_pass_as_kill_9_would(tmp_path: Path) -> None:
    done = run(tmp_path, BREACH_FAULT="loop#2")
    assert done.returncode == faults.KILLED_EXIT
    assert done.stdout.split() == ["0", "1"]


def test_other_points_are_not_killed(tmp_path: Path) -> None:
    assert run(tmp_path, BREACH_FAULT="elsewhere").returncode == 0


def test_trace_lists_every_moment(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    run(tmp_path, BREACH_FAULT_TRACE=str(trace))
    assert faults.moments(str(trace)) == ["loop#1", "loop#2", "loop#3"]
