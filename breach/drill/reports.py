"""A drill's reports: JUnit XML for CI (one testcase per step and per check, the phase times as
properties) and Markdown for people."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breach.procedure.drill import DrillReport

FAILED = ("failed", "blocked")


def junit(report: DrillReport) -> bytes:
    suites = ET.Element("testsuites", name=f"breach drill {report.playbook}")
    steps = _suite(suites, f"{report.playbook}: steps", report)
    for step in report.run.steps:
        case = ET.SubElement(
            steps,
            "testcase",
            classname=f"playbook.{report.playbook}",
            name=f"{step.id} ({step.kind})",
            time=f"{step.seconds:.3f}",
        )
        if step.state in FAILED:
            ET.SubElement(case, "failure", message=step.error or step.state, type=step.state)
        elif step.state == "skipped":
            ET.SubElement(case, "skipped", message=step.note or "skipped")
    checks = _suite(suites, f"{report.playbook}: checks", report)
    for check in report.checks:
        case = ET.SubElement(
            checks, "testcase", classname=f"drill.{report.playbook}", name=check.name,
            time=f"{check.seconds:.3f}",
        )  # fmt: skip
        if not check.ok:
            ET.SubElement(case, "failure", message=check.detail, type="check")
        else:
            ET.SubElement(case, "system-out").text = check.detail
    for suite in suites:
        _count(suite)
    _count(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def markdown(report: DrillReport) -> str:
    verdict = "PASSED" if report.passed else "FAILED"
    lines = [
        f"# Drill: {report.playbook} ({report.mode}) - {verdict}",
        "",
        f"Started {report.started_at}; the case was {report.run.case}.",
        "",
        "## Times",
        "",
        "| phase | seconds after the case opened | within the response time |",
        "|---|---|---|",
    ]
    limit = report.times.limit
    for phase in ("preserve", "contain", "notify"):
        took = getattr(report.times, phase)
        shown = "-" if took is None else f"{took:.1f}"
        within = "-" if took is None or limit is None else ("yes" if took <= limit else "**no**")
        lines.append(f"| {phase} | {shown} | {within} |")
    limit_text = f"{limit / 60:.0f} minutes" if limit else "not an elapsed time"
    lines += ["", f"Response time for {report.times.severity}: {limit_text}.", ""]
    lines += ["## Steps", "", "| step | kind | state | seconds | detail |", "|---|---|---|---|---|"]
    for step in report.run.steps:
        detail = step.error or step.note or ""
        lines.append(
            f"| {_cell(step.id)} | {step.kind} | {step.state} | {step.seconds:.1f} | {_cell(detail)} |"
        )
    lines += ["", "## Checks", "", "| check | result | detail |", "|---|---|---|"]
    for check in report.checks:
        lines.append(
            f"| {_cell(check.name)} | {'pass' if check.ok else '**FAIL**'} | {_cell(check.detail)} |"
        )
    return "\n".join(lines) + "\n"


def _suite(parent: ET.Element, name: str, report: DrillReport) -> ET.Element:
    suite = ET.SubElement(parent, "testsuite", name=name, timestamp=report.started_at)
    properties = ET.SubElement(suite, "properties")
    values = {
        "mode": report.mode,
        "playbook": str(report.run.path),
        "severity": report.times.severity,
        "response-time-seconds": _number(report.times.limit),
        "time-to-preserve-seconds": _number(report.times.preserve),
        "time-to-contain-seconds": _number(report.times.contain),
        "time-to-notify-seconds": _number(report.times.notify),
    }
    for key, value in values.items():
        ET.SubElement(properties, "property", name=key, value=value)
    return suite


def _count(element: ET.Element) -> None:
    cases = list(element.iter("testcase"))
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    element.set("errors", "0")
    element.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    element.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
