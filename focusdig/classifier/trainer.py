"""Training: tokenizer, masked-LM pretraining (time-budgeted, resumable) and fine-tuning.

Run `python -m focusdig.classifier.trainer --help`. Work files (tokenizer, pretraining
checkpoints, logs) go to `TrainingArguments.work_dir`; the finished model directory is written
under `TrainingArguments.out_dir` and returned by `train_classifier`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from sklearn.metrics import f1_score
from tqdm.auto import tqdm

from focusdig.classifier import data as D
from focusdig.classifier.artifacts import save_model_dir
from focusdig.classifier.distill import add_distillation, shallow_student
from focusdig.classifier.electra import ElectraConfig, ElectraPretrainer
from focusdig.classifier.model import (
    ClassifierConfig,
    SentimentClassifier,
    attention_entropy,
    collate,
)
from focusdig.classifier.targets import add_targeted_splits, enable_targets, encode_examples
from focusdig.classifier.tokenizer import TextEncoder, drop_links, train_tokenizer
from focusdig.classifier.wordvectors import init_embeddings
from focusdig.precision import cpu_has_native_bf16, default_device


@dataclass
class TrainingArguments:
    out_dir: str = "models/classifier"  # the model directory is created inside
    work_dir: str = "runs/classifier"  # tokenizer, pretraining checkpoints (never shipped)
    data_dir: str | None = None  # default: $FOCUSDIG_DATA_DIR
    version: str | None = None  # default: clf-<date>-<n>
    model: dict = field(default_factory=dict)  # ClassifierConfig overrides
    seed: int = 0
    num_threads: int = 2
    use_phrasebank: bool = True  # False: train on MIT-licensed twitter_fin only
    twitter_repeat: int = 1  # each Twitter training sentence seen this many times an epoch
    # tokenizer
    vocab_size: int = 16_000
    tokenizer_lines: int = 300_000
    # pretraining: "mlm" (masked LM) or "electra" (replaced-token detection)
    objective: str = "mlm"
    electra: dict = field(default_factory=dict)  # ElectraConfig overrides
    pretrain_init: str | None = None  # model/checkpoint dir whose weights pretraining starts at
    pretrain_schedule: str = "cosine"  # "cosine" over the budget, or "constant" after warmup
    pretrain_minutes: float = 45.0  # 0 disables pretraining
    pretrain_lines: int = 700_000  # corpus lines; 0: the labeled training texts alone
    pretrain_batch_size: int = 128
    pretrain_max_len: int = 128
    pretrain_lr: float = 5e-4
    pretrain_warmup_steps: int = 300
    mask_prob: float = 0.15
    checkpoint_minutes: float = 5.0
    resume: bool = False
    init_from: str | None = None  # pretraining checkpoint dir to fine-tune from
    # word vectors (focusdig.classifier.wordvectors) copied into the token embeddings of a new
    # model, before pretraining and fine-tuning (not with init_from / pretrain_init)
    embedding_init: str | None = None
    # fine-tuning
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    label_smoothing: float = 0.1
    # weight of the pooling attention's mean entropy in the loss: > 0 concentrates the attention
    # on fewer words (sharper explanations; benchmarks/faithfulness.py measures the effect)
    attention_entropy: float = 0.0
    # delete web links before tokenization (focusdig.classifier.tokenizer.drop_links)
    drop_links: bool = False
    patience: int = 3  # epochs without val macro-F1 improvement before stopping
    # the final fit of a recipe chosen on validation: the validation split joins the training
    # data, every epoch runs and the last is kept (its validation figures are not held out);
    # validation rows are seen once an epoch (target_repeat / twitter_repeat repeat training rows)
    train_on_val: bool = False
    bf16: bool = True  # bfloat16 autocast on CUDA and on CPUs with native bf16 (else fp32)
    # targeted (entity-level) sentiment: add sentfin_targets (split by headline) with [TGT]
    # markers, each targeted training example seen `target_repeat` times an epoch
    targets: bool = False
    target_repeat: int = 1
    # distillation (focusdig.classifier.distill): teacher model dirs whose mean probabilities
    # (with the linear baseline if `teacher_baseline`) are mixed into the sentence-level gold
    # labels at `distill_weight`, and label `distill_lines` unlabeled corpus lines (from the
    # fin_corpus files named in `distill_sources`, e.g. ["stocknet_tweets"]; all when empty)
    teachers: list[str] = field(default_factory=list)
    teacher_baseline: bool = True
    distill_lines: int = 0
    distill_sources: list[str] = field(default_factory=list)
    distill_weight: float = 0.5
    # a shallower student (focusdig.classifier.distill.shallow_student): start from the blocks
    # `student_layers` of the fine-tuned classifier dir `student_of` (its tokenizer, with its
    # link deletion, embeddings and head too) instead of a tokenizer + pretraining; distil it
    # with `teachers`; `model` may set its dropout and a narrower d_ff (the feed-forward
    # layers keep their most important hidden units: distill.prune_feedforward)
    student_of: str | None = None
    student_layers: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict) -> TrainingArguments:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown training arguments: {sorted(unknown)}")
        return cls(**d)


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", flush=True)


def _autocast(args: TrainingArguments, device: torch.device):
    """bf16 autocast where it is fast; emulated bf16 (CPUs without AVX512-BF16/AMX) is 2-3x
    slower than float32, so it is off there."""
    enabled = args.bf16 and (device.type == "cuda" or cpu_has_native_bf16())
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices of similar length (sorted within pools of 50 batches)."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    pool = batch_size * 50
    batches = []
    for p in range(0, len(idx), pool):
        chunk = sorted(idx[p : p + pool], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class PackedSequences:
    """Token id sequences kept flat in one int32 array with offsets (4 bytes a token, where
    Python lists of ints take about 36): the whole corpus fits in memory."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray):
        self.flat, self.offsets = flat, offsets

    @classmethod
    def encode(
        cls, enc: TextEncoder, texts: list[str], max_len: int, chunk: int = 100_000
    ) -> PackedSequences:
        parts, lengths = [], [np.zeros(1, dtype=np.int64)]
        for start in range(0, len(texts), chunk):
            seqs = enc.ids_batch(texts[start : start + chunk], max_len)
            parts.append(np.fromiter((t for s in seqs for t in s), dtype=np.int32))
            lengths.append(np.fromiter(map(len, seqs), dtype=np.int64))
        return cls(np.concatenate(parts), np.cumsum(np.concatenate(lengths)))

    @classmethod
    def load(cls, path: Path) -> PackedSequences:
        with np.load(path) as f:
            return cls(f["flat"], f["offsets"])

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, flat=self.flat, offsets=self.offsets)
        tmp.replace(path)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> list[int]:
        return self.flat[self.offsets[i] : self.offsets[i + 1]].tolist()

    def lengths(self) -> list[int]:
        return np.diff(self.offsets).tolist()

    def batch(self, rows: list[int], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows right-padded -> input_ids, attention_mask (B, T); one gather, no Python loop
        (as `collate([self[i] for i in rows])`, fast enough to keep a GPU fed)."""
        rows_ = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[rows_]
        lens = self.offsets[rows_ + 1] - starts
        pos = np.arange(int(lens.max()))
        mask = pos[None, :] < lens[:, None]  # (B, T)
        ids = np.where(mask, self.flat[np.where(mask, starts[:, None] + pos[None, :], 0)], pad_id)
        return torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask.astype(np.int64))


def mask_tokens(
    ids: torch.Tensor,
    attention_mask: torch.Tensor,
    cfg: ClassifierConfig,
    prob: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: of `prob` of real tokens, 80% [MASK], 10% random, 10% kept."""
    special = (ids == cfg.cls_id) | (ids == cfg.sep_id) | (attention_mask == 0)
    pick = (torch.rand(ids.shape, generator=gen, device=ids.device) < prob) & ~special
    targets = torch.where(pick, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen, device=ids.device)
    inputs = ids.clone()
    inputs[pick & (r < 0.8)] = cfg.mask_id
    rand_pos = pick & (r >= 0.8) & (r < 0.9)
    random_ids = torch.randint(5, cfg.vocab_size, ids.shape, generator=gen, device=ids.device)
    return torch.where(rand_pos, random_ids, inputs), targets


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def _save_checkpoint(
    path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict
) -> None:
    """Tensors-only checkpoint (safetensors) plus JSON state; written atomically."""
    path.mkdir(parents=True, exist_ok=True)
    osd = opt.state_dict()
    tensors = {f"{i}.{k}": v.contiguous() for i, s in osd["state"].items() for k, v in s.items()}
    tmp = path / "tmp"
    tmp.mkdir(exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors")
    )
    save_file(tensors, str(tmp / "optim.safetensors"))
    (tmp / "state.json").write_text(json.dumps({**state, "param_groups": osd["param_groups"]}))
    for name in ("model.safetensors", "optim.safetensors", "state.json"):
        (tmp / name).replace(path / name)
    tmp.rmdir()


def load_encoder_weights(path: Path, model: SentimentClassifier) -> None:
    """Load a model dir's or pretraining checkpoint's weights into `model` (ELECTRA: the
    discriminator's); heads the file lacks keep their fresh initialisation."""
    state = load_file(str(path / "model.safetensors"))
    if any(k.startswith("disc.") for k in state):
        state = {k.removeprefix("disc."): v for k, v in state.items() if k.startswith("disc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("mlm_") for k in missing):
        raise ValueError(f"{path}: weights do not fit the model ({missing=}, {unexpected=})")


def export_pretrained(checkpoint: Path, out: Path) -> Path:
    """A pretraining checkpoint's weights in float16 (no optimizer state), with its tokenizer
    and state, small enough to keep in the repository: `pretrain_init` continues from it (step
    and token counts carry on; the learning-rate schedule and data order start anew)."""
    out.mkdir(parents=True, exist_ok=True)
    state = load_file(str(checkpoint / "model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(out / "model.safetensors"))
    info = json.loads((checkpoint / "state.json").read_text())
    info.pop("param_groups", None)
    (out / "state.json").write_text(json.dumps(info, indent=1) + "\n")
    TextEncoder.from_file(checkpoint / "tokenizer.json").save(out / "tokenizer.json")
    return out


def heldout_texts(data_dir: str | None) -> set[str]:
    """Normalized validation and test texts, kept out of the unlabeled pretraining text."""
    splits = D.load_splits(data_dir)
    return {D.normalize(ex.text) for name in ("val", "test") for ex in splits[name]}


def _load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict:
    model.load_state_dict(load_file(str(path / "model.safetensors")))
    state = json.loads((path / "state.json").read_text())
    osd: dict = {"state": {}, "param_groups": state.pop("param_groups")}
    for key, v in load_file(str(path / "optim.safetensors")).items():
        i, k = key.split(".", 1)
        osd["state"].setdefault(int(i), {})[k] = v
    opt.load_state_dict(osd)
    return state


def get_tokenizer(args: TrainingArguments, train_texts: list[str]) -> TextEncoder:
    """Reuse `work_dir/tokenizer.json` or train one on corpus lines + labeled train texts."""
    path = Path(args.work_dir) / "tokenizer.json"
    meta = path.with_name("work_dir.json")  # which labeled sets this work dir's text came from
    if path.exists():
        used = json.loads(meta.read_text()) if meta.exists() else {}
        if used.get("use_phrasebank", True) != args.use_phrasebank:
            raise ValueError(
                f"{path.parent} was built with use_phrasebank="
                f"{used.get('use_phrasebank', True)}; pass another --work-dir"
            )
        return TextEncoder.from_file(path)
    log(f"training tokenizer on {args.tokenizer_lines} corpus lines + {len(train_texts)} labeled")
    lines = D.sample_corpus(args.data_dir, args.tokenizer_lines, seed=args.seed + 1)
    enc = TextEncoder(train_tokenizer(lines + train_texts, args.vocab_size))
    path.parent.mkdir(parents=True, exist_ok=True)
    enc.save(path)
    meta.write_text(json.dumps({"use_phrasebank": args.use_phrasebank}) + "\n")
    return enc


def make_config(args: TrainingArguments, enc: TextEncoder) -> ClassifierConfig:
    return ClassifierConfig(
        **{
            **args.model,
            "vocab_size": enc.vocab_size,
            "pad_id": enc.pad_id,
            "cls_id": enc.cls_id,
            "sep_id": enc.sep_id,
            "mask_id": enc.mask_id,
        }
    )


def pretrain(
    args: TrainingArguments, model: SentimentClassifier, enc: TextEncoder, train_texts: list[str]
) -> Path:
    """Pretraining (`args.objective`) for `args.pretrain_minutes` of wall time, summed over
    resumes, on a corpus sample plus the labeled training texts (validation and test texts are
    removed from the corpus).

    Checkpoints to `work_dir/pretrain` every `checkpoint_minutes` and at the end; with
    `resume`, continues from the checkpoint (same data sample, schedule and step count).
    """
    cfg, device = model.config, next(model.parameters()).device
    ckpt = Path(args.work_dir) / "pretrain"
    if args.objective not in ("mlm", "electra"):
        raise ValueError(f"unknown pretraining objective {args.objective!r}")
    electra = args.objective == "electra"
    module: torch.nn.Module = (
        ElectraPretrainer(model, ElectraConfig(**args.electra)).to(device) if electra else model
    )
    opt = _optimizer(module, args.pretrain_lr, args.weight_decay)
    state = {"step": 0, "elapsed": 0.0, "epoch": 0, "batch": 0, "tokens": 0, "losses": []}
    state["objective"] = args.objective
    if args.resume and (ckpt / "state.json").exists():
        state = {"tokens": 0, **_load_checkpoint(ckpt, module, opt)}
        log(f"resumed pretraining at step {state['step']} ({state['elapsed'] / 60:.1f} min)")
    elif args.pretrain_init:
        init = load_file(str(Path(args.pretrain_init) / "model.safetensors"))
        if electra and any(k.startswith("generator.") for k in init):  # a whole ELECTRA state
            module.load_state_dict({k: v.float() for k, v in init.items()})
        else:
            load_encoder_weights(Path(args.pretrain_init), model)
        exported = Path(args.pretrain_init) / "state.json"
        prior = json.loads(exported.read_text()) if exported.exists() else {}
        if prior.get("objective", "mlm") == args.objective and "step" in prior:
            # an exported run of this objective: its step and token counts go on (the ledger);
            # this run's learning-rate schedule and data order are new
            state.update({k: prior[k] for k in ("step", "tokens", "losses") if k in prior})
            state["start_step"] = state["step"]
        log(f"pretraining starts from the weights of {args.pretrain_init}")
    budget = args.pretrain_minutes * 60
    if state["elapsed"] >= budget:
        return ckpt
    seqs = pretraining_sequences(args, enc, train_texts)
    log(f"pretraining on {len(seqs)} sequences, {len(seqs.flat)} tokens")
    lengths = seqs.lengths()
    module.train()
    t0, last_ckpt, since, parts = time.time() - state["elapsed"], time.time(), [], []
    bar = tqdm(total=int(budget), initial=int(state["elapsed"]), unit="s", mininterval=30)
    while True:
        batches = length_batches(
            lengths, args.pretrain_batch_size, random.Random(args.seed * 1000 + state["epoch"])
        )
        while state["batch"] < len(batches):
            b = batches[state["batch"]]
            gen = torch.Generator(device).manual_seed(args.seed * 1_000_003 + state["step"])
            ids, am = seqs.batch(b, cfg.pad_id)
            ids, am = ids.to(device, non_blocking=True), am.to(device, non_blocking=True)
            elapsed = time.time() - t0
            warm = state["step"] - state.get("start_step", 0) + 1
            lr = args.pretrain_lr * min(1.0, warm / args.pretrain_warmup_steps)
            if args.pretrain_schedule == "cosine":
                lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget)))
            for g in opt.param_groups:
                g["lr"] = lr
            with _autocast(args, device):
                if electra:
                    loss, part = module.loss(ids, am, gen)
                    parts.append(part)
                else:
                    inputs, targets = mask_tokens(ids, am, cfg, args.mask_prob, gen)
                    loss = model.mlm_loss(inputs, am, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            state["step"] += 1
            state["batch"] += 1
            state["tokens"] += int(am.sum())
            since.append(loss.item())
            state["elapsed"] = time.time() - t0
            bar.update(int(state["elapsed"]) - bar.n)
            done = state["elapsed"] >= budget
            if state["step"] % 200 == 0 or done:
                entry = [state["step"], round(float(np.mean(since)), 4)]
                detail = ""
                if parts:
                    means = {k: float(np.mean([p[k] for p in parts])) for k in parts[0]}
                    entry.append({k: round(v, 4) for k, v in means.items()})
                    detail = " " + " ".join(f"{k} {v:.3f}" for k, v in means.items())
                state["losses"].append(entry)
                log(
                    f"step {state['step']} {args.objective} loss {np.mean(since):.3f}{detail} "
                    f"lr {lr:.2e} {state['tokens'] / 1e6:.1f}M tokens "
                    f"{state['elapsed'] / 60:.1f} min"
                )
                since, parts = [], []
            if done or time.time() - last_ckpt > args.checkpoint_minutes * 60:
                _save_checkpoint(ckpt, module, opt, state)
                enc.save(ckpt / "tokenizer.json")
                last_ckpt = time.time()
            if done:
                bar.close()
                return ckpt
        state["epoch"] += 1
        state["batch"] = 0


def pretraining_cache(args: TrainingArguments) -> Path:
    """Where `pretraining_sequences` keeps the tokenized corpus of these arguments."""
    return Path(args.work_dir) / (
        f"pretrain_ids_{args.pretrain_lines}_{args.seed}_{args.pretrain_max_len}"
        + ("_nolinks" if args.drop_links else "")
        + ".npz"
    )


def pretraining_sequences(
    args: TrainingArguments, enc: TextEncoder, train_texts: list[str]
) -> PackedSequences:
    """The corpus sample of `pretrain_lines` (minus validation/test texts) + training texts,
    tokenized; cached in the work dir, since tokenizing the whole corpus takes minutes."""
    cache = pretraining_cache(args)
    if cache.exists():
        return PackedSequences.load(cache)
    lines = []  # pretrain_lines 0: the training texts alone (task-adaptive pretraining)
    if args.pretrain_lines:
        held = heldout_texts(args.data_dir)
        lines = D.sample_corpus(args.data_dir, args.pretrain_lines, seed=args.seed + 2)
        lines = [line for line in lines if D.normalize(line) not in held]
    lines += train_texts
    seqs = PackedSequences.encode(enc, lines, args.pretrain_max_len)
    seqs.save(cache)
    return seqs


@torch.inference_mode()
def predict_logits(
    model: SentimentClassifier, seqs: list[list[int]], batch_size: int = 128
) -> np.ndarray:
    """Logits (N, L) for id lists, batched by length."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = np.zeros((len(seqs), len(model.config.labels)), dtype=np.float32)
    for s in range(0, len(order), batch_size):
        b = order[s : s + batch_size]
        ids, am = collate([seqs[i] for i in b], model.config.pad_id)
        logits, _, _ = model(ids.to(device), am.to(device), explain=False)
        out[b] = logits.float().cpu().numpy()
    return out


@contextmanager
def stop_on_sigterm() -> Iterator[threading.Event]:
    """While inside, SIGTERM (a sweep's deadline, a `kill`) sets the event instead of ending the
    process, so that fine-tuning can stop after its current batch and keep its best epoch."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers belong to the main thread: nothing to install
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def finetune(
    args: TrainingArguments,
    model: SentimentClassifier,
    enc: TextEncoder,
    splits: dict[str, list[D.Example]],
    soft: np.ndarray | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Fine-tune on `splits['train']`, early-stopping on val macro-F1; keeps the best weights
    (`args.train_on_val`: runs every epoch and keeps the last).

    `soft` (N_train, L): target distributions (distillation) instead of the gold labels.
    `stop`, once set, ends training after the current batch: the unfinished epoch is dropped
    and the best (`train_on_val`: the last) finished one kept (an error if none has finished)."""
    cfg, device = model.config, next(model.parameters()).device
    lab = {name: i for i, name in enumerate(cfg.labels)}
    train, val = splits["train"], splits["val"]
    seqs = encode_examples(enc, train, cfg)
    y = [lab[ex.label] for ex in train]
    val_seqs = encode_examples(enc, val, cfg)
    val_y = np.array([lab[ex.label] for ex in val])
    opt = _optimizer(model, args.lr, args.weight_decay)
    steps_per_epoch = math.ceil(len(seqs) / args.batch_size)
    total, warmup = (
        args.epochs * steps_per_epoch,
        int(args.warmup_ratio * args.epochs * steps_per_epoch),
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
        ),
    )
    rng = random.Random(args.seed)
    best, best_state, history, bad = -1.0, None, [], 0
    for epoch in range(args.epochs):
        model.train()
        losses = []
        batches = length_batches([len(s) for s in seqs], args.batch_size, rng)
        interrupted = False
        for b in tqdm(batches, desc=f"epoch {epoch + 1}", mininterval=10, leave=False):
            if stop is not None and stop.is_set():
                interrupted = True
                break
            ids, am = collate([seqs[i] for i in b], cfg.pad_id)
            labels = torch.tensor([y[i] for i in b], device=device)
            with _autocast(args, device):
                if soft is None:
                    _, alpha, loss = model(
                        ids.to(device), am.to(device), labels, args.label_smoothing
                    )
                else:
                    logits, alpha, _ = model(ids.to(device), am.to(device))
                    target = torch.from_numpy(soft[b]).to(device)
                    loss = -(target * F.log_softmax(logits, -1)).sum(-1).mean()
                if args.attention_entropy:
                    loss = loss + args.attention_entropy * attention_entropy(alpha)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        if interrupted:
            kept = "the last" if args.train_on_val else "the best"
            log(f"stop requested in epoch {epoch + 1}: keeping {kept} of {len(history)} epochs")
            break
        pred = predict_logits(model, val_seqs).argmax(1)
        f1 = float(f1_score(val_y, pred, average="macro"))
        acc = float((pred == val_y).mean())
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": round(float(np.mean(losses)), 4),
                "val_macro_f1": round(f1, 4),
                "val_accuracy": round(acc, 4),
            }
        )
        log(f"epoch {epoch + 1} loss {np.mean(losses):.4f} val macro-F1 {f1:.4f} acc {acc:.4f}")
        if f1 > best or args.train_on_val:
            best, bad = f1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= args.patience:  # never with train_on_val
                log("early stopping")
                break
    if best_state is None:
        raise RuntimeError("fine-tuning stopped before its first epoch ended: nothing to save")
    model.load_state_dict(best_state)
    result = {"best_val_macro_f1": round(best, 4), "history": history}
    if args.train_on_val:
        result["validation_in_training"] = True
    if stop is not None and stop.is_set() and len(history) < args.epochs:
        result["stopped_after_epoch"] = len(history)
    return result


def pretraining_tokenizer(args: TrainingArguments, train_texts: list[str]) -> TextEncoder:
    """The tokenizer pretraining reads its text with: `pretrain_init`'s (copied into the work
    dir) or the work dir's (trained there if missing), deleting web links when fine-tuning
    will (`drop_links`)."""
    if args.pretrain_init:  # keep the tokenizer the starting weights were trained with
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
        TextEncoder.from_file(Path(args.pretrain_init) / "tokenizer.json").save(
            Path(args.work_dir) / "tokenizer.json"
        )
    enc = get_tokenizer(args, train_texts)
    return drop_links(enc) if args.drop_links else enc


def pretrain_only(args: TrainingArguments) -> Path:
    """Tokenizer + MLM pretraining only; returns the checkpoint dir (for `init_from`)."""
    if args.student_of:
        raise ValueError("a student (student_of) starts from a classifier: nothing to pretrain")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.num_threads)
    splits = D.load_splits(args.data_dir, phrasebank=args.use_phrasebank)
    train_texts = [ex.text for ex in splits["train"]]
    enc = pretraining_tokenizer(args, train_texts)
    device = default_device()
    model = SentimentClassifier(make_config(args, enc)).to(device)
    log(f"model: {model.num_params() / 1e6:.2f}M params (excluding MLM head), on {device}")
    return pretrain(args, model, enc, train_texts)


def next_version(out_dir: Path) -> str:
    day = dt.datetime.now(dt.UTC).strftime("%Y.%m.%d")
    n = 1
    while (out_dir / f"clf-{day}-{n}").exists():
        n += 1
    return f"clf-{day}-{n}"


def train_classifier(args: TrainingArguments, graceful_stop: bool = False) -> Path:
    """Train tokenizer -> (optional) MLM pretraining -> fine-tuning; save and return model dir.

    With `graceful_stop` (the trainer's command line), SIGTERM during fine-tuning ends it after
    the current batch and the best finished epoch (`train_on_val`: the last) is saved
    (`stop_on_sigterm`).

    The returned directory holds model.safetensors, config.json, tokenizer.json, metrics.json
    (validation and test figures), MODEL_CARD.md and manifest.json; load it with
    `focusdig.classifier.Classifier.load(path)`.
    """
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.num_threads)
    device = default_device()
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    splits = D.load_splits(args.data_dir, phrasebank=args.use_phrasebank)
    log("labeled examples: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    train_texts = [ex.text for ex in splits["train"]]
    if args.twitter_repeat > 1:
        tweets = [ex for ex in splits["train"] if ex.source == "twitter"]
        splits["train"] = splits["train"] + tweets * (args.twitter_repeat - 1)
        log(f"Twitter training sentences x{args.twitter_repeat}: {len(splits['train'])} examples")
    started_from = None
    if args.student_layers and not args.student_of:
        raise ValueError("student_layers needs student_of (the classifier they come from)")
    if args.student_of:
        if args.init_from or args.pretrain_init or args.embedding_init:
            raise ValueError("student_of starts from a classifier: not with other inits")
        if set(args.model) - {"dropout", "d_ff"}:
            raise ValueError(
                "student_of keeps its teacher's shape: only model.dropout and a narrower "
                "model.d_ff are free"
            )
        model, enc, started_from = shallow_student(
            args.student_of, args.student_layers, args.model.get("dropout"), args.model.get("d_ff")
        )
        model.to(device)
    elif args.init_from:  # the tokenizer the checkpoint was pretrained with
        tok = Path(args.init_from) / "tokenizer.json"
        enc = TextEncoder.from_file(tok if tok.exists() else tok.parent.parent / tok.name)
    else:
        enc = get_tokenizer(args, train_texts)
    if args.drop_links:
        enc = drop_links(enc)
    if started_from is None:
        model = SentimentClassifier(make_config(args, enc)).to(device)
    log(f"model: {model.num_params() / 1e6:.2f}M params (excluding MLM head)")
    if started_from is not None:
        log(f"blocks {args.student_layers} of {args.student_of}")
    if args.embedding_init:
        if args.init_from or args.pretrain_init:
            raise ValueError("embedding_init starts a new model: not with init_from/pretrain_init")
        n = init_embeddings(model.encoder.tok_emb, args.embedding_init)
        log(f"{n} token embeddings from {args.embedding_init}")
    pretrained = None
    if args.init_from:
        pretrained = Path(args.init_from)
        load_encoder_weights(pretrained, model)
        log(f"initialized from {pretrained}")
    elif args.pretrain_minutes > 0 and started_from is None:
        pretrained = pretrain(args, model, enc, train_texts)
        load_encoder_weights(pretrained, model)
    if args.targets:
        model, enc = enable_targets(model, enc)
        splits = add_targeted_splits(splits, args.data_dir, args.target_repeat, log)
    soft = None
    if args.teachers:
        splits, soft = add_distillation(
            splits,
            args.data_dir,
            args.teachers,
            args.teacher_baseline,
            args.distill_lines,
            args.distill_sources,
            args.distill_weight,
            args.label_smoothing,
            args.seed,
            log,
            device,
            fold_val=args.train_on_val,
        )
    elif args.train_on_val:
        splits = D.fold_val(splits)
    if args.train_on_val:
        log(f"validation split folded into training: {len(splits['val'])} examples added")
    start = time.time()
    with stop_on_sigterm() if graceful_stop else nullcontext() as stop:
        result = finetune(args, model, enc, splits, soft, stop)
    sources = ["twitter_fin (MIT)"]
    if args.use_phrasebank:
        sources.insert(0, "Financial PhraseBank v1.0 50Agree (CC BY-NC-SA 3.0)")
    if args.targets:
        sources.append("SEntFiN 1.0 targeted headlines, sentfin_targets train split (research use)")
    if args.train_on_val:
        sources.append("the validation splits of the sets above too (the final fit; test held out)")
    if started_from is not None:
        inherited = "; ".join(started_from["training_data"])
        sources.append(
            f"started from blocks {args.student_layers} of {started_from['version']}"
            + (
                f", feed-forward pruned to {args.model['d_ff']} units"
                if args.model.get("d_ff") is not None
                else ""
            )
            + f" (its embeddings and head too; trained on: {inherited})"
        )
    if args.teachers:
        sources.append(
            f"soft labels of {len(args.teachers)} teacher model(s)"
            + (" + the linear baseline" if args.teacher_baseline else "")
            + (
                f" on {args.distill_lines} unlabeled fin_corpus lines"
                + (f" ({', '.join(args.distill_sources)})" if args.distill_sources else "")
                if args.distill_lines
                else ""
            )
        )
    pretrain_info = None
    if pretrained is not None:
        pstate = json.loads((pretrained / "state.json").read_text())
        pretrain_info = {
            "steps": pstate["step"],
            "minutes": round(pstate["elapsed"] / 60, 1),
            "objective": pstate.get("objective", "mlm"),
            "tokens": pstate.get("tokens"),
            "final_loss": pstate["losses"][-1][1] if pstate["losses"] else None,
        }
    if started_from is not None:  # the student's weights descend from the teacher's
        teacher_metrics = json.loads((Path(args.student_of) / "metrics.json").read_text())
        if teacher_metrics.get("pretraining"):
            pretrain_info = {
                "inherited_from": started_from["version"],
                **teacher_metrics["pretraining"],
            }
    out_dir = Path(args.out_dir)
    version = args.version or next_version(out_dir)
    metrics = {
        "version": version,
        "validation": result,
        "finetune_minutes": round((time.time() - start) / 60, 1),
        "pretraining": pretrain_info,
        "train_examples": len(splits["train"]),
        "training_arguments": asdict(args),
    }
    path = save_model_dir(
        out_dir / version,
        model,
        enc,
        version=version,
        metrics=metrics,
        training_data=sources,
        pretraining_data=(
            started_from.get("pretraining_data")
            if started_from is not None
            else "fin_corpus sample + labeled training-split texts, as unlabeled text"
            if pretrain_info
            else None
        ),
    )
    log(f"saved {path}")
    return path


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(
        prog="python -m focusdig.classifier.trainer", description=__doc__.splitlines()[0]
    )
    p.add_argument("--config", help="JSON file or string of TrainingArguments fields")
    p.add_argument("--out", help="directory the model directory is created in")
    p.add_argument("--work-dir", help="work dir for tokenizer/checkpoints (default runs/...)")
    p.add_argument("--data-dir", help="data dir (default $FOCUSDIG_DATA_DIR)")
    p.add_argument(
        "--no-phrasebank", action="store_true", help="train on MIT-licensed twitter_fin only"
    )
    p.add_argument("--resume", action="store_true", help="resume pretraining from checkpoint")
    p.add_argument("--pretrain-minutes", type=float, help="MLM pretraining wall-time budget")
    p.add_argument("--init-from", help="pretraining checkpoint dir to fine-tune from")
    p.add_argument("--objective", choices=["mlm", "electra"], help="pretraining objective")
    p.add_argument("--pretrain-init", help="model dir whose weights pretraining starts at")
    p.add_argument("--version", help="model version name (default clf-<date>-<n>)")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--pretrain-only",
        action="store_true",
        help="stop after tokenizer + pretraining (checkpoint in work dir)",
    )
    p.add_argument("--evaluate", action="store_true", help="evaluate on the test split after")
    a = p.parse_args(argv)
    conf: dict = {}
    if a.config:
        cpath = Path(a.config)
        conf = json.loads(cpath.read_text() if cpath.exists() else a.config)
    for key, val in {
        "out_dir": a.out,
        "work_dir": a.work_dir,
        "data_dir": a.data_dir,
        "pretrain_minutes": a.pretrain_minutes,
        "init_from": a.init_from,
        "objective": a.objective,
        "pretrain_init": a.pretrain_init,
        "version": a.version,
        "seed": a.seed,
    }.items():
        if val is not None:
            conf[key] = val
    if a.no_phrasebank:
        conf["use_phrasebank"] = False
    if a.resume:
        conf["resume"] = True
    args = TrainingArguments.from_dict(conf)
    if a.pretrain_only:
        return pretrain_only(args)
    path = train_classifier(args, graceful_stop=True)
    if a.evaluate:
        from focusdig.classifier.evaluate import evaluate_dir

        evaluate_dir(path, args.data_dir, write_metrics=True)
    return path


if __name__ == "__main__":
    main()
