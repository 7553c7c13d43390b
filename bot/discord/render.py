"""Answers, summaries, passages and source lists as pages that fit Discord's embed limits.

Nothing here imports Discord: a :class:`Page` is plain data that ``replies.to_embed`` turns into
an embed, so the layout and every limit can be unit-tested without a client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlsplit

from bot.answering.data import Answer, Citation, Summary
from bot.discord import limits
from index.store import SourceInfo

GROUNDED_COLOUR = 0x2ECC71
REFUSAL_COLOUR = 0xF1C40F
SUMMARY_COLOUR = 0x3498DB
INFO_COLOUR = 0x5865F2

QUOTE_CHARS = 300
PASSAGE_CONTEXT_CHARS = 300
FIELDS_PER_PAGE = 10
SOURCES_CHARS = 500  # the footer's list of sources; the rest is one tap away ("Show passage")
_FOOTER_BUDGET = 40  # room kept on every page for "Page 12/34"
LINK_LINE_CHARS = 1000  # a longer address is left out of a passage's page rather than crowd the passage

SUMMARY_MODES: dict[str, str] = {
    "tldr": "TL;DR",
    "key-points": "Key points",
    "timeline": "Timeline",
    "who": "Who's who",
    "quotes": "Quotes",
}

REFUSAL_HINT = "Nothing in the documents I answer from covers that, so I won't guess. See `/sources` for what they are."
RELATED_TITLE = "Closest passage (not an answer)"
RELATED_NOTE = "This passage came closest, but it does not answer the question."


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


@dataclass(frozen=True, slots=True)
class SourceLabel:
    """How a document is named to people: a web page's (or HTML file's) title, and the address
    it was fetched from. A plain file has neither and is named by its file name."""

    title: str | None = None
    url: str | None = None


SourceLabels = Mapping[str, SourceLabel]
NO_LABELS: SourceLabels = {}


def labels_of(infos: Iterable[SourceInfo]) -> dict[str, SourceLabel]:
    """The labels worth keeping: documents with a title or an address."""
    return {i.source: SourceLabel(i.title, i.url) for i in infos if i.title or i.url}


def source_name(source: str, labels: SourceLabels = NO_LABELS) -> str:
    """A document's title if it has one, else its file name (plain text, e.g. for footers)."""
    label = labels.get(source)
    return (label.title if label else None) or source


def safe_url(url: str | None) -> str | None:
    """An http(s) address fit for a markdown link: characters that would end the link
    (parentheses, spaces, angle brackets) percent-encoded; anything else is no link at all."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def markdown_link(text: str, url: str | None, *, preview: bool = True) -> str:
    """``text`` (escaped) as a masked link to ``url``, or just the text when there is no usable
    address. ``preview=False`` wraps the address in <> so Discord adds no link preview."""
    shown = escape_markdown(text).replace("[", "\\[").replace("]", "\\]")
    target = safe_url(url)
    if target is None:
        return shown
    return f"[{shown}](<{target}>)" if not preview else f"[{shown}]({target})"


def linked_source(source: str, labels: SourceLabels = NO_LABELS, *, preview: bool = True) -> str:
    """A document's name for markdown: its title, linked to its address when it has one."""
    label = labels.get(source)
    return markdown_link(source_name(source, labels), label.url if label else None, preview=preview)


def short_quote(passage: str, limit: int = QUOTE_CHARS) -> str:
    """A citation's passage as a one-line quote, cut at a word boundary."""
    flat = re.sub(r"\s+", " ", passage).strip()
    return f"“{escape_markdown(limits.truncate(flat, limit))}”"


