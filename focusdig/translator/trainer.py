"""Time-budgeted, resumable training of the multilingual translator.

    python -m focusdig.translator.trainer --out models/translator --data-dir DATA --minutes 60

Tatoeba + WMT news (news upsampled), token-budget batches of similar length, label smoothing,
AdamW with inverse-sqrt warmup and a linear cool-down over the last part of the time budget.
Checkpoints (safetensors + JSON state) go to `--work-dir` every few minutes; `--resume` continues
from the last one. At the end the final weights, the average of the last checkpoints and the
best validation checkpoint are compared on validation BLEU, the winner is scored on the test
split and written as a model directory under `--out`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from focusdig.precision import cpu_has_native_bf16, default_device
from focusdig.translator import data as D
from focusdig.translator.artifacts import TATOEBA_ATTRIBUTION, load_model_dir, save_model_dir
from focusdig.translator.evaluate import evaluate_pairs
from focusdig.translator.model import Seq2SeqTransformer, TranslatorConfig
from focusdig.translator.tokenizer import SubwordTokenizer
from focusdig.translator.translate import Translator


@dataclass
class TrainingArguments:
    out_dir: str = "models/translator"  # the model directory is created inside
    work_dir: str = "runs/translator"  # tokenizer, checkpoints, state (never shipped)
    data_dir: str | None = None  # default: $FOCUSDIG_DATA_DIR
    version: str | None = None  # default: mt-<UTC timestamp>
    model: dict = field(default_factory=dict)  # TranslatorConfig overrides
    # continue training a translator model directory: its tokenizer, configuration and weights
    # (a fresh optimizer; `vocab_size` is then ignored, and `model` may change only the
    # regularisation: dropout, label smoothing; any other key is refused; what is not given is
    # inherited, e.g. mt-20261127-1305's dropout 0.1)
    init_from: str | None = None
    seed: int = 0
    num_threads: int = 2
    vocab_size: int = 16_000
    zh_tokenizer_weight: int = 3  # repeat Chinese text when training the vocabulary
    minutes: float = 60.0  # training-loop budget (final evaluation comes on top)
    max_steps: int | None = None
    max_tokens: int = 3000  # per batch: padded source and target tokens, each
    max_len: int = 128  # drop training pairs longer than this (tokens, either side)
    max_ratio: float = 3.0  # drop pairs whose token lengths differ more than this (+5)
    news_upsample: int = 2
    lang_upsample: dict = field(default_factory=lambda: {"zh": 2})
    # also train the en -> xx directions on every training pair, reversed (the target starts
    # with the language tag), so that the same model can back-translate English text
    en_to_xx: bool = False
    # synthetic pairs (TSV files of `focusdig.translator.backtranslate`: a synthetic source,
    # or `focusdig.translator.distill`: a teacher's English), trained as xx -> en only, each
    # repeated `synthetic_upsample` times
    synthetic: list = field(default_factory=list)
    synthetic_upsample: int = 1
    lr: float = 1e-3
    warmup_steps: int = 400
    cooldown_fraction: float = 0.15  # linear decay to 0 over the last part of the budget
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    bf16: bool = True  # bfloat16 autocast (fast on CPUs with AVX512-BF16, and on CUDA)
    log_every: int = 50
    eval_every: int = 800  # steps between validation loss/BLEU
    # validation pairs per language decoded for BLEU during training (the final choice between
    # final weights, checkpoint average and best checkpoint decodes the whole validation split)
    eval_bleu_per_lang: int = 100
    checkpoint_minutes: float = 5.0
    average_last: int = 4  # average the last k checkpoints at the end
    resume: bool = False
    # resume from work_dir/stable, saved when the cool-down began, with `minutes` as the new
    # (longer) budget: training goes on at the pre-cool-down rate, with its optimizer moments,
    # and cools down again at the new end (no re-warming of a cooled-down model)
    extend: bool = False
    max_test: int = 1000
    max_valid: int = 400

    @classmethod
    def from_dict(cls, d: dict) -> TrainingArguments:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training arguments: {sorted(unknown)}")
        return cls(**d)


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", flush=True)


def make_batches(
    src_lens: list[int], tgt_lens: list[int], max_tokens: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of similar-length examples, padded size <= max_tokens per side."""
    idx = list(range(len(src_lens)))
    rng.shuffle(idx)
    idx.sort(key=lambda i: (tgt_lens[i], src_lens[i]))
    batches, cur, ms, mt = [], [], 0, 0
    for i in idx:
        s, t = max(ms, src_lens[i]), max(mt, tgt_lens[i])
        if cur and (len(cur) + 1) * max(s, t) > max_tokens:
            batches.append(cur)
            cur, s, t = [], src_lens[i], tgt_lens[i]
        cur.append(i)
        ms, mt = s, t
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(
    examples: list[tuple[list[int], list[int]]], cfg: TranslatorConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[(src row with tag and </s>, target ids)] -> src (B, S), tgt_in (B, T), tgt_out (B, T)."""
    B = len(examples)
    S = max(len(s) for s, _ in examples)
    T = max(len(t) for _, t in examples) + 1
    src = torch.full((B, S), cfg.pad_id, dtype=torch.long)
    tgt_in = torch.full((B, T), cfg.pad_id, dtype=torch.long)
    tgt_out = torch.full((B, T), cfg.pad_id, dtype=torch.long)
    for b, (s, t) in enumerate(examples):
        src[b, : len(s)] = torch.tensor(s)
        tgt_in[b, : len(t) + 1] = torch.tensor([cfg.bos_id, *t])
        tgt_out[b, : len(t) + 1] = torch.tensor([*t, cfg.eos_id])
    return src, tgt_in, tgt_out


def encode_pairs(
    tok: SubwordTokenizer, pairs: list[D.Pair], *, en_to_xx: bool = False
) -> list[tuple[list[int], list[int]]]:
    """xx -> en examples: source `<2xx> src </s>`, target the English ids.

    With `en_to_xx` the same pairs reversed: source `<2xx> en </s>`, target `<2xx> src`; the
    target's tag tells the decoder which language to write (forced when back-translating)."""
    srcs = tok.encode_batch([p.src for p in pairs])
    tgts = tok.encode_batch([p.en for p in pairs])
    if en_to_xx:
        return [
            ([tok.lang_id(p.lang), *t, tok.eos_id], [tok.lang_id(p.lang), *s])
            for p, s, t in zip(pairs, srcs, tgts, strict=True)
        ]
    return [
        ([tok.lang_id(p.lang), *s, tok.eos_id], t)
        for p, s, t in zip(pairs, srcs, tgts, strict=True)
    ]


def build_training_set(
    args: TrainingArguments, tok: SubwordTokenizer, pairs: list[D.Pair]
) -> list[tuple[list[int], list[int]]]:
    """Encode, length/ratio-filter and upsample the training pairs (and their reverses,
    with `args.en_to_xx`); synthetic pairs (origin "bt" or "kd") go xx -> en only."""
    directions = [False, True] if args.en_to_xx else [False]
    upsample = {
        "news": args.news_upsample,
        **dict.fromkeys(D.SYNTHETIC_ORIGINS, args.synthetic_upsample),
    }
    out = []
    for reverse in directions:
        kept = [p for p in pairs if not (reverse and p.origin in D.SYNTHETIC_ORIGINS)]
        for p, (s, t) in zip(kept, encode_pairs(tok, kept, en_to_xx=reverse), strict=True):
            ls, lt = len(s) - 2, len(t) - int(reverse)
            if not (1 <= ls <= args.max_len and 1 <= lt <= args.max_len):
                continue
            if max(ls, lt) > args.max_ratio * min(ls, lt) + 5:
                continue
            out += [(s, t)] * (upsample.get(p.origin, 1) * args.lang_upsample.get(p.lang, 1))
    return out


def lr_at(args: TrainingArguments, step: int, frac_time: float) -> float:
    """Inverse-sqrt warmup schedule times a linear cool-down over the end of the budget."""
    step = max(step, 1)
    lr = args.lr * min(step / args.warmup_steps, math.sqrt(args.warmup_steps / step))
    if args.cooldown_fraction > 0 and frac_time > 1 - args.cooldown_fraction:
        lr *= max(0.02, (1 - frac_time) / args.cooldown_fraction)
    return lr


REGULARISATION = frozenset({"dropout", "label_smoothing"})


def _check_regularisation(overrides: dict) -> None:
    """A continued model keeps its shape: refuse any other `model` field (before any work)."""
    if set(overrides) - REGULARISATION:
        raise ValueError(
            f"a continued model keeps its shape: only {sorted(REGULARISATION)} can change, "
            f"not {sorted(set(overrides) - REGULARISATION)}"
        )


def _with_regularisation(model: Seq2SeqTransformer, overrides: dict) -> Seq2SeqTransformer:
    """The model with new dropout / label smoothing (same weights); `overrides` were checked by
    `_check_regularisation` before any work."""
    if not overrides:
        return model
    changed = Seq2SeqTransformer(replace(model.config, **overrides))
    changed.load_state_dict(model.state_dict())
    return changed


def _optimizer(model: Seq2SeqTransformer, args: TrainingArguments) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n != "embed.weight"]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and n != "embed.weight")]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.98),
        eps=1e-9,
        fused=next(model.parameters()).is_cuda,  # one kernel per step instead of one per tensor
    )


