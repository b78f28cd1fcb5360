"""`make demo`: the main job on embedded defaults, no server and no cloud account.

Opens an incident, stages sample evidence, seals it into a signed bundle, verifies it, decrypts
it as legal would, then tampers with a copy and shows verification failing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from breach.cli import main as breach_main

OUT = Path(os.environ.get("BREACH_DEMO_DIR", "demo-out"))


def breach(*args: str | Path, expect: int = 0) -> None:
    shown = " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n$ breach {shown}", flush=True)
    try:
        breach_main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    if code != expect:
        print(f"demo: expected exit {expect}, got {code}", file=sys.stderr)
        sys.exit(1)


def stage_sample_evidence(staging: Path) -> None:
    logs = staging / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "access.log").write_text(
        "".join(
            f"2026-11-27T22:{m:02d}:00Z 203.0.113.7 GET /api/users?page={m} 200\n"
            for m in range(60)
        )
    )
    (staging / "affected-users.csv").write_text(
        "user_id,email\n17,ana@example.com\n42,bo@example.com\n"
    )


def run() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ["BREACH_CASES_DIR"] = str(OUT / "cases")
    keys, legal = OUT / "keys", OUT / "legal"
    breach("keys", "generate", "--out", keys)
    breach("keys", "generate", "--out", legal, "--name", "legal-signing")
    breach(
        "incident",
        "open",
        "--id",
        "INC-DEMO-1",
        "--severity",
        "P1",
        "--title",
        "Customer records read by a stolen API token",
    )
    stage_sample_evidence(OUT / "cases" / "INC-DEMO-1" / "staging")
    breach(
        "seal",
        "--case",
        "INC-DEMO-1",
        "-r",
        legal / "age.pub",
        "--signing-key",
        keys / "signing.key.pem",
    )
    bundle = next((OUT / "cases" / "INC-DEMO-1" / "bundles").iterdir())
    trust: list[str | Path] = [
        "--pubkey",
        keys / "signing.pub.pem",
        "--pubkey",
        legal / "legal-signing.pub.pem",
    ]
    breach("verify", bundle, *trust)
    breach(
        "decrypt",
        bundle,
        "-i",
        legal / "age.key",
        "--out",
        OUT / "legal-copy",
        "--reason",
        "counsel review",
        "--signing-key",
        legal / "legal-signing.key.pem",
        *trust,
    )
    breach("verify", bundle, *trust)

    print("\n# Tamper with a copy: change one byte of one encrypted artifact.")
    tampered = OUT / "tampered-bundle"
    shutil.copytree(bundle, tampered)
    victim = tampered / "data" / "affected-users.csv.age"
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    breach("verify", tampered, *trust, expect=1)
    breach("incident", "show", "--case", "INC-DEMO-1")
    print(f"\ndemo: done. Everything is under {OUT}/; the sealed bundle is {bundle}.")


if __name__ == "__main__":
    run()
