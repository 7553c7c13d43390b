"""A learned sentence reader: does this sentence answer the question, and where is the answer in it?

A cross-encoder over ``[CLS] question [SEP] sentence [SEP]`` started from the bundled
all-MiniLM-L6-v2 and fine-tuned with LoRA on SQuAD (``bench/train_reader.py``). Only what differs
from the bundled weights ships (``data/reader.safetensors``: LoRA factors, LayerNorms, heads), and
the LoRA update is folded into the base weights at load time, so a forward pass costs exactly a
plain MiniLM forward. ``select`` is a logit, comparable across questions, from which the caller
decides answerability together with its other evidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bot.answering import DATA_DIR
from index.encoder import BertModel, Encoded, WordPieceTokenizer, apply_lora, limit_threads, load_bert, merge_lora

WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """What the shipped weights were trained with; stored in ``reader.json``."""

    rank: int
    alpha: float
    max_tokens: int
    max_answer_tokens: int
    targets: tuple[str, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ReaderConfig:
        return cls(
            rank=int(raw["rank"]),
            alpha=float(raw["alpha"]),
            max_tokens=int(raw["max_tokens"]),
            max_answer_tokens=int(raw["max_answer_tokens"]),
            targets=tuple(raw["targets"]),
        )


@dataclass(frozen=True, slots=True)
class ReaderScore:
    """The reader's verdict on one sentence.

    ``select`` is the logit that the sentence holds the answer; ``span_start``/``span_end`` are
    character offsets into the sentence string (``sentence[span_start:span_end]`` is the short
    answer); ``span_score`` is the log-probability of that span (start + end log-softmax).
    """

    select: float
    span_start: int
    span_end: int
    span_score: float


class ReaderHeads(nn.Module):
    """Select: a logit over the tanh-pooled [CLS] and the element-wise product of the normalized
    mean token vectors of question and sentence. The product part starts as a scaled cosine
    (what a bi-encoder ranks by), so the select logit ranks sensibly from the first step instead
    of learning relevance from a blank [CLS]. Span: start/end logits over every token."""

    def __init__(self, hidden_size: int, dropout: float = 0.0, cosine_scale: float = 10.0) -> None:
        super().__init__()
        self.pooler = nn.Linear(hidden_size, hidden_size)
        self.select = nn.Linear(2 * hidden_size, 1)
        self.span = nn.Linear(hidden_size, 2)
        self.dropout = nn.Dropout(dropout)
        with torch.no_grad():
            self.select.weight[:, :hidden_size].mul_(0.1)
            self.select.weight[:, hidden_size:] = cosine_scale
            self.select.bias.fill_(-0.75 * cosine_scale)  # cosines of related texts sit around 0.75

    def forward(self, hidden: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = torch.tanh(self.pooler(self.dropout(hidden[:, 0])))
        question = F.normalize(_segment_mean(hidden, segments == 0), dim=-1)
        sentence = F.normalize(_segment_mean(hidden, segments == 1), dim=-1)
        features = torch.cat([pooled, question * sentence], dim=-1)
        select = self.select(self.dropout(features)).squeeze(-1)
        start, end = self.span(self.dropout(hidden)).unbind(-1)
        return select, start, end


def _segment_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask[..., None].to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ReaderModel(nn.Module):
    """MiniLM plus the reader heads: (select, start, end) logits for a batch of pairs."""

    def __init__(self, bert: BertModel, dropout: float = 0.0) -> None:
        super().__init__()
        self.bert = bert
        self.heads = ReaderHeads(bert.config.hidden_size, dropout)

    def forward(self, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.bert(encoded.input_ids, encoded.attention_mask, encoded.token_type_ids)
        return self.heads(hidden, torch.from_numpy(encoded.segments))


def span_mask(encoded: Encoded) -> torch.Tensor:
    """True for the tokens of the second text (the sentence): only they can start or end a span."""
    return torch.from_numpy(encoded.segments == 1)


def best_spans(
    start: torch.Tensor, end: torch.Tensor, allowed: torch.Tensor, max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (start, end) token pair of highest log p(start) + log p(end) per row, with
    start <= end < start + max_tokens, both inside the sentence. Returns starts, ends, scores."""
    blocked = torch.finfo(start.dtype).min / 4
    log_start = torch.log_softmax(start.masked_fill(~allowed, blocked), dim=-1)
    log_end = torch.log_softmax(end.masked_fill(~allowed, blocked), dim=-1)
    pair = log_start[:, :, None] + log_end[:, None, :]
    length = torch.arange(start.shape[1])
    gap = length[None, :] - length[:, None]
    valid = (gap >= 0) & (gap < max_tokens)
    pair = pair.masked_fill(~valid[None], blocked * 2)
    flat = pair.flatten(1)
    scores, index = flat.max(dim=1)
    return index // start.shape[1], index % start.shape[1], scores


