"""One incident id check everywhere (core.models): the whole string must match, so a trailing
newline (which `^...$` with re.match lets through) never names a folder or heads a bundle id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from breach.case import Case
from breach.procedure.bundle import SealSettings
from breach.procedure.incident import OpenSettings
from breach.procedure.locker import ListSettings
from core.errors import BadInput

BAD = [
    "INC-1\n",
    "INC-1\r\n",
    "\nINC-1",
    "INC-1\u2028",
    "INC 1",
    "INC/1",
    "../INC-1",
    ".INC-1",
    "-INC-1",
    "",
    "x" * 65,
    "INC-\x1b[31m1",
    "INC-1\x00",
]
GOOD = ["INC-2026-0042", "a", "A.b_c-1", "x" * 64]

# Every settings field that takes an incident id (--id, --incident): (model, field, other fields).
FIELDS: list[tuple[type[BaseModel], str, dict[str, Any]]] = [
    (OpenSettings, "incident_id", {"severity": "P2", "title": "t"}),
    (SealSettings, "incident", {}),
    (ListSettings, "incident", {"store": "file:///tmp/store"}),
]


@pytest.mark.parametrize("value", BAD)
def test_a_bad_id_is_refused_by_every_option(value: str, tmp_path: Path) -> None:
    for model, field, others in FIELDS:
        with pytest.raises(ValidationError) as refused:
            model.model_validate({**others, field: value})
        (error,) = refused.value.errors()
        assert error["loc"] == (field,) and "incident id" in error["msg"]
    with pytest.raises(BadInput, match="incident id") as opened:
        Case.open(value, "P2", "t", root=tmp_path / "case")
    assert "\n" not in opened.value.message
    assert not (tmp_path / "case").exists()


@pytest.mark.parametrize("value", GOOD)
def test_a_good_id_is_taken_by_every_option(value: str) -> None:
    for model, field, others in FIELDS:
        assert getattr(model.model_validate({**others, field: value}), field) == value


def test_a_case_file_with_a_trailing_newline_id_is_refused(tmp_path: Path) -> None:
    case = Case.open("INC-1", "P2", "t", root=tmp_path / "case")
    record = json.loads((case.root / "case.json").read_text())
    (case.root / "case.json").write_text(json.dumps({**record, "id": "INC-1\n"}))
    with pytest.raises(BadInput, match="field id"):
        Case.load(case.root)
