"""SQuAD helpers shared by the benchmark and calibration scripts."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from index.loaders import LoadedDocument

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
SQUAD_V1 = SHARED / "squad" / "dev-v1.1.json"
SQUAD_V2 = SHARED / "squad" / "cs224n-dev-v2.0.json"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    article: str
    question: str
    answers: tuple[str, ...]
    impossible: bool
    paragraph: int = 0


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[Question, ...]

    @property
    def source(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.title) + ".txt"

    def document(self) -> LoadedDocument:
        """The article as one document: paragraphs separated by blank lines."""
        return LoadedDocument(self.source, "\n\n".join(p.strip() for p in self.paragraphs))


def load_squad(path: Path) -> list[Article]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles = []
    for raw in data:
        questions = tuple(
            Question(
                qa["id"],
                raw["title"],
                qa["question"],
                tuple(a["text"] for a in qa.get("answers", [])),
                bool(qa.get("is_impossible", False)),
                number,
            )
            for number, paragraph in enumerate(raw["paragraphs"])
            for qa in paragraph["qas"]
        )
        articles.append(Article(raw["title"], tuple(p["context"] for p in raw["paragraphs"]), questions))
    return articles


def split_articles(articles: list[Article], seed: int = 13) -> tuple[list[Article], list[Article]]:
    """A fixed half/half split: weights are fitted on the first half, reported on the second."""
    shuffled = sorted(articles, key=lambda a: a.title)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    return shuffled[:half], shuffled[half:]


def sample_questions(articles: list[Article], n: int, seed: int = 7, impossible: bool = False) -> list[Question]:
    pool = [q for a in articles for q in a.questions if q.impossible == impossible]
    rng = random.Random(seed)
    return rng.sample(pool, min(n, len(pool)))


def contains_gold(text: str, answers: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(a.strip().lower() in lowered for a in answers if a.strip())