def _has_sentence_tokens(encoded: Encoded) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray((encoded.segments == 1).any(axis=1))


class SentenceReader:
    """Scores candidate sentences for a question. Inference only; safe to share between threads
    (no state changes after loading; the tokenizer is configured once)."""

    def __init__(self, model: ReaderModel, tokenizer: WordPieceTokenizer, config: ReaderConfig) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config

    @classmethod
    def load(cls, model_path: str, weights_dir: Path | None = None, quantize: bool = False) -> SentenceReader:
        """Base MiniLM from ``model_path`` plus the reader weights from ``weights_dir`` (default: the
        copy shipped in this package). ``quantize`` makes the Linear layers dynamic int8."""
        limit_threads(torch.get_num_threads())
        weights_dir = weights_dir or DATA_DIR
        config = ReaderConfig.from_json(json.loads((weights_dir / CONFIG_FILE).read_text(encoding="utf-8")))
        model = build_reader(load_bert(Path(model_path)), config)
        load_reader_weights(model, weights_dir / WEIGHTS_FILE)
        merge_lora(model)
        model.requires_grad_(False).eval()
        if quantize:
            model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        return cls(model, WordPieceTokenizer(Path(model_path), config.max_tokens), config)

    def score(self, question: str, sentences: Sequence[str]) -> list[ReaderScore]:
        """One batched forward over all sentences (padded to the longest), one score each."""
        return self.score_pairs([question] * len(sentences), sentences)

    def score_pairs(self, questions: Sequence[str], sentences: Sequence[str]) -> list[ReaderScore]:
        """Like ``score``, for (question, sentence) pairs of different questions in one batch."""
        if not sentences:
            return []
        encoded = self.tokenizer.encode_pairs(questions, sentences)
        with torch.inference_mode():
            select, start, end = self.model(encoded)
            starts, ends, span_scores = best_spans(start, end, span_mask(encoded), self.config.max_answer_tokens)
        present = _has_sentence_tokens(encoded)
        return [
            self._verdict(encoded, row, float(select[row]), int(starts[row]), int(ends[row]), float(span_scores[row]))
            if present[row]
            else ReaderScore(float(select[row]), 0, 0, float("-inf"))
            for row in range(len(sentences))
        ]

    @staticmethod
    def _verdict(encoded: Encoded, row: int, select: float, start: int, end: int, span_score: float) -> ReaderScore:
        offsets = encoded.offsets[row]
        return ReaderScore(select, int(offsets[start][0]), int(offsets[end][1]), span_score)


def build_reader(bert: BertModel, config: ReaderConfig, dropout: float = 0.0, lora_dropout: float = 0.0) -> ReaderModel:
    """The reader's architecture around a base MiniLM: LoRA wrappers on the targeted Linears, heads."""
    apply_lora(bert, config.rank, config.alpha, config.targets, lora_dropout)
    return ReaderModel(bert, dropout)


def is_shipped_parameter(name: str) -> bool:
    """What the reader weights file holds: everything that differs from the bundled MiniLM."""
    return name.startswith("heads.") or "LayerNorm" in name or name.endswith(("lora_a", "lora_b"))


def load_reader_weights(model: ReaderModel, path: Path) -> None:
    """Fill the LoRA factors, LayerNorms and heads from a safetensors file (fp16 stored as float32)."""
    from safetensors.torch import load_file

    stored = load_file(str(path))
    expected = {name for name, _ in model.named_parameters() if is_shipped_parameter(name)}
    if set(stored) != expected:
        raise ValueError(f"{path}: weights do not fit this reader (missing {sorted(expected - set(stored))[:3]})")
    model.load_state_dict({name: value.float() for name, value in stored.items()}, strict=False)
