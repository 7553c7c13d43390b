"""`storybot eval`: answer accuracy, refusal accuracy, citation fidelity and latency on a JSONL set."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.answering.data import Answer
from index.errors import StoryBotError


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1); 0.0 for no values. Shared by eval and the benches."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True, slots=True)
class EvalRow:
    """One row of an evaluation file: ``{id, question, answers[], unanswerable}``; ``review`` marks
    a row nobody has checked yet (exported feedback), which is counted but not scored."""

    id: str
    question: str
    answers: tuple[str, ...]
    unanswerable: bool
    review: bool = False


@dataclass(slots=True)
class EvalReport:
    """Aggregated results; ``failures`` lists ids answered wrongly, for a quick look."""

    answerable: int = 0
    answered_correctly: int = 0
    unanswerable: int = 0
    refused_correctly: int = 0
    citations: int = 0
    citations_verbatim: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    review: int = 0

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def answer_accuracy(self) -> float | None:
        return self._rate(self.answered_correctly, self.answerable)

    @property
    def refusal_accuracy(self) -> float | None:
        return self._rate(self.refused_correctly, self.unanswerable)

    @property
    def verbatim_rate(self) -> float | None:
        return self._rate(self.citations_verbatim, self.citations)

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def to_dict(self) -> dict[str, object]:
        return {
            "answerable": self.answerable,
            "answer_accuracy": self.answer_accuracy,
            "unanswerable": self.unanswerable,
            "refusal_accuracy": self.refusal_accuracy,
            "citations": self.citations,
            "citation_verbatim_rate": self.verbatim_rate,
            "latency_p50_ms": round(self.percentile(0.5), 1),
            "latency_p95_ms": round(self.percentile(0.95), 1),
            "failures": self.failures,
            "review": self.review,
        }


def read_eval_rows(path: Path) -> list[EvalRow]:
    """Parse an evaluation file, naming the line of any malformed row."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise StoryBotError(
            f"{path.name}: cannot read the evaluation file ({reason}).", detail=f"{path}: {exc}"
        ) from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            rows.append(
                EvalRow(
                    str(raw.get("id", number)),
                    str(raw["question"]),
                    tuple(raw.get("answers") or ()),
                    bool(raw.get("unanswerable", False)),
                    bool(raw.get("review", False)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise StoryBotError(f"{path.name}:{number}: expected a JSON object with a 'question'.") from None
    if not rows:
        raise StoryBotError(f"{path.name}: no evaluation rows found.")
    return rows


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").replace("“", '"').replace("”", '"').split())


def contains_answer(answer_text: str, accepted: Iterable[str]) -> bool:
    """Whether any accepted answer appears in the answer text (case and quote marks ignored)."""
    haystack = _normalize(answer_text)
    return any(_normalize(a) in haystack for a in accepted if a.strip())


def evaluate(
    rows: list[EvalRow],
    ask: Callable[[str], Answer],
    document_text: Callable[[str], str | None],
    on_row: Callable[[EvalRow, Answer], None] | None = None,
) -> EvalReport:
    """Ask every question and score the answers; citations are re-checked independently. Rows
    flagged for review are counted, not asked: their expected answer is not known yet."""
    report = EvalReport()
    for row in rows:
        if row.review:
            report.review += 1
            continue
        started = time.perf_counter()
        answer = ask(row.question)
        report.latencies_ms.append((time.perf_counter() - started) * 1000)
        if row.unanswerable:
            report.unanswerable += 1
            ok = not answer.grounded
            report.refused_correctly += ok
        else:
            report.answerable += 1
            ok = answer.grounded and contains_answer(answer.answer, row.answers)
            report.answered_correctly += ok
        if not ok:
            report.failures.append(row.id)
        for citation in answer.citations:
            report.citations += 1
            text = document_text(citation.source)
            report.citations_verbatim += text is not None and text[citation.start : citation.end] == citation.passage
        if on_row:
            on_row(row, answer)
    return report
