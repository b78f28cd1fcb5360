"""The evidence report (breach.procedure.report) called as a library, on cases built by the steps.

`build_case` is shared with tests/breach/cli/test_report_pdf.py: a case opened, an artifact with
a hostile name staged and described, a key rotated (a real containment receipt), a notice sent
through the file channel and a decision not to notify, sealed, a second bundle chained to it,
and a custody event recorded: everything through the procedure layer, nothing hand-written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from breach.case import Case
from breach.procedure.bundle import (
    CustodyRecordSettings,
    SealSettings,
    VerifySettings,
    custody_record,
    seal,
    verify,
)
from breach.procedure.contain import ContainSettings, contain
from breach.procedure.incident import OpenSettings, open_case
from breach.procedure.notify import DecideSettings, SendSettings, decide, send
from breach.procedure.report import ReportResult, ReportSettings, report
from breach.report.timeline import Event, duration, layout, ordered
from core.artifacts import artifact_meta, describe
from core.errors import BadInput
from core.timeutil import parse_rfc3339
from manifests.keys import GeneratedKeys, generate
from notify.channels.file import FileSettings

HOSTILE = "audit/<script>alert(\"pwned\")</script>' onload='x'&amp;.parquet"
HOSTILE_TABLE = 'public."<img src=x onerror=alert(1)>"'
HOSTILE_WHY = 'for counsel <b>review</b> " onmouseover="alert(2)'


@dataclass
class Built:
    case: Case
    keys: GeneratedKeys
    first: Path  # the bundle the report is about
    second: Path  # chained to the first
    receipts: list[Path]


def build_case(root: Path) -> Built:
    """A P1 case with evidence, containment, notices, two chained bundles and custody."""
    keys = generate(root / "keys")
    opened = open_case(
        OpenSettings(
            incident_id="INC-2026-0042",
            severity="P1",
            title="API token stolen",
            detected_at="2026-11-27T05:50:00Z",
            aware_at="2026-11-27T06:10:00Z",
        )
    )
    case = Case.load(opened.case)
    staged = case.stage_path(HOSTILE)
    staged.write_bytes(b"PAR1 three audit rows PAR1")
    source = {
        "system": "postgresql",
        "table": HOSTILE_TABLE,
        "window": {"since": "2026-11-25T00:00:00Z", "until": "2026-11-28T00:00:00Z"},
        "row_count": 3,
        "oldest_event": "2026-11-25T01:00:00Z",
        "newest_event": "2026-11-27T23:00:00Z",
        "pg_snapshot": "00000003-0000001B-1",
    }
    describe(staged, artifact_meta("application/vnd.apache.parquet", source, "evidence.test"))
    victim = root / "victim.pem"
    victim.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rotated = contain(
        ContainSettings(
            case=str(case.root),
            action="rotate-keys",
            adapter="signing-key",
            targets=[str(victim)],
            reason="key leaked",
        )
    )
    sent = send(
        SendSettings(
            case=str(case.root),
            notice="internal",
            channel=FileSettings(out=str(root / "notice.md")),
            values={"impact": "3 customer records read"},
        )
    )
    decided = decide(
        DecideSettings(case=str(case.root), obligation="gdpr-art34", reason="no high risk")
    )
    sealing = {
        "case": str(case.root),
        "recipients": [keys.recipient],
        "signing_key": keys.signing_key,
    }
    first = seal(SealSettings(**sealing))
    later = case.stage_path("notes/second.txt")
    later.write_text("found later", encoding="utf-8")
    second = seal(SealSettings(**sealing))
    custody_record(
        CustodyRecordSettings(
            bundle=first.bundle,
            event="transferred",
            why=HOSTILE_WHY,
            to="outside counsel",
            signing_key=keys.signing_key,
        )
    )
    assert sent.receipt_path is not None
    return Built(
        case=Case.load(case.root),
        keys=keys,
        first=first.bundle,
        second=second.bundle,
        receipts=[rotated.path, sent.receipt_path, decided.receipt],
    )


def statement_of(bundle: Path) -> dict[str, Any]:
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[no-any-return]


def custody_of(bundle: Path) -> list[dict[str, Any]]:
    lines = (bundle / "custody.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


class Tags(HTMLParser):
    """Every element and attribute the browser would build from the report."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.comments: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.update(name for name, _ in attrs)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def trusting(built: Built) -> dict[str, Any]:
    """The sealer's key for the statements; the custody entries here are signed with the same
    key, so it is given as a custodian's too (keys have roles: each is given for its own)."""
    return {"pubkeys": [built.keys.signing_pub], "custody_trust": [built.keys.signing_pub]}


