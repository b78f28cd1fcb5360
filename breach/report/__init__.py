"""The evidence report's presentation: one Jinja2 template (HTML, inline CSS, inline SVG, no
script) and what each verification check proves, in words for counsel.

`render(context)` fills the template with autoescaping on: every string from a bundle or a case
(artifact, table and file names, reasons, receipts) is HTML-escaped, since a name read from a
breached system is attacker-controlled. breach.procedure.report gathers the context.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup, escape

TEMPLATE = "report.html.j2"

# What a passed check proves, by the check's name in manifests.verify.
PROVES: dict[str, str] = {
    "bag declaration": (
        "The folder is a BagIt 1.0 bag (RFC 8493), a standard layout that archival tools read."
    ),
    "evidence files (payload manifest)": (
        "Every encrypted evidence file listed at sealing is present, none was added, and each "
        "still has the SHA-256 recorded in manifest-sha256.txt (sha256sum -c gives the same "
        "answer)."
    ),
    "bundle metadata (tag manifest)": (
        "The bundle's own description (the signed statement, the signer's public key, the "
        "manifests and VERIFY.md) is unchanged since sealing."
    ),
    "signer identity": (
        "The key that signed is the trust anchor given for this report, a key known to belong "
        "to the sealer, not merely the key shipped inside the bundle."
    ),
    "signature over the statement": (
        "The statement (the incident, every artifact with its source, collector and hashes) was "
        "signed by that key and not altered by one byte since (DSSE over an in-toto statement)."
    ),
    "statement matches the files": (
        "The evidence files are exactly the ones the signed statement lists, with the same "
        "SHA-256: the signature covers the evidence itself, not just a description of it."
    ),
    "link to the previous bundle": (
        "The case's previous bundle, which this one names by the SHA-256 of its signed "
        "statement, is unchanged: no earlier bundle was replaced."
    ),
    "chain of custody": (
        "Every custody event since sealing is signed and linked by hash to the one before it: "
        "no entry was altered, reordered or removed before the last one, and the first records "
        "the sealing of this very bundle."
    ),
    "custody signers": (
        "The sealing entry is signed by the key that signed the statement, and every later "
        "custody entry by a key given as a trusted custodian's (never merely a key shipped "
        "inside the bundle): each event was recorded by someone vouched for."
    ),
    "custody log against the case journal": (
        "Every custody event the case journal recorded for this bundle is still in its custody "
        "log: no entry was dropped from the log's end (which the log alone cannot show)."
    ),
}
UNKNOWN_CHECK = "A check of this bundle made by breach verify."


@cache
def _template() -> Template:
    env = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["breakable"] = breakable
    source = files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    return env.from_string(source)


def breakable(value: object) -> Markup:
    """An RFC 3339 time that may wrap after its date (escaped: the text may be a bundle's)."""
    date, sep, rest = str(value).partition("T")
    return escape(date) + (Markup("T<wbr>") + escape(rest) if sep else Markup(""))


def render(context: dict[str, Any]) -> str:
    """The report's HTML for `context` (see breach.procedure.report); the same context, the same
    text."""
    return _template().render(**context)
