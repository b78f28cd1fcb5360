"""manifests' public surface, and what verifying and `breach verify --help` load."""

from __future__ import annotations


def test_the_cli_offers_exactly_the_recordable_custody_events(breach) -> None:  # type: ignore[no-untyped-def]
    from breach.procedure.bundle import RECORDABLE_EVENTS

    shown = breach("custody", "record", "--help").stdout
    choices = shown[shown.index("--event [") + len("--event [") :].split("]")[0]
    assert choices.replace("\n", "").replace(" ", "").split("|") == list(RECORDABLE_EVENTS)