def paginate(
    title: str,
    body: str,
    fields: Sequence[Field] = (),
    colour: int = INFO_COLOUR,
    *,
    description_limit: int = limits.EMBED_DESCRIPTION,
    fields_per_page: int = FIELDS_PER_PAGE,
    footer: str = "",
) -> list[Page]:
    """Lay out a title, a long body and fields over as many pages as needed; each page fits the
    description, field-count and total limits, and pages say "Page i/n" when there are several
    (after ``footer``, which every page shows)."""
    title = limits.truncate(title, limits.EMBED_TITLE)
    footer = limits.truncate(footer, SOURCES_CHARS)
    bodies = limits.split_text(body, description_limit) if body.strip() else [""]
    pages = [Page(title, text, (), colour, footer) for text in bodies]
    for item in fields:
        item = Field(limits.truncate(item.name, limits.FIELD_NAME), limits.truncate(item.value, limits.FIELD_VALUE))
        last = pages[-1]
        room = limits.EMBED_TOTAL - _FOOTER_BUDGET - page_length(last)
        if len(last.fields) < min(fields_per_page, limits.EMBED_FIELDS) and len(item.name) + len(item.value) <= room:
            pages[-1] = replace(last, fields=(*last.fields, item))
        else:
            pages.append(Page(title, "", (item,), colour, footer))
    if len(pages) > 1:
        pages = [replace(p, footer=page_footer(footer, i, len(pages))) for i, p in enumerate(pages, start=1)]
    return pages


def page_footer(footer: str, page: int, pages: int) -> str:
    return f"{footer} · Page {page}/{pages}" if footer else f"Page {page}/{pages}"


def _with_citations(pages: list[Page], citations: Iterable[Citation]) -> list[Page]:
    """Note on each page which citations it mentions, for its "Show passage" buttons."""
    numbers = [c.n for c in citations]
    out = []
    for page in pages:
        text = page.description + " ".join(f.name for f in page.fields)
        shown = tuple(n for n in numbers if f"[{n}]" in text)
        out.append(replace(page, citations=shown))
    return out


def quote_line(citation: Citation, limit: int = QUOTE_CHARS) -> str:
    """A citation's words, once, as a block quote marked ``[n]`` (cut at a word if very long:
    "Show passage" has the rest)."""
    return f"> {short_quote(citation.passage, limit)} [{citation.n}]"


def cited_numbers(citations: Iterable[Citation]) -> dict[str, list[int]]:
    """The citation numbers of each cited source, in order of first citation."""
    numbers: dict[str, list[int]] = {}
    for citation in citations:
        numbers.setdefault(citation.source, []).append(citation.n)
    return numbers


def sources_line(citations: Iterable[Citation], labels: SourceLabels = NO_LABELS) -> str:
    """Where the quotes come from, on one line: ``ferry.txt [1][2] · Bridge reopens [3]`` (a web
    page by its title). Plain text: it is an embed footer, where links do not work."""
    numbers = cited_numbers(citations).items()
    return " · ".join(f"{source_name(source, labels)} {''.join(f'[{n}]' for n in ns)}" for source, ns in numbers)


def links_line(citations: Iterable[Citation], labels: SourceLabels = NO_LABELS) -> str:
    """The cited web pages as links (the footer above cannot hold one): ``🔗 [Bridge reopens](…) [3]``;
    empty when no cited document has an address."""
    links = [
        f"{linked_source(source, labels)} {''.join(f'[{n}]' for n in ns)}"
        for source, ns in cited_numbers(citations).items()
        if safe_url(labels[source].url if source in labels else None)
    ]
    return f"🔗 {' · '.join(links)}" if links else ""


def with_links(body: str, citations: Iterable[Citation], labels: SourceLabels) -> str:
    links = links_line(citations, labels)
    return f"{body}\n{links}" if links else body


def answer_body(answer: Answer) -> str:
    """What an answer says, from its fields: the short answer in bold (or a model's own words,
    which carry their ``[n]`` markers), then each quote once."""
    lead = ""
    if answer.short_answer is not None:
        lead = f"**{escape_markdown(' '.join(answer.short_answer.text.split()))}**"
    elif answer.mode == "llm":
        lead = escape_markdown(answer.answer.strip())
    quotes = "\n".join(quote_line(c) for c in answer.citations)
    return f"{lead}\n{quotes}" if lead else quotes


