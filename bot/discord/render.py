"""Answers, summaries, passages and source lists as pages that fit Discord's embed limits.

Nothing here imports Discord: a :class:`Page` is plain data that ``replies.to_embed`` turns into
an embed, so the layout and every limit can be unit-tested without a client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from bot.answering.data import Answer, Citation, Summary
from bot.discord import limits
from index.store import SourceInfo

GROUNDED_COLOUR = 0x2ECC71
REFUSAL_COLOUR = 0xF1C40F
SUMMARY_COLOUR = 0x3498DB
INFO_COLOUR = 0x5865F2

QUOTE_CHARS = 220
PASSAGE_CONTEXT_CHARS = 300
FIELDS_PER_PAGE = 10
_FOOTER_BUDGET = 40  # room kept on every page for "Page 12/34"

SUMMARY_MODES: dict[str, str] = {
    "tldr": "TL;DR",
    "key-points": "Key points",
    "timeline": "Timeline",
    "who": "Who's who",
    "quotes": "Quotes",
}

REFUSAL_HINT = (
    "Nothing in the documents I answer from covers that, so I won't guess. "
    "Try rephrasing, or see `/sources` for what I can answer from."
)


@dataclass(frozen=True, slots=True)
class Field:
    """An embed field: a short name and a value of at most 1024 characters."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Page:
    """One embed's worth of content, already within every Discord limit."""

    title: str
    description: str = ""
    fields: tuple[Field, ...] = ()
    colour: int = INFO_COLOUR
    footer: str = ""
    citations: tuple[int, ...] = field(default=())  # citation numbers shown on this page


def page_length(page: Page) -> int:
    """The characters Discord counts towards the 6000 per-embed total."""
    return (
        len(page.title)
        + len(page.description)
        + len(page.footer)
        + sum(len(f.name) + len(f.value) for f in page.fields)
    )


_MARKDOWN = re.compile(r"([\\*_~`|])")
_LINE_START = re.compile(r"(?m)^(\s*)([#>-])")


def escape_markdown(text: str) -> str:
    """Show text verbatim: Discord hides the backslashes, so a quote reads exactly as written."""
    return _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text))


def short_quote(passage: str, limit: int = QUOTE_CHARS) -> str:
    """A citation's passage as a one-line quote, cut at a word boundary."""
    flat = re.sub(r"\s+", " ", passage).strip()
    return f"“{escape_markdown(limits.truncate(flat, limit))}”"


def citation_field(citation: Citation) -> Field:
    """``[n] source`` over a short quote: enough to judge the answer, "Show passage" for more."""
    name = limits.truncate(f"[{citation.n}] {citation.source}", limits.FIELD_NAME)
    return Field(name, short_quote(citation.passage))


def paginate(
    title: str,
    body: str,
    fields: Sequence[Field] = (),
    colour: int = INFO_COLOUR,
    *,
    description_limit: int = limits.EMBED_DESCRIPTION,
    fields_per_page: int = FIELDS_PER_PAGE,
) -> list[Page]:
    """Lay out a title, a long body and fields over as many pages as needed; each page fits the
    description, field-count and total limits, and pages say "Page i/n" when there are several."""
    title = limits.truncate(title, limits.EMBED_TITLE)
    bodies = limits.split_text(body, description_limit) if body.strip() else [""]
    pages = [Page(title, text, (), colour) for text in bodies]
    for item in fields:
        item = Field(limits.truncate(item.name, limits.FIELD_NAME), limits.truncate(item.value, limits.FIELD_VALUE))
        last = pages[-1]
        room = limits.EMBED_TOTAL - _FOOTER_BUDGET - page_length(last)
        if len(last.fields) < min(fields_per_page, limits.EMBED_FIELDS) and len(item.name) + len(item.value) <= room:
            pages[-1] = replace(last, fields=(*last.fields, item))
        else:
            pages.append(Page(title, "", (item,), colour))
    if len(pages) > 1:
        pages = [replace(p, footer=f"Page {i}/{len(pages)}") for i, p in enumerate(pages, start=1)]
    return pages


def _with_citations(pages: list[Page], citations: Iterable[Citation]) -> list[Page]:
    """Note on each page which citations it mentions, for its "Show passage" buttons."""
    numbers = [c.n for c in citations]
    out = []
    for page in pages:
        text = page.description + " ".join(f.name for f in page.fields)
        shown = tuple(n for n in numbers if f"[{n}]" in text)
        out.append(replace(page, citations=shown))
    return out


def render_answer(answer: Answer) -> list[Page]:
    """An answer: the quoted text with its [n] markers, then each citation with its source.

    A refusal says so plainly and quotes nothing: the closest passage is not an answer.
    """
    if not answer.grounded:
        body = f"**{escape_markdown(answer.answer)}**\n\n{REFUSAL_HINT}"
        return paginate(answer.question, body, (), REFUSAL_COLOUR)
    fields = [citation_field(c) for c in answer.citations]
    pages = paginate(answer.question, escape_markdown(answer.answer), fields, GROUNDED_COLOUR)
    return _with_citations(pages, answer.citations)


