"""The answer chain: question → retrieve → answer → verified citations, as a LangChain runnable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from bot.answering.answerer import NOT_IN_STORY, Answerer
from bot.answering.data import Answer, Citation, ShortAnswer
from bot.answering.questions import as_request, clean_question, standalone_query
from index.retriever import HybridRetriever

__all__ = ["NOT_IN_STORY", "build_answer_chain", "verify_citations"]


def verify_citations(answer: Answer, document_text: Callable[[str], str | None]) -> Answer:
    """Keep only citations that equal their source text exactly; with none left, refuse."""
    texts: dict[str, str | None] = {}

    def verified(c: Citation) -> bool:
        if c.source not in texts:
            texts[c.source] = document_text(c.source)
        text = texts[c.source]
        return text is not None and 0 <= c.start < c.end <= len(text) and text[c.start : c.end] == c.passage

    citations = [c for c in answer.citations if verified(c)]
    related = [c for c in answer.related if verified(c)]
    if answer.grounded and not citations:
        return replace(answer, answer=NOT_IN_STORY, grounded=False, citations=[], related=related, short_answer=None)
    short = answer.short_answer
    if short is not None and not (citations and verified(_as_citation(short)) and _within(short, citations[0])):
        prefix = f"{short.text} [1]\n"
        text = answer.answer[len(prefix) :] if answer.answer.startswith(prefix) else answer.answer
        return replace(answer, answer=text, citations=citations, related=related, short_answer=None)
    return replace(answer, citations=citations, related=related)


def _as_citation(short: ShortAnswer) -> Citation:
    return Citation(0, short.source, short.start, short.end, short.text)


def _within(short: ShortAnswer, citation: Citation) -> bool:
    """A short answer must lie inside the quote it is read from."""
    return short.source == citation.source and citation.start <= short.start and short.end <= citation.end


def build_answer_chain(
    retriever: HybridRetriever,
    answerer: Answerer,
    document_text: Callable[[str], str | None],
    max_question_chars: int = 1000,
    history_turns: int = 3,
) -> Runnable[Any, Answer]:
    """question (str, dict or AnswerRequest) → :class:`Answer` with verified citations.

    Each step is a plain function, so ``ainvoke`` runs the blocking ones (embedding, Chroma) in
    an executor and never blocks the caller's event loop.
    """

    def prepare(value: Any) -> dict[str, Any]:
        request = as_request(value)
        question = clean_question(request.question, max_question_chars)
        return {"question": question, "query": standalone_query(replace(request, question=question), history_turns)}

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "retrieval": retriever.retrieve(state["query"])}

    def answer(state: dict[str, Any]) -> Answer:
        # A follow-up is read as its standalone form ("And when?" alone asks nothing), but the
        # answer is filed under what the person typed.
        return replace(answerer.answer(state["query"], state["retrieval"]), question=state["question"])

    def verify(result: Answer) -> Answer:
        return verify_citations(result, document_text)

    return (
        RunnableLambda(prepare, name="prepare")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(answer, name="answer")
        | RunnableLambda(verify, name="verify")
    ).with_config(run_name="story_answer")