def trust_args(built: Built) -> list[Any]:
    """trusting(built) as the CLI's flags."""
    pub = built.keys.signing_pub
    return ["--pubkey", pub, "--custody-trust", pub]


def render(built: Built, out: Path, bundle: Path | None = None, **extra: Any) -> ReportResult:
    values: dict[str, Any] = {**trusting(built), **extra}
    return report(ReportSettings(bundle=bundle or built.first, out=out, **values))


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_case(tmp_path)


# -- what the report holds -------------------------------------------------------------------
def test_a_verified_report_holds_the_incident_checks_artifacts_chain_custody_and_receipts(
    built: Built, tmp_path: Path
) -> None:
    done = render(built, tmp_path / "out" / "report.html")
    html = done.out.read_text(encoding="utf-8")
    assert done.verdict == "verified" and done.ok and done.failed == []
    assert done.sha256 == hashlib.sha256(done.out.read_bytes()).hexdigest()
    assert html.splitlines()[0] == (
        "<!-- breachkit evidence report: VERIFIED: every check passed -->"
    )
    assert "VERIFIED: this bundle is intact and was signed by the trusted key." in html
    # the incident, from the case
    for text in (
        "INC-2026-0042",
        "API token stolen",
        "2026-11-27T05:50:00Z",
        "2026-11-27T06:10:00Z",
    ):
        assert text in html
    # each check of `breach verify`, passed, with what it proves
    checked = verify(VerifySettings(bundle=built.first, **trusting(built)))
    for check in checked.checks:
        assert f'<td>{check.name}</td>\n    <td class="pass">pass</td>' in html
    assert "the signature covers the evidence itself" in html
    # signer and trust anchor
    assert built.keys.signing_keyid in html and str(built.keys.signing_pub) in html
    # every artifact of the signed statement, with both hashes
    artifacts = statement_of(built.first)["predicate"]["artifacts"]
    # 5 staged artifacts, and the case record (journal, case.json) every case seal carries
    assert done.artifacts == len(artifacts) == 7
    for artifact in artifacts:
        assert artifact["plaintext"]["sha256"] in html
        assert artifact["ciphertext"]["sha256"] in html
    assert "3 rows" in html and "evidence.test 0.1.0" in html
    assert "read in one consistent database snapshot (00000003-0000001B-1)" in html
    # the chain: this bundle, and the later one chained to it
    assert built.second.name in html and "later bundle, chained to this one" in html
    # the custody log, entry by entry
    entries = custody_of(built.first)
    assert done.custody_entries == len(entries) == 2
    for entry in entries:
        assert f'<tr id="custody-{entry["seq"]}">' in html and entry["event"] in html
    assert "outside counsel" in html
    # containment and notices from the case, each said to be sealed in this bundle
    assert done.receipts == 3
    assert "rotate-keys</b> via signing-key" in html and "rotated 1 key" in html
    assert "<b>internal</b> via file" in html and "no high risk" in html
    assert html.count("sealed in this bundle (same SHA-256)") == 3
    for path in built.receipts:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in html