def render_answer(answer: Answer, labels: SourceLabels = NO_LABELS) -> list[Page]:
    """An answer that reads as one: the short answer first, the quotes once, the sources on one
    line below (web pages by title, linked). A refusal says so plainly and quotes nothing: the
    closest passage is not an answer (it sits behind a button, labelled so)."""
    if not answer.grounded:
        body = f"**{escape_markdown(answer.answer)}**\n{REFUSAL_HINT}"
        return paginate(answer.question, body, (), REFUSAL_COLOUR)
    body = with_links(answer_body(answer), answer.citations, labels)
    footer = sources_line(answer.citations, labels)
    pages = paginate(answer.question, body, (), GROUNDED_COLOUR, footer=footer)
    return _with_citations(pages, answer.citations)


PREVIEW_NOTE = "\n-# ✍️ drafting… the quotes are checked against the story before the answer is final"


def render_preview(text: str) -> str:
    """Message content for a model's answer as it streams in (unchecked text, no quotes yet)."""
    body = escape_markdown(text.strip()) or "…"
    return limits.truncate(body, limits.CONTENT - len(PREVIEW_NOTE)) + PREVIEW_NOTE


def summary_title(summary: Summary) -> str:
    label = SUMMARY_MODES.get(summary.mode, summary.mode)
    return f"Summary: {label}" + (f" of {summary.source}" if summary.source else "")


def render_summary(summary: Summary, labels: SourceLabels = NO_LABELS) -> list[Page]:
    """A cited summary: its lines (the source's own sentences) with [n] markers, sources below."""
    if not summary.lines:
        body = "The documents don't give me enough to summarize in this mode."
        return paginate(summary_title(summary), body, (), REFUSAL_COLOUR)
    footer = sources_line(summary.citations, labels)
    body = with_links(escape_markdown(summary.text()), summary.citations, labels)
    pages = paginate(summary_title(summary), body, (), SUMMARY_COLOUR, footer=footer)
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


def source_link_line(source: str, labels: SourceLabels = NO_LABELS) -> str:
    """``🔗 [Title](address)`` for a document fetched from the web, else nothing (an embed title
    or footer cannot hold a link, so a page's address goes in its description)."""
    label = labels.get(source)
    if safe_url(label.url if label else None) is None:
        return ""
    line = f"🔗 {linked_source(source, labels)}"
    return line if len(line) <= LINK_LINE_CHARS else ""


def render_passage(
    citation: Citation, document_text: str | None, lead: str = "", labels: SourceLabels = NO_LABELS
) -> Page:
    """The full cited passage in bold, with surrounding context when the document is at hand
    (after ``lead``, a line of explanation, when given). A web page is named by its title, as in
    the answer, with a link to its address below the passage."""
    name = source_name(citation.source, labels)
    title = limits.truncate(f"[{citation.n}] {name}", limits.EMBED_TITLE)
    footer = limits.truncate(f"characters {citation.start}–{citation.end} of {name}", limits.EMBED_FOOTER)
    lead = f"{lead}\n\n" if lead else ""
    link = source_link_line(citation.source, labels)
    tail = f"\n\n{link}" if link else ""
    room = limits.EMBED_DESCRIPTION - len(lead) - len(tail)
    passage = escape_markdown(citation.passage.strip())
    if len(passage) + 4 > room:
        body = limits.truncate(passage, room - 4)
        return Page(title, f"{lead}**{body}**{tail}", (), GROUNDED_COLOUR, footer)
    context_chars = PASSAGE_CONTEXT_CHARS
    while True:
        if document_text is None or document_text[citation.start : citation.end] != citation.passage:
            before = after = ""
        else:
            ctx = passage_context(document_text, citation.start, citation.end, context_chars)
            before, after = escape_markdown(ctx.before), escape_markdown(ctx.after)
        body = f"{before}**{passage}**{after}"
        if len(body) <= room or context_chars == 0:
            return Page(title, lead + body + tail, (), GROUNDED_COLOUR, footer)
        context_chars //= 2