def _save_checkpoint(
    work: Path, model: Seq2SeqTransformer, opt: torch.optim.AdamW, state: dict, keep: int
) -> None:
    """Model weights (kept for averaging) + optimizer moments + JSON state for --resume."""
    step = state["step"]
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(work / f"ckpt-{step:07d}.safetensors"),
    )
    opt_tensors = {}
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            opt_tensors[f"{i}.{k}"] = v.reshape(1) if v.dim() == 0 else v.contiguous()
    save_file(opt_tensors, str(work / "optimizer.safetensors"))
    (work / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    for old in sorted(work.glob("ckpt-*.safetensors"))[:-keep]:
        old.unlink()


def _load_checkpoint(work: Path, model: Seq2SeqTransformer, opt: torch.optim.AdamW) -> dict:
    state = json.loads((work / "state.json").read_text())
    model.load_state_dict(load_file(str(work / f"ckpt-{state['step']:07d}.safetensors")))
    sd = opt.state_dict()
    moments: dict[int, dict] = {}
    for key, v in load_file(str(work / "optimizer.safetensors")).items():
        i, name = key.split(".", 1)
        moments.setdefault(int(i), {})[name] = v.reshape(()) if name == "step" else v
    sd["state"] = moments
    opt.load_state_dict(sd)
    return state


STABLE = "stable"  # work_dir subfolder: the checkpoint taken where the cool-down began


def _extend_from_stable(
    work: Path,
    model: Seq2SeqTransformer,
    opt: torch.optim.AdamW,
    args: TrainingArguments,
    budget: float,
) -> dict:
    """Load work/stable for a longer budget. The cooled-down branch (its checkpoints, best
    weights, optimizer and state) moves aside to work/cooled-<step>, so that the final
    averaging sees only the new branch, and the new branch's first checkpoint is written at
    once (``--resume`` works from the start)."""
    if not (work / STABLE / "state.json").is_file():
        raise ValueError(f"--extend: no {work / STABLE} (saved when a run's cool-down begins)")
    state = _load_checkpoint(work / STABLE, model, opt)
    if (1 - args.cooldown_fraction) * budget <= state["elapsed"]:
        raise ValueError(
            f"--extend: {args.minutes} minutes would cool down before the stable point "
            f"({state['elapsed'] / 60:.1f} min); give a budget over "
            f"{state['elapsed'] / 60 / (1 - args.cooldown_fraction):.1f} minutes"
        )
    if (work / "state.json").is_file():
        latest = json.loads((work / "state.json").read_text())
        if latest["version"] != state["version"]:  # an extension that has not cooled down yet
            raise ValueError(
                f"--extend: {work} holds {latest['version']!r}, extended from the stable point "
                f"of {state['version']!r} and not yet cooled down; continue it with --resume"
            )
        aside = work / f"cooled-{latest['step']:07d}"
        aside.mkdir(exist_ok=True)
        for path in [*work.glob("ckpt-*.safetensors"), work / "best.safetensors"]:
            if path.is_file():
                path.rename(aside / path.name)
        for name in ("optimizer.safetensors", "state.json"):
            shutil.copy2(work / name, aside / name)
    state["best_bleu"] = -1.0  # the best checkpoint is set aside with the rest
    state["version"] = args.version or f"mt-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M}"
    _save_checkpoint(work, model, opt, state, args.average_last)
    return state


def average_checkpoints(paths: list[Path]) -> dict[str, torch.Tensor]:
    avg: dict[str, torch.Tensor] = {}
    for p in paths:
        for k, v in load_file(str(p)).items():
            avg[k] = avg.get(k, 0) + v.float() / len(paths)
    return avg


def _earlier_training(init_from: str | None, minutes: float, device: str) -> dict:
    """For a continued model: what it started from and the training minutes of the whole line
    (CPU minutes in `total_minutes`, GPU minutes apart in `total_gpu_minutes`; a run's minutes
    count for the device it ended on, also when it was resumed on another)."""
    if not init_from:
        return {}
    earlier = json.loads((Path(init_from) / "metrics.json").read_text()).get("training", {})
    if "total_minutes" in earlier:  # a continued model: its line's totals
        cpu, gpu = earlier["total_minutes"], earlier.get("total_gpu_minutes", 0.0)
    else:  # a model trained from scratch: its own minutes, where they were spent
        own = earlier.get("minutes", 0.0)
        cpu, gpu = (0.0, own) if earlier.get("device") == "cuda" else (own, 0.0)
    cpu, gpu = (cpu, gpu + minutes) if device == "cuda" else (cpu + minutes, gpu)
    line = {"init_from": Path(init_from).name, "total_minutes": round(cpu, 1)}
    return line | ({"total_gpu_minutes": round(gpu, 1)} if gpu else {})


@torch.no_grad()
def validation_loss(model: Seq2SeqTransformer, examples: list, max_tokens: int) -> float:
    model.eval()
    total, n = 0.0, 0
    batches = make_batches(
        [len(s) for s, _ in examples],
        [len(t) + 1 for _, t in examples],
        max_tokens,
        random.Random(0),
    )
    device = next(model.parameters()).device
    for b in batches:
        src, tgt_in, tgt_out = collate([examples[i] for i in b], model.config)
        _, loss = model(src.to(device), tgt_in.to(device), tgt_out.to(device))
        k = int((tgt_out != model.config.pad_id).sum())
        total, n = total + float(loss) * k, n + k
    model.train()
    return total / max(n, 1)


def _val_bleu(model: Seq2SeqTransformer, tok: SubwordTokenizer, pairs: list[D.Pair]) -> float:
    device = next(model.parameters()).device.type
    tr = Translator(model, tok, {"version": "training", "languages": tok.languages}, device=device)
    scores = evaluate_pairs(tr, pairs)
    model.train()
    langs = [lang for lang in tok.languages if lang in scores]
    return round(sum(scores[lang]["bleu"] for lang in langs) / max(len(langs), 1), 2)


def train_translator(args: TrainingArguments) -> Path:
    """Train (or resume) and write the model directory; returns its path."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.num_threads)
    if args.init_from:
        _check_regularisation(args.model)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    splits = D.split_pairs(
        D.load_pairs(args.data_dir), max_test=args.max_test, max_valid=args.max_valid
    )
    log("pairs: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    tok_path = work / "tokenizer.json"
    init_model, init_tok, init_config = (
        load_model_dir(args.init_from) if args.init_from else (None, None, None)
    )
    if (args.resume or args.extend) and tok_path.is_file():
        tok = SubwordTokenizer.from_file(tok_path)
    elif init_tok is not None:
        tok = init_tok
        tok.save(tok_path)
    else:

        def texts():
            for p in splits["train"]:
                yield p.en
                for _ in range(args.zh_tokenizer_weight if p.lang == "zh" else 1):
                    yield p.src

        tok = SubwordTokenizer.train(texts(), D.LANGUAGES, args.vocab_size)
        tok.save(tok_path)
    log(f"vocabulary {tok.vocab_size}")
    synthetic, leaked = D.training_synthetic(args.synthetic)
    if synthetic or leaked:
        log(
            f"synthetic pairs: {len(synthetic)} from {len(args.synthetic)} files "
            f"({leaked} left out: their source is a validation or test sentence)"
        )
    train = build_training_set(args, tok, splits["train"] + synthetic)
    valid = encode_pairs(tok, splits["valid"])
    bleu_pairs = [
        p
        for lang in D.LANGUAGES
        for p in [q for q in splits["valid"] if q.lang == lang][: args.eval_bleu_per_lang]
    ]
    src_lens, tgt_lens = [len(s) for s, _ in train], [len(t) + 1 for _, t in train]
    log(
        f"training examples {len(train)} (after filtering and upsampling), "
        f"{sum(tgt_lens)} target tokens per epoch"
    )

    device = default_device()
    if init_model is not None:
        model = _with_regularisation(init_model, args.model).to(device)
        cfg = model.config
        log(f"initialized from {args.init_from} ({init_config['version']})")
    else:
        cfg = TranslatorConfig(
            **{
                "vocab_size": tok.vocab_size,
                "pad_id": tok.pad_id,
                "bos_id": tok.bos_id,
                "eos_id": tok.eos_id,
                **args.model,
            }
        )
        model = Seq2SeqTransformer(cfg).to(device)
    log(f"model {model.num_params() / 1e6:.2f}M params on {device}: {cfg}")
    opt = _optimizer(model, args)
    state = {
        "step": 0,
        "epoch": 0,
        "batch": 0,
        "elapsed": 0.0,
        "best_bleu": -1.0,
        "history": [],
        "version": args.version or f"mt-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M}",
    }
    budget = args.minutes * 60
    if args.extend:
        state = _extend_from_stable(work, model, opt, args, budget)
        log(f"extended from step {state['step']} ({state['elapsed'] / 60:.1f} min done)")
        torch.manual_seed(args.seed + state["step"])
    elif args.resume and (work / "state.json").is_file():
        state = _load_checkpoint(work, model, opt)
        log(f"resumed at step {state['step']} ({state['elapsed'] / 60:.1f} min done)")
        torch.manual_seed(args.seed + state["step"])
    cooldown_at = (1 - args.cooldown_fraction) * budget if args.cooldown_fraction > 0 else None
    autocast = torch.autocast(  # emulated bf16 (no AVX512-BF16/AMX) is slower than float32
        device.type,
        dtype=torch.bfloat16,
        enabled=args.bf16 and (device.type == "cuda" or cpu_has_native_bf16()),
    )
    model.train()
    t_start, t_ckpt = time.time() - state["elapsed"], time.time()
    last_elapsed = state["elapsed"]
    t_log, tokens_log, loss_log = time.time(), 0, []
    finished = False
    while not finished:
        batches = make_batches(
            src_lens, tgt_lens, args.max_tokens, random.Random(args.seed * 1000 + state["epoch"])
        )
        for bi in range(state["batch"], len(batches)):
            elapsed = time.time() - t_start
            if elapsed >= budget or (
                args.max_steps is not None and state["step"] >= args.max_steps
            ):
                finished = True
                break
            if cooldown_at is not None and last_elapsed < cooldown_at <= elapsed:
                state["elapsed"] = elapsed  # the weights before any cooled-down step
                (work / STABLE).mkdir(exist_ok=True)
                _save_checkpoint(work / STABLE, model, opt, state, 1)  # for --extend
            last_elapsed = elapsed
            lr = lr_at(args, state["step"] + 1, elapsed / budget)
            for g in opt.param_groups:
                g["lr"] = lr
            src, tgt_in, tgt_out = (
                t.to(device) for t in collate([train[i] for i in batches[bi]], cfg)
            )
            with autocast:
                _, loss = model(src, tgt_in, tgt_out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            opt.step()
            state["step"] += 1
            state["batch"] = bi + 1
            tokens_log += int((tgt_out != cfg.pad_id).sum())
            loss_log.append(loss.item())
            step = state["step"]
            if step % args.log_every == 0:
                dt_log = time.time() - t_log
                log(
                    f"step {step} ep {state['epoch']} loss {sum(loss_log) / len(loss_log):.3f} "
                    f"lr {lr:.2e} {tokens_log / dt_log:.0f} tgt tok/s "
                    f"{(time.time() - t_start) / 60:.1f}/{args.minutes:.0f} min"
                )
                t_log, tokens_log, loss_log = time.time(), 0, []
            if step % args.eval_every == 0:
                vl, vb = (
                    validation_loss(model, valid, args.max_tokens),
                    _val_bleu(model, tok, bleu_pairs),
                )
                state["history"].append({"step": step, "val_loss": round(vl, 4), "val_bleu": vb})
                log(f"step {step} val loss {vl:.3f} val BLEU {vb:.2f}")
                if vb > state["best_bleu"]:
                    state["best_bleu"] = vb
                    save_file(
                        {k: v.contiguous() for k, v in model.state_dict().items()},
                        str(work / "best.safetensors"),
                    )
            if time.time() - t_ckpt >= args.checkpoint_minutes * 60:
                state["elapsed"] = time.time() - t_start
                _save_checkpoint(work, model, opt, state, args.average_last)
                t_ckpt = time.time()
        else:
            state["epoch"] += 1
            state["batch"] = 0
    state["elapsed"] = time.time() - t_start
    _save_checkpoint(work, model, opt, state, args.average_last)
    log(f"training done: {state['step']} steps, {state['elapsed'] / 60:.1f} min")

    candidates = {"final": {k: v.clone() for k, v in model.state_dict().items()}}
    ckpts = sorted(work.glob("ckpt-*.safetensors"))[-args.average_last :]
    if len(ckpts) > 1:
        candidates[f"average of last {len(ckpts)}"] = average_checkpoints(ckpts)
    if (work / "best.safetensors").is_file():
        candidates["best validation"] = load_file(str(work / "best.safetensors"))
    chosen, chosen_bleu = "final", -1.0
    for name, weights in candidates.items():
        model.load_state_dict(weights)
        bleu = _val_bleu(model, tok, splits["valid"])
        log(f"candidate {name}: BLEU {bleu:.2f} on the whole validation split")
        if bleu > chosen_bleu:
            chosen, chosen_bleu = name, bleu
    model.load_state_dict(candidates[chosen])
    model.eval()
    log(f"shipping {chosen}; scoring the test split")
    tr = Translator(
        model, tok, {"version": state["version"], "languages": tok.languages}, device=device.type
    )
    test = evaluate_pairs(tr, splits["test"])
    for k, m in test.items():
        log(f"test {k}: BLEU {m['bleu']:.2f} chrF {m['chrf']:.2f} n={m['n']}")
    metrics = {
        "decoding": "greedy",
        "test": {lang: test[lang] for lang in tok.languages if lang in test},
        "test_by_origin": {k: v for k, v in test.items() if "/" in k},
        "validation": {"chosen": chosen, "val_bleu": chosen_bleu, "history": state["history"]},
        "training": {
            "steps": state["step"],
            "minutes": round(state["elapsed"] / 60, 1),
            "examples_per_epoch": len(train),
            "device": device.type,
            **_earlier_training(args.init_from, state["elapsed"] / 60, device.type),
        },
    }
    counts = {}
    for p in splits["train"]:
        counts[(p.origin, p.lang)] = counts.get((p.origin, p.lang), 0) + 1
    training_data = [
        f"Tatoeba {lang}-en ({counts.get(('tatoeba', lang), 0)} pairs, {D.TATOEBA_FILES[lang]}): "
        f"{TATOEBA_ATTRIBUTION}"
        for lang in D.LANGUAGES
    ] + [
        f"WMT news {lang}-en ({counts.get(('news', lang), 0)} pairs, x{args.news_upsample}, "
        f"{D.NEWS_FILES[lang]}): WMT test sets, research use, cite WMT (statmt.org)"
        for lang in D.LANGUAGES
    ]
    if args.en_to_xx:
        training_data.append("the same pairs reversed (en -> xx directions, target tagged)")
    synthetic_kinds = {  # origin -> (what the pairs are, where each side comes from)
        "bt": (
            "back-translated",
            "English side from fin_corpus (see ../shared/data/fin_corpus/SOURCES.md), source "
            "written by an en -> xx model (focusdig.translator.backtranslate)",
        ),
        "kd": (
            "distilled",
            "sources from the training pairs above, English written by a teacher's beam "
            "search (focusdig.translator.distill)",
        ),
    }
    training_data += [
        f"{kind} {lang}-en ({n} pairs, x{args.synthetic_upsample}): {sides}"
        for origin, (kind, sides) in synthetic_kinds.items()
        for lang in D.LANGUAGES
        if (n := sum(p.lang == lang and p.origin == origin for p in synthetic))
    ]
    path = save_model_dir(
        Path(args.out_dir) / state["version"],
        model,
        tok,
        version=state["version"],
        metrics=metrics,
        training_data=training_data,
        training=asdict(args),
    )
    log(f"model written to {path}")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="models/translator")
    ap.add_argument("--work-dir", default="runs/translator")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--version", default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument(
        "--extend",
        action="store_true",
        help="continue from the checkpoint where the cool-down began, --minutes the new budget",
    )
    ap.add_argument(
        "--config",
        default="{}",
        help='JSON overrides of TrainingArguments, e.g. {"max_tokens": 4000}',
    )
    a = ap.parse_args(argv)
    overrides = json.loads(a.config)
    args = TrainingArguments.from_dict(
        {
            **overrides,
            "out_dir": a.out,
            "work_dir": a.work_dir,
            "data_dir": a.data_dir,
            "minutes": a.minutes,
            "num_threads": a.threads,
            "version": a.version,
            "resume": a.resume,
            "extend": a.extend,
        }
    )
    train_translator(args)


if __name__ == "__main__":
    main()