def test_the_timeline_comes_from_the_journal_and_the_custody_log(
    built: Built, tmp_path: Path
) -> None:
    done = render(built, tmp_path / "report.html")
    html = done.out.read_text(encoding="utf-8")
    svg = html[html.index("<svg") : html.index("</svg>")]
    journal = built.case.timeline()
    own_custody = [e for e in journal if e["what"].startswith("custody.")]
    # detection and awareness, every journal entry but the custody mirror, every custody entry
    assert done.timeline_events == 2 + len(journal) - len(own_custody) + 2
    assert svg.count("<circle") == done.timeline_events
    for lane in ("Detection", "Awareness", "Evidence", "Containment", "Notices", "Custody"):
        assert f">{lane}</text>" in svg
    rows = html[html.index('id="timeline"') :]
    for what in ("breach detected", "contain.rotate-keys", "notify.send", "notify.decide",
                 "evidence.seal", "custody: sealed", "custody: transferred"):  # fmt: skip
        assert what in rows
    # the days between awareness and the response are cut out of the axis, and said so
    record = built.case.record
    assert f">{duration((record.opened_at - record.aware_at).total_seconds())}</text>" in svg


def test_the_same_inputs_give_the_same_bytes(built: Built, tmp_path: Path) -> None:
    one = render(built, tmp_path / "one.html")
    two = render(built, tmp_path / "two.html")
    assert one.out.read_bytes() == two.out.read_bytes() and one.sha256 == two.sha256
    stamped = render(built, tmp_path / "stamped.html", generated_at="2026-12-01T09:00:00Z")
    assert stamped.sha256 != one.sha256
    assert "at 2026-12-01T09:00:00Z" in stamped.out.read_text(encoding="utf-8")


def test_a_tampered_bundle_gives_a_report_whose_first_line_says_so(
    built: Built, tmp_path: Path
) -> None:
    copy = tmp_path / "copy" / built.first.name
    shutil.copytree(built.first, copy)
    payload = next((copy / "data" / "receipts").glob("contain-*.age"))
    data = bytearray(payload.read_bytes())
    data[100] ^= 0xFF
    payload.write_bytes(bytes(data))
    done = render(built, tmp_path / "tampered.html", bundle=copy)
    html = done.out.read_text(encoding="utf-8")
    assert done.verdict == "failed" and not done.ok
    assert done.failed == ["evidence files (payload manifest)"]
    first = html.splitlines()[0]
    assert first.startswith("<!-- breachkit evidence report: NOT VERIFIED")
    assert "evidence files (payload manifest)" in first
    # the first thing a reader sees, before the title
    body = html[html.index("<body>") :]
    assert body.index("NOT VERIFIED: this bundle FAILED verification") < body.index("<h1>")
    assert "<title>NOT VERIFIED:" in html
    assert f"{payload.relative_to(copy)}: content changed" in html
    assert '<td class="fail">FAIL</td>' in html
    # a failed check proves nothing, and the report says so beside it
    assert html.count("Not proven. When it passes:") == 1
    checks = verify(VerifySettings(bundle=copy, **trusting(built))).checks
    assert html.count('<td class="pass">pass</td>') == len(checks) - 1


def test_an_altered_statement_is_shown_as_found_and_flagged(built: Built, tmp_path: Path) -> None:
    copy = tmp_path / "copy" / built.first.name
    shutil.copytree(built.first, copy)
    envelope = json.loads((copy / "statement.dsse.json").read_text())
    statement = statement_of(copy)
    statement["predicate"]["bundle"]["incident"]["severity"] = "P4"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (copy / "statement.dsse.json").write_text(json.dumps(envelope))
    done = render(built, tmp_path / "r.html", bundle=copy)
    html = done.out.read_text(encoding="utf-8")
    assert done.verdict == "failed"
    assert "signature over the statement" in done.failed
    assert "not what was signed" in html