PREVIEW_NOTE = "\n-# ✍️ drafting… the quotes are checked against the story before the answer is final"


def render_preview(text: str) -> str:
    """Message content for a model's answer as it streams in (unchecked text, no quotes yet)."""
    body = escape_markdown(text.strip()) or "…"
    return limits.truncate(body, limits.CONTENT - len(PREVIEW_NOTE)) + PREVIEW_NOTE


def summary_title(summary: Summary) -> str:
    label = SUMMARY_MODES.get(summary.mode, summary.mode)
    return f"Summary: {label}" + (f" of {summary.source}" if summary.source else "")


def render_summary(summary: Summary) -> list[Page]:
    """A cited summary, laid out like an answer: the lines with [n] markers, then the quotes."""
    if not summary.lines:
        body = "The documents don't give me enough to summarize in this mode."
        return paginate(summary_title(summary), body, (), REFUSAL_COLOUR)
    fields = [citation_field(c) for c in summary.citations]
    pages = paginate(summary_title(summary), escape_markdown(summary.text()), fields, SUMMARY_COLOUR)
    return _with_citations(pages, summary.citations)


@dataclass(frozen=True, slots=True)
class PassageContext:
    """A cited passage with a little of the text around it, cut at word boundaries."""

    before: str
    passage: str
    after: str


def passage_context(text: str, start: int, end: int, context_chars: int = PASSAGE_CONTEXT_CHARS) -> PassageContext:
    """The passage ``text[start:end]`` with up to ``context_chars`` of context on each side."""
    lo = max(0, start - context_chars)
    hi = min(len(text), end + context_chars)
    before, after = text[lo:start], text[end:hi]
    if lo > 0:
        space = before.find(" ")
        before = limits.ELLIPSIS + (before[space + 1 :] if 0 <= space < len(before) // 2 else before)
    if hi < len(text):
        space = after.rfind(" ")
        after = (after[:space] if space > len(after) // 2 else after) + limits.ELLIPSIS
    return PassageContext(before, text[start:end], after)


def render_passage(citation: Citation, document_text: str | None) -> Page:
    """The full cited passage in bold, with surrounding context when the document is at hand."""
    title = limits.truncate(f"[{citation.n}] {citation.source}", limits.EMBED_TITLE)
    footer = f"characters {citation.start}–{citation.end} of {citation.source}"
    passage = escape_markdown(citation.passage.strip())
    if len(passage) + 4 > limits.EMBED_DESCRIPTION:
        body = limits.truncate(passage, limits.EMBED_DESCRIPTION - 4)
        return Page(title, f"**{body}**", (), GROUNDED_COLOUR, limits.truncate(footer, limits.EMBED_FOOTER))
    context_chars = PASSAGE_CONTEXT_CHARS
    while True:
        if document_text is None or document_text[citation.start : citation.end] != citation.passage:
            before = after = ""
        else:
            ctx = passage_context(document_text, citation.start, citation.end, context_chars)
            before, after = escape_markdown(ctx.before), escape_markdown(ctx.after)
        body = f"{before}**{passage}**{after}"
        if len(body) <= limits.EMBED_DESCRIPTION or context_chars == 0:
            return Page(title, body, (), GROUNDED_COLOUR, limits.truncate(footer, limits.EMBED_FOOTER))
        context_chars //= 2


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_sources(infos: Sequence[SourceInfo], where: str) -> list[Page]:
    """The documents answers come from, one line each with its size."""
    if not infos:
        return paginate(f"Documents {where}", "No documents yet.", ())
    lines = [
        f"• **{escape_markdown(i.source)}**: {plural(i.passages, 'passage')}, {i.chars:,} characters" for i in infos
    ]
    return paginate(f"Documents {where}", "\n".join(lines), ())


HELP_TEXT = """\
I answer questions about a story with **verbatim, cited passages**: every answer quotes the \
text it rests on, and when the story doesn't say, I say so instead of guessing.

**Ask**
• `/ask question:` answers with numbered citations. *Show passage* opens the full passage with \
some context; 👍 / 👎 tell the maintainers how the answer was.
• Mention me in a channel with your question: I answer in a new thread, and you can keep asking \
follow-ups there ("when is he going there?") without mentioning me again.
• `/summary mode:` a cited summary: `tldr`, `key-points`, `timeline`, `who` or `quotes`.
• `/sources` lists the documents this server's answers come from.

**Manage documents** (needs the *Manage Server* permission)
• `/docs add file:` adds a .txt, .md, .html or .pdf file; `/docs remove source:` removes one; \
`/docs list` lists them. A server that added nothing is answered from the bundled sample story, \
and no server ever sees another server's documents.

**Tips**: ask one thing at a time, use names from the story, and keep questions under \
{max_chars} characters."""


def render_help(max_question_chars: int) -> Page:
    return Page("story-bot", HELP_TEXT.format(max_chars=max_question_chars), (), INFO_COLOUR)
