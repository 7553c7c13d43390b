"""Optional chat-model answers that keep story-bot's promises.

With ``llm_provider`` set, questions are answered by a chat model from the numbered passages, but
nothing the model writes is shown unchecked: :mod:`bot.llm.verify` keeps only the sentences a
passage supports and turns each supporting quote into an exact-offset citation. A model that is
slow, down, rate limited, or whose answer has no verified citation gives way to the offline
answerer's answer (``mode="extractive"`` with a ``fallback_reason``) within ``llm_timeout``.

Entry point: :func:`build_llm_answer_chain`, used by ``StoryService``, which also streams answers
(:meth:`LLMAnswerChain.astream_answer`) for the Discord bot to show while they are written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils.json import parse_partial_json

from bot.answering.answerer import NOT_IN_STORY, Answerer
from bot.answering.chain import verify_citations
from bot.answering.data import Answer, Turn
from bot.answering.questions import AnswerRequest, as_request, clean_question, standalone_query
from bot.errors import QuestionError
from bot.llm.model import Deadline, ModelOutcome, ModelStreamEnd, TimedChatModel, TokenUsage, describe_failure
from bot.llm.prompts import PromptPassage, answer_messages, condense_messages
from bot.llm.verify import parse_reply_text, strip_markers, verify_reply
from bot.logs import log_event
from bot.workers import WorkerPool
from config import Settings
from index.retriever import HybridRetriever, Retrieval

logger = logging.getLogger("storybot.llm")

DocumentText = Callable[[str], str | None]

_PARTIAL_MARKER = re.compile(r"\[[\d,;\s]*$")
_CLOSED_QUOTE = re.compile(r"“[^”]*”|\"[^\"]*\"")
_OPEN_QUOTE = re.compile(r"[“\"]")
_LEADING_FENCE = re.compile(r"^```[a-zA-Z]*\s*")


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What became of a model reply: an answer to show, or the reason to fall back."""

    answer: Answer | None
    reason: str | None = None