def render_related(citation: Citation, document_text: str | None, labels: SourceLabels = NO_LABELS) -> Page:
    """The passage closest to a question the story does not answer, labelled as not an answer."""
    page = render_passage(citation, document_text, lead=f"*{RELATED_NOTE}*", labels=labels)
    title = f"{RELATED_TITLE}: {source_name(citation.source, labels)}"
    return replace(page, title=limits.truncate(title, limits.EMBED_TITLE), colour=REFUSAL_COLOUR)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_sources(infos: Sequence[SourceInfo], where: str, note: str = "") -> list[Page]:
    """The documents answers come from, one line each with its size, after ``note`` (e.g. that
    a server's answers come from the bundled sample because it added nothing)."""
    lines = [f"• {listed_source(i)}: {plural(i.passages, 'passage')}, {i.chars:,} characters" for i in infos]
    body = "\n".join(lines) or "No documents yet."
    return paginate(f"Documents {where}", f"{note}\n\n{body}" if note else body, ())


def listed_source(info: SourceInfo) -> str:
    """A document in a listing: a web page by its title, linked; an HTML file by its title, with
    the file name after it; any other file by its name."""
    name = f"**{linked_source(info.source, labels_of([info]))}**"
    if info.title and not safe_url(info.url):
        name += f" ({escape_markdown(info.source)})"
    return name


def fallback_note(sample: bool) -> str:
    """Why a server without documents of its own is answered from the default collection."""
    what = "the bundled sample story" if sample else "the bot's default documents"
    return (
        f"This server hasn't added any documents, so its answers come from {what}. "
        "Members with **Manage Server** can add the server's own with `/docs add`."
    )


def render_listing(infos: Sequence[SourceInfo], *, in_guild: bool, own: bool, sample: bool) -> list[Page]:
    """/sources and /docs list: a server's documents, or plainly where its answers come from
    while it has none (``own`` False), or, in direct messages, the default collection."""
    if not in_guild:
        return render_sources(infos, "my answers come from")
    if own:
        return render_sources(infos, "in this server")
    return render_sources(infos, "this server's answers come from", note=fallback_note(sample))


HELP_TEXT = """\
I answer questions about a story with **verbatim, cited passages**: every answer quotes the \
text it rests on, and when the story doesn't say, I say so instead of guessing.

**Ask**
• `/ask question:` answers with the quotes it rests on. *Show passage* opens a quote's full \
passage with some context; 👍 / 👎 tell the maintainers how the answer was.
• Mention me in a channel with your question: I answer in a new thread (or in place, if the server \
prefers), where you can keep asking follow-ups ("when is he going there?") without mentioning me; \
others there can mention me.
• Reply to any of my answers to follow up on it.
• `/summary mode:` a cited summary: `tldr`, `key-points`, `timeline`, `who` or `quotes`.
• `/sources` lists the documents this server's answers come from.

**For admins: documents, settings and stats** (*Manage Server*, unless the server's admins changed that)
• `/docs add file:` adds a .txt, .md, .html or .pdf file, and `/docs add url:` a web page's article; \
`/docs remove source:` removes one; `/docs list` lists them. A server that added nothing is answered \
from the bundled sample story, and no server ever sees another server's documents.
• `/settings` chooses where mentions are answered and how, who sees `/ask` answers, and which role \
may manage documents.
• `/stats` shows what members asked in the last 7 and 30 days: how much was answered or refused, \
👍 / 👎, and the questions asked most that the documents don't answer (the ones to add a document for).

**Tips**: ask one thing at a time, use names from the story, and keep questions under \
{max_chars} characters."""


def render_help(max_question_chars: int) -> Page:
    return Page("story-bot", HELP_TEXT.format(max_chars=max_question_chars), (), INFO_COLOUR)
