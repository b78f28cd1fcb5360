"""Seal and verify speed and seal memory, side by side with what a responder would use instead.

Two data sets on the project's disk: one 1 GiB file of random bytes and a folder of 1,000 small
files (1-64 KiB). For each, in rounds so machine noise falls on every side alike:

  breach seal     vs  cp -r + fsync of every copy (goal >= 0.8): seal's output is durable, so the
                      goal is judged against a durable copy; plain cp -r is printed for reference
  breach seal     vs  sha256sum over the files, then `age -r` per file (goal >= 1.5)
  breach verify   vs  sha256sum -c manifest-sha256.txt over the same bundle (goal >= 0.9)
  peak RSS of breach seal on the 1 GiB file (goal <= 100 MB)

Context rows: `breach --version` (the CLI's fixed start-up time and memory inside every breach
number) and the same seal through manifests' public API alone, without the CLI.

Every command runs as a child process (its peak RSS comes from the kernel via wait4). Before each
command its own previous output is deleted and dirty pages are flushed, with the sources and the
bundle left in the page cache, so every side starts from the same state. The best of ROUNDS runs
counts; all runs are printed to show the spread.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    MB,
    goal_line,
    python_cmd,
    run_measured,
    same_filesystem,
    scratch_dir,
    settle,
    spread,
    venv_script,
    verdict,
)
from manifests import keys

ROUNDS = 3
BIG_SIZE = 1 << 30
SMALL_COUNT = 1000
SMALL_SIZES = (1 << 10, 64 << 10)
MEMORY_GOAL = 100 * MB
INCIDENT = "INC-BENCH-SEAL"
PROJECT = Path(__file__).resolve().parents[1]

# cp, then fsync every copied file and folder (coreutils `sync FILE` fsyncs each one). Not
# `sync -f`: that flushes the whole filesystem, other people's writes included.
CP_FSYNC = 'cp -r -- "$1" "$2" && find "$2" -exec sync -- {} +'
# What a responder types without breachkit: hash the plaintext, then age-encrypt file by file.
MANUAL = """set -euo pipefail
src=$1 out=$2 recipient=$3
mkdir -p "$out"
cd "$src"
find . -type f -printf '%P\\0' | sort -z | xargs -0 sha256sum > "$out/SHA256SUMS"
find . -type f -printf '%P\\0' | sort -z | while IFS= read -r -d '' f; do
  age -r "$recipient" -o "$out/$f.age" "$f"