class LLMAnswerer:
    """Answer from the retrieved passages with a chat model; fall back to the offline answerer's."""

    def __init__(
        self,
        model: TimedChatModel,
        fallback: Answerer,
        document_text: DocumentText,
        timeout: float,
        pool: WorkerPool,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.document_text = document_text
        self.timeout = timeout
        self.pool = pool

    def answer(self, question: str, retrieval: Retrieval, deadline: Deadline | None = None) -> Answer:
        """Same contract as :meth:`bot.answering.answerer.Answerer.answer`, never slower than the deadline."""
        deadline = deadline or Deadline.after(self.timeout)
        if not retrieval.passages:
            return self.fallback.answer(question, retrieval)
        started = monotonic()
        try:
            outcome = self.model.reply(answer_messages(question, prompt_passages(retrieval)), deadline)
        except Exception as exc:
            return self._fall_back(question, retrieval, describe_failure(exc), started, TokenUsage())
        return self._settle(question, retrieval, outcome, started)

    async def aanswer(self, question: str, retrieval: Retrieval, deadline: Deadline | None = None) -> Answer:
        """:meth:`answer` for async callers: the model call is awaited and cancelled at the deadline."""
        deadline = deadline or Deadline.after(self.timeout)
        if not retrieval.passages:
            return await self.pool.run(self.fallback.answer, question, retrieval)
        started = monotonic()
        try:
            outcome = await self.model.areply(answer_messages(question, prompt_passages(retrieval)), deadline)
        except Exception as exc:
            return await self._afall_back(question, retrieval, describe_failure(exc), started, TokenUsage())
        return await self._asettle(question, retrieval, outcome, started)

    async def astream(
        self, question: str, retrieval: Retrieval, deadline: Deadline | None = None
    ) -> AsyncIterator[str | Answer]:
        """Previews of the answer being written (each replaces the last), then the verified Answer.

        Previews are unverified, so they hide what only verification may show: ``[n]`` markers
        and anything inside quotation marks.
        """
        deadline = deadline or Deadline.after(self.timeout)
        if not retrieval.passages:
            yield await self.pool.run(self.fallback.answer, question, retrieval)
            return
        started = monotonic()
        raw, shown, end = "", "", ModelStreamEnd("", TokenUsage())
        try:
            async for item in self.model.astream(answer_messages(question, prompt_passages(retrieval)), deadline):
                if isinstance(item, ModelStreamEnd):
                    end = item
                    continue
                raw += item
                if (text := preview_text(raw)) and text != shown:
                    shown = text
                    yield text
        except Exception as exc:
            yield await self._afall_back(question, retrieval, describe_failure(exc), started, TokenUsage())
            return
        outcome = ModelOutcome(parse_reply_text(end.text), end.usage)
        yield await self._asettle(question, retrieval, outcome, started)

    def _settle(self, question: str, retrieval: Retrieval, outcome: ModelOutcome, started: float) -> Answer:
        """The verified model answer, or the offline answerer's when verification leaves nothing."""
        verdict = self._judge(question, retrieval, outcome)
        if verdict.answer is None:
            return self._fall_back(question, retrieval, verdict.reason, started, outcome.usage)
        return _logged(verdict.answer, started, outcome.usage)

    async def _asettle(self, question: str, retrieval: Retrieval, outcome: ModelOutcome, started: float) -> Answer:
        return await self.pool.run(self._settle, question, retrieval, outcome, started)

    def _judge(self, question: str, retrieval: Retrieval, outcome: ModelOutcome) -> _Verdict:
        """The verified answer a reply amounts to, or why there is none."""
        if outcome.reply is None:
            return _Verdict(None, "unreadable model output")
        passages = [hit.passage for hit in retrieval.passages]
        verified = verify_reply(outcome.reply, passages, [hit.score for hit in retrieval.passages])
        if verified.refused:
            return _Verdict(Answer(question, NOT_IN_STORY, grounded=False, mode="llm"))
        if not verified.claims:
            return _Verdict(None, "no verified citation")
        confidence = round(len(verified.claims) / verified.total_claims, 4)
        answer = Answer(question, verified.text, True, verified.citations, mode="llm", confidence=confidence)
        if verify_citations(answer, self.document_text).citations != answer.citations:
            return _Verdict(None, "citation does not match the document")  # index out of date
        return _Verdict(answer)

    def _fall_back(
        self, question: str, retrieval: Retrieval, reason: str | None, started: float, usage: TokenUsage
    ) -> Answer:
        answer = replace(self.fallback.answer(question, retrieval), mode="extractive", fallback_reason=reason)
        return _logged(answer, started, usage)

    async def _afall_back(
        self, question: str, retrieval: Retrieval, reason: str | None, started: float, usage: TokenUsage
    ) -> Answer:
        return await self.pool.run(self._fall_back, question, retrieval, reason, started, usage)


def prompt_passages(retrieval: Retrieval) -> list[PromptPassage]:
    """The retrieved passages numbered 1..k in rank order, as the prompt and the verifier number them."""
    return [PromptPassage(n, hit.passage.source, hit.passage.text) for n, hit in enumerate(retrieval.passages, 1)]


def _logged(answer: Answer, started: float, usage: TokenUsage) -> Answer:
    """One log record per answer: mode, latency and tokens as fields, the fallback reason as a
    warning (once, without a traceback: the reason is all an operator can act on)."""
    log_event(
        logger,
        "llm_answer",
        logging.WARNING if answer.fallback_reason else logging.INFO,
        mode=answer.mode,
        fallback_reason=answer.fallback_reason,
        latency_ms=round((monotonic() - started) * 1000, 1),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        citations=len(answer.citations),
    )
    return answer


def preview_text(raw: str) -> str:
    """The readable part of a reply still arriving: the ``answer`` of the JSON being written (or
    the prose), without ``[n]`` markers, with quotations shown as “…” until verified."""
    body = _LEADING_FENCE.sub("", raw.lstrip())
    if body.startswith("{"):
        data = parse_partial_json(body)
        text = data.get("answer") if isinstance(data, dict) else None
        text = text if isinstance(text, str) else ""
    elif body.startswith("`"):
        return ""
    else:
        text = body
    text = _CLOSED_QUOTE.sub("\x00", _PARTIAL_MARKER.sub("", text))
    if (opening := _OPEN_QUOTE.search(text)) is not None:
        text = text[: opening.start()]
    return strip_markers(text.replace("\x00", "“…”"))


# --- the chain ---------------------------------------------------------------------------------


class LLMAnswerChain(Runnable[Any, Answer]):
    """question (str, dict or AnswerRequest) → verified :class:`Answer`, with a chat model.

    Like :func:`bot.answering.chain.build_answer_chain`, plus: a follow-up is first rewritten by the model
    as a standalone question (the word-borrowing :func:`standalone_query` when that fails), and
    :meth:`astream_answer` streams. One deadline of ``timeout`` seconds covers every model call of
    an answer.
    """

    def __init__(
        self,
        retriever: HybridRetriever,
        answerer: LLMAnswerer,
        document_text: DocumentText,
        max_question_chars: int = 1000,
        history_turns: int = 3,
    ) -> None:
        self.retriever = retriever
        self.answerer = answerer
        self.document_text = document_text
        self.max_question_chars = max_question_chars
        self.history_turns = history_turns
        self.name = "story_answer_llm"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        request, question = self._prepare(input)
        deadline = Deadline.after(self.answerer.timeout)
        query, asked = self._standalone(request, question, deadline)
        answer = self.answerer.answer(asked, self.retriever.retrieve(query), deadline)
        return verify_citations(replace(answer, question=question), self.document_text)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        request, question = self._prepare(input)
        deadline = Deadline.after(self.answerer.timeout)
        query, asked = await self._astandalone(request, question, deadline)
        retrieval = await self.answerer.pool.run(self.retriever.retrieve, query)
        answer = await self.answerer.aanswer(asked, retrieval, deadline)
        return await self.answerer.pool.run(verify_citations, replace(answer, question=question), self.document_text)

    async def astream_answer(self, input: Any) -> AsyncIterator[str | Answer]:
        """Preview strings (each the whole answer so far, to replace the last), then the Answer."""
        request, question = self._prepare(input)
        deadline = Deadline.after(self.answerer.timeout)
        query, asked = await self._astandalone(request, question, deadline)
        retrieval = await self.answerer.pool.run(self.retriever.retrieve, query)
        async for item in self.answerer.astream(asked, retrieval, deadline):
            if isinstance(item, Answer):
                item = await self.answerer.pool.run(
                    verify_citations, replace(item, question=question), self.document_text
                )
            yield item

    def _prepare(self, value: Any) -> tuple[AnswerRequest, str]:
        request = as_request(value)
        return request, clean_question(request.question, self.max_question_chars)

    def _standalone(self, request: AnswerRequest, question: str, deadline: Deadline) -> tuple[str, str]:
        """(query to retrieve with, question to answer): both the model's standalone question when
        it gives one; otherwise the word-borrowing query and the question as asked."""
        history = self._history(request)
        if not history:
            return question, question
        try:
            text = self.answerer.model.text(condense_messages(question, history), _half(deadline))
        except Exception as exc:
            text = _condense_failed(exc)
        return self._standalone_from(text, request, question)

    async def _astandalone(self, request: AnswerRequest, question: str, deadline: Deadline) -> tuple[str, str]:
        history = self._history(request)
        if not history:
            return question, question
        try:
            text = await self.answerer.model.atext(condense_messages(question, history), _half(deadline))
        except Exception as exc:
            text = _condense_failed(exc)
        return self._standalone_from(text, request, question)

    def _history(self, request: AnswerRequest) -> tuple[Turn, ...]:
        return request.history[-self.history_turns :] if self.history_turns > 0 else ()

    def _standalone_from(self, text: str, request: AnswerRequest, question: str) -> tuple[str, str]:
        condensed = _condensed_question(text, self.max_question_chars)
        if condensed is not None:
            return condensed, condensed
        return standalone_query(replace(request, question=question), self.history_turns), question


def _half(deadline: Deadline) -> Deadline:
    """Condensing gets at most half the time left, so the answer itself still has a chance."""
    return Deadline(min(deadline.at, monotonic() + deadline.remaining() / 2))


def _condense_failed(exc: Exception) -> str:
    log_event(logger, "llm_condense_failed", logging.WARNING, reason=describe_failure(exc), then="borrowing words")
    return ""


def _condensed_question(text: str, max_chars: int) -> str | None:
    """The first line of the model's rewrite, without labels or quotes; None if unusable."""
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^\s*(standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE)
    line = line.strip().strip("\"'“”‘’` ")
    try:
        return clean_question(line, max_chars)
    except QuestionError:
        return None


def build_llm_answer_chain(
    retriever: HybridRetriever,
    offline: Answerer,
    document_text: DocumentText,
    settings: Settings,
    model: TimedChatModel,
    pool: WorkerPool,
) -> LLMAnswerChain:
    """The chat-model chain over one collection; ``model`` and ``pool`` are the service's own,
    shared by every collection."""
    answerer = LLMAnswerer(model, offline, document_text, settings.llm_timeout, pool)
    return LLMAnswerChain(retriever, answerer, document_text, settings.max_question_chars, settings.history_turns)


# --- streaming ---------------------------------------------------------------------


async def throttle_previews(
    stream: AsyncIterator[str | Answer], min_interval: float = 1.0, clock: Callable[[], float] = monotonic
) -> AsyncIterator[str | Answer]:
    """Pass on at most one preview per ``min_interval`` seconds (Discord allows about five message
    edits per five seconds), and always the final Answer. Skipped previews are not lost: each
    preview holds the whole text so far."""
    last: float | None = None
    async for item in stream:
        if isinstance(item, Answer):
            yield item
            continue
        now = clock()
        if last is None or now - last >= min_interval:
            last = now
            yield item
