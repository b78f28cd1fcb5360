"""Notices are written in light Markdown; a mail carries them as plain text and as HTML.

The plain-text part has no Markdown markup left (`**Impact**:` reads `Impact:`), the HTML part
is rendered by markdown-it-py (CommonMark). Notices carry names read from breached systems, so
raw HTML is escaped and links and images are not made: text stays text.
"""

from __future__ import annotations

import re
from functools import cache
from html import escape

from markdown_it import MarkdownIt
from markdown_it.token import Token

_TEXT_ONLY = ["link", "image", "autolink", "html_inline", "html_block"]


@cache
def _parser() -> MarkdownIt:
    # breaks: a notice's line ends are kept, as in its plain text
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).disable(_TEXT_ONLY)


def _inline(children: list[Token] | None) -> str:
    parts = []
    for child in children or []:
        if child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
    return "".join(parts)


def plain_text(markdown: str) -> str:
    """The text without Markdown markup: emphasis dropped, lists as '- ' or 'N. ' lines."""
    lines: list[str] = []
    prefix = ""
    for token in _parser().parse(markdown):
        if token.type == "list_item_open":
            prefix = f"{token.info}{token.markup} " if token.info else "- "
        elif token.type == "inline":
            lines.append(prefix + _inline(token.children))
            prefix = ""
        elif token.type in ("fence", "code_block"):
            lines += [token.content.rstrip("\n"), ""]
        elif token.type in ("bullet_list_close", "ordered_list_close", "hr") or (
            token.type in ("paragraph_close", "heading_close") and not token.hidden
        ):
            lines.append("")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


def html_document(subject: str, markdown: str) -> str:
    """The notice as a small HTML document (the mail's alternative part)."""
    body = _parser().render(markdown)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n<body>\n{body}</body></html>\n"
    )