done
"""
CHECK = 'cd "$1" && sha256sum -c --quiet manifest-sha256.txt'
# The same sealing through manifests' public API alone, without the CLI, the procedure step and
# their imports (pydantic, the case): shows what sealing itself costs in time and memory.
LIBRARY_SEAL = """
import sys
from pathlib import Path
from manifests import SealOptions, load_recipients, local_signer, seal_bundle, staged_artifacts
src, out, recipient, key, incident = sys.argv[1:]
options = SealOptions(
    incident_id=incident, recipients=load_recipients([recipient]), recipient_names=[recipient],
    signer=local_signer(Path(key)), operator="bench", tool_version="bench",
)
seal_bundle(staged_artifacts(Path(src)), Path(out), options)
"""


@dataclass(frozen=True)
class Dataset:
    label: str
    src: Path
    size: int
    files: int


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)


def _sh(script: str, *args: str) -> list[str]:
    return ["bash", "-c", script, "bash", *args]


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(size // (1 << 20)):
            handle.write(os.urandom(1 << 20))
        handle.write(os.urandom(size % (1 << 20)))


def _big_dataset(root: Path) -> Dataset:
    """One 1 GiB file of random bytes; kept between runs of the benchmark (marked complete)."""
    src, done = root / "big", root / "big.complete"
    target = src / "disk-image.bin"
    if not (done.is_file() and target.is_file() and target.stat().st_size == BIG_SIZE):
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        print("generating 1 GiB of random bytes (once) ...", flush=True)
        _write_random(target, BIG_SIZE)
        done.touch()
    return Dataset("1 GiB file", src, BIG_SIZE, 1)


def _small_dataset(root: Path) -> Dataset:
    src = root / "small"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    sizes = random.Random(2).choices(range(SMALL_SIZES[0], SMALL_SIZES[1] + 1), k=SMALL_COUNT)
    for number, size in enumerate(sizes):
        (src / f"artifact-{number:04d}.log").write_bytes(os.urandom(size))
    return Dataset(f"{SMALL_COUNT:,} small files", src, sum(sizes), SMALL_COUNT)


def _warm(dataset: Dataset) -> None:
    """Read the sources once so every command finds them in the page cache."""
    for path in dataset.src.iterdir():
        with open(path, "rb", buffering=0) as handle:
            while handle.read(1 << 20):
                pass


class Runner:
    """Runs each side of the comparison on one data set and keeps every sample."""

    def __init__(self, dataset: Dataset, work: Path, made: keys.GeneratedKeys) -> None:
        self.dataset = dataset
        self.work = work
        self.keys = made
        self.breach = venv_script("breach")
        self.samples: dict[str, Samples] = {}

    def _out(self, name: str) -> Path:
        return (self.work / name).resolve()

    def measure(self, name: str, cmd: list[str], clear: Path | None = None) -> None:
        """Run one side once: delete the last output, flush dirty pages, then time it."""
        if clear is not None:
            shutil.rmtree(clear, ignore_errors=True)
        settle()
        seconds, rss = run_measured(cmd, quiet=True)
        sample = self.samples.setdefault(name, Samples())
        sample.seconds.append(seconds)
        sample.peak_rss.append(rss)

    def round(self) -> None:
        """Each side first deletes its own output of the previous round, so all start alike."""
        src, recipient = str(self.dataset.src.resolve()), self.keys.recipient
        bundle, copy, synced, manual = (
            self._out(n) for n in ("bundle", "copy", "copy-fsync", "manual")
        )
        seal = [
            self.breach, "seal", src, "--out", str(bundle), "--incident", INCIDENT,
            "-r", recipient, "--signing-key", str(self.keys.signing_key),
        ]  # fmt: skip
        self.measure("breach seal", seal, clear=bundle)
        self._expect(bundle / "data", ".age", "sealed payload")
        library = self._out("bundle-library")
        args = [src, str(library), recipient, str(self.keys.signing_key), INCIDENT]
        self.measure("seal (library)", [*python_cmd(LIBRARY_SEAL), *args], clear=library)
        self._expect(library / "data", ".age", "sealed payload")
        # Both read the bundle the seal just wrote, still in the page cache; both must pass.
        pubkey = str(self.keys.signing_pub)
        self.measure("breach verify", [self.breach, "verify", str(bundle), "--pubkey", pubkey])
        self.measure("sha256sum -c", _sh(CHECK, str(bundle)))
        # The fixed cost inside every breach time above: interpreter and CLI imports.
        self.measure("breach --version", [self.breach, "--version"])
        self.measure("cp -r", ["cp", "-r", "--", src, str(copy)], clear=copy)
        self._expect(copy, "", "copied")
        self.measure("cp -r + fsync", _sh(CP_FSYNC, src, str(synced)), clear=synced)
        self._expect(synced, "", "copied")
        self.measure("sha256sum + age", _sh(MANUAL, src, str(manual), recipient), clear=manual)
        self._expect(manual, ".age", "age-encrypted")

    def _expect(self, folder: Path, suffix: str, what: str) -> None:
        """The side really did the work: one output per source file."""
        made = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffix)]
        if len(made) != self.dataset.files:
            raise SystemExit(f"{folder}: {len(made)} {what} file(s), expected {self.dataset.files}")


def _print_table(runner: Runner) -> None:
    size = runner.dataset.size
    print(
        f"\n{runner.dataset.label}: {size / (1 << 20):,.1f} MiB in {runner.dataset.files} file(s)"
    )
    for name, sample in runner.samples.items():
        rate = "" if name == "breach --version" else f"{size / sample.best / (1 << 20):8.1f} MiB/s"
        rss = max(sample.peak_rss) / MB
        print(f"  {name:<16} {spread(sample.seconds):<40} {rate:>13}  peak RSS {rss:6.1f} MB")


def _print_goals(runner: Runner) -> None:
    s, label = runner.samples, runner.dataset.label
    seal = s["breach seal"].best
    print(f"\n{label}: ratios (baseline time / breachkit time; > 1 means breachkit is faster)")
    print("  " + goal_line("seal vs cp -r + fsync [the goal]", seal, s["cp -r + fsync"].best, 0.8))
    print(f"        (seal vs plain cp -r, no fsync: {s['cp -r'].best / seal:.2f}x, for reference)")
    print("  " + goal_line("seal vs sha256sum + age", seal, s["sha256sum + age"].best, 1.5))
    verify, check = s["breach verify"].best, s["sha256sum -c"].best
    print("  " + goal_line("verify vs sha256sum -c", verify, check, 0.9))
    startup = s["breach --version"].best
    print(
        f"        (each breach time includes {startup:.2f} s of CLI start-up, "
        f"`breach --version`; without it seal {seal - startup:.2f} s, verify {verify - startup:.2f} s)"
    )


def _print_memory(runner: Runner) -> None:
    s = runner.samples
    peak = max(s["breach seal"].peak_rss)
    print(
        f"\n{verdict(peak <= MEMORY_GOAL)}  peak RSS of `breach seal` on the {runner.dataset.label}: "
        f"{peak / MB:.1f} MB (worst of {ROUNDS} runs; goal <= {MEMORY_GOAL / MB:.0f} MB)"
    )
    idle, library = max(s["breach --version"].peak_rss), max(s["seal (library)"].peak_rss)
    print(
        f"      of which the CLI alone (`breach --version`) holds {idle / MB:.1f} MB; "
        f"the same seal through manifests alone peaks at {library / MB:.1f} MB"
    )


def _describe_disk(root: Path) -> None:
    df = subprocess.run(
        ["df", "-hT", str(root)], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    where = "the project's filesystem" if same_filesystem(root, PROJECT) else "ANOTHER filesystem"
    print(f"scratch {root.resolve()} on {where}: {df[-1] if df else '?'}")


def main() -> None:
    root = scratch_dir() / "seal"
    root.mkdir(parents=True, exist_ok=True)
    _describe_disk(root)
    shutil.rmtree(root / "keys", ignore_errors=True)
    made = keys.generate(root / "keys")
    runners = []
    for dataset in (_big_dataset(root), _small_dataset(root)):
        work = root / ("work-" + dataset.src.name)
        work.mkdir(exist_ok=True)
        runners.append(Runner(dataset, work, made))
    for number in range(1, ROUNDS + 1):
        print(f"round {number}/{ROUNDS} ...", flush=True)
        for runner in runners:
            _warm(runner.dataset)
            runner.round()
    for runner in runners:
        _print_table(runner)
    for runner in runners:
        _print_goals(runner)
    _print_memory(runners[0])
    for runner in runners:
        shutil.rmtree(runner.work, ignore_errors=True)
