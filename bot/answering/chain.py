"""The answer chain: question → retrieve → answer → verified citations, as a LangChain runnable."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from bot.answering.data import Answer, Citation
from bot.answering.extractive import (
    RefusalModel,
    ScoredSentence,
    SentenceWeights,
    background_term_weights,
    missing_mass,
    score_sentences,
)
from bot.answering.questions import as_request, clean_question, standalone_query
from index.retriever import HybridRetriever, Retrieval

NOT_IN_STORY = "The story doesn't say."


class ExtractiveAnswerer:
    """Quote the best sentence(s) of the retrieved passages, or say the story doesn't say."""

    def __init__(
        self,
        embed: Callable[[Sequence[str]], Any],
        weights: SentenceWeights,
        refusal: RefusalModel,
        max_sentences: int = 2,
        second_quote_ratio: float = 0.5,
    ) -> None:
        self.embed = embed
        self.weights = weights
        self.refusal = refusal
        self.max_sentences = max_sentences
        self.second_quote_ratio = second_quote_ratio

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        ranked = score_sentences(retrieval, question, self.embed, self.weights)
        if not ranked:
            return Answer(question, NOT_IN_STORY, grounded=False)
        best = ranked[0]
        general = background_term_weights(retrieval.query_tokens)
        missing = missing_mass(general, retrieval.keywords)
        confidence = self.refusal.probability(best.dense, best.window_bg, missing)
        if confidence < self.refusal.threshold:
            related = [_citation(1, best)]
            return Answer(question, NOT_IN_STORY, grounded=False, related=related, confidence=confidence)
        chosen = self._choose(ranked)
        citations = [_citation(n, s) for n, s in enumerate(chosen, start=1)]
        text = " ".join(f"{' '.join(c.passage.split())} [{c.n}]" for c in citations)
        return Answer(question, text, grounded=True, citations=citations, confidence=confidence)

    def _choose(self, ranked: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, plus runners-up the ranking finds nearly as likely to hold the answer.

        Scores are log-odds of the fitted ranking model, so ``exp(runner - best)`` is how likely a
        runner-up is relative to the best; a close call quotes both rather than guessing.
        """
        best = ranked[0]
        chosen = [best]
        for candidate in ranked[1 : self.max_sentences]:
            if math.exp(candidate.score - best.score) < self.second_quote_ratio:
                break
            chosen.append(candidate)
        return chosen


def _citation(n: int, sentence: ScoredSentence) -> Citation:
    return Citation(n, sentence.source, sentence.start, sentence.end, sentence.text, round(sentence.score, 4))


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
        return replace(answer, answer=NOT_IN_STORY, grounded=False, citations=[], related=related)
    return replace(answer, citations=citations, related=related)


def build_answer_chain(
    retriever: HybridRetriever,
    answerer: ExtractiveAnswerer,
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
        return answerer.answer(state["question"], state["retrieval"])

    def verify(result: Answer) -> Answer:
        return verify_citations(result, document_text)

    return (
        RunnableLambda(prepare, name="prepare")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(answer, name="answer")
        | RunnableLambda(verify, name="verify")
    ).with_config(run_name="story_answer")