def test_without_a_trust_anchor_there_is_no_verdict(built: Built, tmp_path: Path) -> None:
    custody = {"custody_trust": [built.keys.signing_pub]}
    with pytest.raises(BadInput, match="no trusted sealer key") as refused:
        report(ReportSettings(bundle=built.first, out=tmp_path / "r.html", **custody))
    assert refused.value.field == "pubkeys" and not (tmp_path / "r.html").exists()
    waived = {"no_signer_check": True, **custody}
    done = report(ReportSettings(bundle=built.first, out=tmp_path / "r.html", **waived))
    html = done.out.read_text(encoding="utf-8")
    assert done.verdict == "no-verdict" and done.ok
    assert html.splitlines()[0].startswith("<!-- breachkit evidence report: NO VERDICT")
    assert "not checked: no trust anchor was given" in html
    other = generate(tmp_path / "other")
    wrong = report(
        ReportSettings(
            bundle=built.first, out=tmp_path / "w.html", trust=[other.signing_pub.parent], **custody
        )
    )
    assert wrong.verdict == "failed" and "signer identity" in wrong.failed
    assert other.signing_keyid in wrong.out.read_text(encoding="utf-8")


# -- hostile names ---------------------------------------------------------------------------
def test_names_from_the_bundle_and_the_case_are_escaped(built: Built, tmp_path: Path) -> None:
    html = render(built, tmp_path / "r.html").out.read_text(encoding="utf-8")
    tags = parsed(html)
    assert "script" not in tags.tags and "img" not in tags.tags
    assert not {a for a in tags.attributes if a.startswith("on")}, tags.attributes
    assert set(tags.tags) <= {
        "html", "head", "meta", "title", "style", "body", "div", "h1", "h2", "h3", "p", "table",
        "tr", "th", "td", "span", "b", "i", "br", "ul", "li", "code", "pre", "a", "svg", "rect",
        "line", "text", "circle", "footer", "wbr",
    }  # fmt: skip
    assert (
        "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&#39; onload=&#39;x&#39;&amp;amp;.parquet"
        in html
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;review&lt;/b&gt; &#34; onmouseover=&#34;alert(2)" in html
    # nothing fetched: no element that loads, no link off the page, a policy forbidding both
    assert "src" not in tags.attributes and "link" not in tags.tags
    assert tags.hrefs and all(href.startswith("#") for href in tags.hrefs)
    style = html[html.index("<style>") : html.index("</style>")]
    assert "url(" not in style and "@import" not in style
    assert "default-src 'none'" in html
    # the hidden comment on line 1 cannot be closed early by anything from the bundle
    assert len(tags.comments) == 1


# -- receipts and cases ----------------------------------------------------------------------
def test_a_receipt_changed_after_sealing_is_named(built: Built, tmp_path: Path) -> None:
    receipt = built.receipts[0]
    data = json.loads(receipt.read_text())
    data["summary"] = "rotated 0 keys"
    receipt.write_text(json.dumps(data))
    html = render(built, tmp_path / "r.html").out.read_text(encoding="utf-8")
    assert html.count("sealed in this bundle (same SHA-256)") == 2
    assert f"CHANGED since it was sealed in bundle {built.first.name}" in html
    receipt.write_text("{not json")
    html = render(built, tmp_path / "r2.html").out.read_text(encoding="utf-8")
    assert f"Receipt {receipt.name} could not be read" in html


def test_the_later_bundle_links_back_and_a_missing_previous_is_named(
    built: Built, tmp_path: Path
) -> None:
    html = render(built, tmp_path / "r.html", bundle=built.second).out.read_text(encoding="utf-8")
    first_sha = hashlib.sha256((built.first / "statement.dsse.json").read_bytes()).hexdigest()
    assert "unchanged: matches the link" in html and first_sha in html
    # only the second receipt-free bundle: the case receipts are sealed in the first
    assert html.count(f"sealed in bundle {built.first.name} (same SHA-256)") == 3
    alone = tmp_path / "alone" / built.second.name
    shutil.copytree(built.second, alone)
    done = render(built, tmp_path / "alone.html", bundle=alone)
    html = done.out.read_text(encoding="utf-8")
    assert "not beside this bundle: not checked" in html and first_sha in html
    assert "the case folder was not at hand" in html
    # the link is a check not made: no verdict (and exit 1) unless waived by name
    assert done.verdict == "no-verdict" and not done.ok and done.failed == []
    assert done.not_checked == ["link to the previous bundle"]
    waived = render(built, tmp_path / "waived.html", bundle=alone, no_previous_check=True)
    assert waived.verdict == "verified" and waived.ok
    html = waived.out.read_text(encoding="utf-8")
    assert "not made, by choice: link to the previous bundle" in html


def test_a_bundle_sealed_from_a_folder_reports_from_its_statement(tmp_path: Path) -> None:
    keys = generate(tmp_path / "keys")
    source = tmp_path / "evidence"
    source.mkdir()
    (source / "access.log").write_text("10.0.0.1 GET /admin 200\n" * 10)
    sealed = seal(
        SealSettings(
            source=source,
            out=tmp_path / "b1",
            incident="INC-9",
            severity="P2",
            recipients=[keys.recipient],
            signing_key=keys.signing_key,
        )
    )
    done = report(
        ReportSettings(bundle=sealed.bundle, out=tmp_path / "r.html", pubkeys=[keys.signing_pub])
    )
    html = done.out.read_text(encoding="utf-8")
    assert done.verdict == "verified" and done.receipts == 0
    assert "INC-9" in html and "P2" in html
    assert "the bundle&#39;s statement and custody log" in html
    assert "no source recorded" in html
    assert sealed.artifacts[0]["plaintext"]["sha256"] in html


def test_a_case_named_that_is_not_the_bundles_is_said_so(built: Built, tmp_path: Path) -> None:
    other = open_case(OpenSettings(incident_id="INC-7", severity="P3", title="other"))
    done = render(built, tmp_path / "r.html", case=str(other.case))
    html = done.out.read_text(encoding="utf-8")
    assert "The bundle names incident INC-2026-0042, but the case is INC-7" in html


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_is_one_error_naming_the_setting(built: Built, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is a folder") as refused:
        render(built, tmp_path)
    assert refused.value.field == "out"
    with pytest.raises(BadInput, match="inside the bundle") as refused:
        render(built, built.first / "report.html")
    assert refused.value.field == "out" and not (built.first / "report.html").exists()
    with pytest.raises(BadInput, match="is not a bundle"):
        render(built, tmp_path / "r.html", bundle=tmp_path / "keys")
    with pytest.raises(BadInput, match="trust folder not found"):
        report(ReportSettings(bundle=built.first, out=tmp_path / "r.html", trust=[tmp_path / "no"]))
    assert not (tmp_path / "r.html").exists()


# -- the timeline's geometry -----------------------------------------------------------------
def test_the_timeline_orders_ties_and_cuts_long_gaps() -> None:
    at = parse_rfc3339("2026-11-27T06:00:00Z")
    events = [
        Event(at + timedelta(days=30), "custody", "custody: decrypted"),
        Event(at + timedelta(minutes=5), "containment", "contain.block"),
        Event(at, "evidence", "b"),
        Event(at, "awareness", "aware"),
        Event(at, "evidence", "a"),
        Event(at + timedelta(minutes=20), "notices", "notify.send", result="failed"),
    ]
    ordered_events = ordered(events)
    assert [e.what for e in ordered_events] == [
        "aware", "a", "b", "contain.block", "notify.send", "custody: decrypted",
    ]  # fmt: skip
    chart = layout(ordered_events)
    assert chart == layout(ordered(list(reversed(events))))
    xs = [m.x for m in chart.markers]
    assert xs == sorted(xs) and chart.plot_left <= xs[0] and xs[-1] <= chart.plot_right
    # the 30 days are cut out (and labelled); the 20 busy minutes keep most of the width
    assert [b.label for b in chart.breaks] == ["29 d 23 h"]
    assert xs[4] - xs[0] > 0.6 * (chart.plot_right - chart.plot_left)
    assert [m.failed for m in chart.markers] == [False, False, False, False, True, False]
    single = layout([Event(at, "detection", "x")])
    assert len(single.markers) == 1 and single.breaks == [] and len(single.ticks) == 1
    assert layout([]).markers == []
