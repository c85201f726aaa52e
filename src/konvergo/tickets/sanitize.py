"""Rich text of tickets (descriptions, replies, notes) is stored as sanitised HTML.

Agents and customers may send HTML (from a rich editor or an e-mail) or plain text; either way
what is stored can be rendered with `|safe`: nh3 (ammonia) keeps formatting tags only, drops
scripts, event handlers and `javascript:` links, and marks links noopener.
"""

from __future__ import annotations

import re

import nh3
from django.utils.html import escape, linebreaks

TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "hr",
    "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
_LOOKS_LIKE_HTML = re.compile(r"<[a-zA-Z!/][^>]*>")


def clean_html(text: str) -> str:
    """Safe HTML from what a user typed: plain text keeps its paragraphs and line breaks."""
    text = (text or "").strip()
    if not text:
        return ""
    if not _LOOKS_LIKE_HTML.search(text):
        text = linebreaks(escape(text))
    return nh3.clean(
        text,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    ).strip()


def plain_text(html: str) -> str:
    """The text of sanitised HTML, for previews and search."""
    return nh3.clean(html or "", tags=set()).strip()
