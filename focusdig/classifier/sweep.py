"""A pretraining and fine-tuning sweep that keeps one accelerator busy.

    python -m focusdig.classifier.sweep --config sweep.json --work-dir runs/sweep [--data-dir D]

Runs, each as its own `focusdig.classifier.trainer` process so that small models share one GPU:
1. every pretraining variant at once (`pretrain`: name -> TrainingArguments overrides), over
   one shared tokenized corpus;
2. every fine-tuning recipe (`finetune`: name -> overrides) from every pretrained encoder, with
   `seeds` seeds each, `parallel` processes at a time;
3. per (encoder, recipe): the uniform and the greedy soup of its seeds (weights averaged; greedy
   adds a seed only if validation macro-F1 does not drop), scored on the same validation split.

Writes `results.json` in the work dir (validation figures of every model, soup and pretraining
run) and, with `--export DIR`, the best model of each recipe (by validation macro-F1) and the
uniform soup of each (encoder, recipe) as float16 model directories packed in tar files, and
each pretraining run's weights likewise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from sklearn.metrics import f1_score

from focusdig.classifier import data as D
from focusdig.classifier.artifacts import load_model_dir, save_model_dir, write_manifest
from focusdig.classifier.targets import add_targeted_splits, encode_examples, supports_targets
from focusdig.classifier.tokenizer import TextEncoder
from focusdig.classifier.trainer import (
    TrainingArguments,
    log,
    predict_logits,
    pretraining_cache,
    pretraining_sequences,
    pretraining_tokenizer,
)
from focusdig.precision import default_device


def _run_all(
    jobs: list[tuple[str, list[str], Path]],
    parallel: int,
    deadline: float = float("inf"),
    grace_s: float = 60.0,
) -> dict[str, int]:
    """Run (name, argv, log file) jobs, `parallel` at a time; name -> exit status. Jobs still
    running at `deadline` (a `time.time()`) are sent SIGTERM (a fine-tuning then saves its best
    finished epoch and exits) and killed `grace_s` later; jobs not started are skipped."""
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    pending, running, status, stopped = list(jobs), {}, {}, {}
    while pending or running:
        now = time.time()
        if now > deadline:
            for name, (proc, _) in running.items():
                if name not in stopped:
                    log(f"{name}: asked to stop at the deadline")
                    proc.terminate()
                    stopped[name] = now
                elif now - stopped[name] > grace_s:
                    proc.kill()
            pending = []
        while pending and len(running) < parallel:
            name, argv, logfile = pending.pop(0)
            logfile.parent.mkdir(parents=True, exist_ok=True)
            out = open(logfile, "w")  # noqa: SIM115 (closed when the process ends)
            running[name] = (
                subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env),
                out,
            )
        time.sleep(1)
        for name, (proc, out) in list(running.items()):
            if proc.poll() is not None:
                out.close()
                status[name] = proc.returncode
                log(f"{name}: exit {proc.returncode}")
                del running[name]
    return status


def _trainer(config: dict, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "focusdig.classifier.trainer",
        "--config",
        json.dumps(config),
        *extra,
    ]


def _val_split(data_dir: str | None, targets: bool) -> list[D.Example]:
    splits = D.load_splits(data_dir)
    return (
        add_targeted_splits(splits, data_dir, log=lambda _: None)["val"]
        if targets
        else splits["val"]
    )


def _score(model, enc: TextEncoder, val: list[D.Example]) -> dict:
    lab = {name: i for i, name in enumerate(model.config.labels)}
    y = np.array([lab[ex.label] for ex in val])
    pred = predict_logits(model, encode_examples(enc, val, model.config)).argmax(1)
    out = {
        "val_macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "val_accuracy": round(float((pred == y).mean()), 4),
    }
    sentence = np.array([ex.source != "sentfin" for ex in val])
    if not sentence.all():  # targeted models: sentence-level figures too, comparable across recipes
        out["sentence_val_macro_f1"] = round(
            float(f1_score(y[sentence], pred[sentence], average="macro")), 4
        )
        out["sentence_val_accuracy"] = round(float((pred[sentence] == y[sentence]).mean()), 4)
    return out


def soups(model_dirs: list[Path], val: list[D.Example], device: torch.device) -> dict[str, dict]:
    """Uniform and greedy weight averages of fine-tuned seeds (same pretrained start)."""
    loaded = [load_model_dir(p) for p in model_dirs]
    enc = loaded[0][1]
    # copies: on the CPU `.to(device)` keeps the first model's tensors, which each trial loads into
    states = [{k: v.float().clone() for k, v in m.state_dict().items()} for m, _, _ in loaded]
    model = loaded[0][0].to(device)

    def score(members: list[int]) -> dict:
        avg = {k: sum(states[i][k] for i in members) / len(members) for k in states[0]}
        model.load_state_dict(avg)
        return _score(model, enc, val)

    singles = [score([i]) for i in range(len(states))]
    order = sorted(range(len(states)), key=lambda i: -singles[i]["val_macro_f1"])
    greedy, best = [order[0]], singles[order[0]]
    for i in order[1:]:
        trial = score(greedy + [i])
        if trial["val_macro_f1"] >= best["val_macro_f1"]:
            greedy, best = greedy + [i], trial
    return {
        "uniform": {**score(list(range(len(states)))), "members": [p.name for p in model_dirs]},
        "greedy": {**best, "members": [model_dirs[i].name for i in greedy]},
    }


def save_soup(
    model_dirs: list[Path], members: list[str], out: Path, version: str, metrics: dict
) -> Path:
    """Write the average of `members` (names among `model_dirs`) as a model directory."""
    chosen = [p for p in model_dirs if p.name in members]
    model, enc, config = load_model_dir(chosen[0])
    states = [load_file(str(p / "model.safetensors")) for p in chosen]
    avg = {k: sum(s[k].float() for s in states) / len(states) for k in states[0]}
    model.load_state_dict(avg, strict=False)  # model dirs hold no MLM head
    return save_model_dir(
        out / version,
        model,
        enc,
        version=version,
        metrics=metrics,
        training_data=config["training_data"],
        pretraining_data=config.get("pretraining_data"),
    )


def pack_half(path: Path, tar_path: Path) -> Path:
    """A copy of a model dir or checkpoint with float16 weights (no optimizer state), tarred."""
    tmp = Path(tempfile.mkdtemp()) / path.name
    tmp.mkdir()
    for f in path.iterdir():
        if f.name == "model.safetensors":
            save_file(
                {k: v.half().contiguous() for k, v in load_file(str(f)).items()}, str(tmp / f.name)
            )
        elif (
            f.suffix in (".json", ".md")
            and f.name != "manifest.json"
            and (f.name != "tokenizer.json" or (path / "manifest.json").exists())
        ):  # a checkpoint's tokenizer is the one it started from: not packed
            (tmp / f.name).write_bytes(f.read_bytes())
    if (path / "manifest.json").exists():
        write_manifest(tmp)
    with tarfile.open(tar_path, "w") as tar:
        tar.add(tmp, arcname=path.name)
    shutil.rmtree(tmp.parent)
    return tar_path


def shared_corpus(conf: dict, base: dict, work: Path, data_dir: str | None) -> Path | None:
    """Tokenize the pretraining corpus once for every pretraining run (the slow part), with the
    first run's arguments and starting tokenizer; the cache file in `work`, or None when no run
    pretrains."""
    first = next(iter(conf["pretrain"].values()))
    args = TrainingArguments.from_dict({**base, **first, "work_dir": str(work)})
    if args.pretrain_minutes <= 0:
        return None
    train_texts = [ex.text for ex in D.load_splits(data_dir)["train"]]
    t0 = time.time()
    seqs = pretraining_sequences(args, pretraining_tokenizer(args, train_texts), train_texts)
    log(f"corpus: {len(seqs)} sequences, {len(seqs.flat)} tokens ({time.time() - t0:.0f} s)")
    return pretraining_cache(args)


def run_sweep(conf: dict, work: Path, data_dir: str | None, export: Path | None) -> dict:
    final_fits = [n for n, over in conf["finetune"].items() if over.get("train_on_val")]
    if final_fits or conf.get("common", {}).get("train_on_val"):
        raise ValueError(
            f"train_on_val in the sweep ({final_fits or 'common'}): its seeds and soups are "
            "chosen on the validation split, which that option trains on"
        )
    started = time.time()
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"config": conf, "pretrain": {}, "finetune": {}, "soups": {}}
    base = {
        "data_dir": data_dir,
        "num_threads": 1,
        "checkpoint_minutes": 2.0,
        **conf.get("common", {}),
    }
    cache = shared_corpus(conf, base, work / "corpus", data_dir)
    jobs = []
    for name, over in conf["pretrain"].items():
        wd = work / "pretrain" / name
        wd.mkdir(parents=True, exist_ok=True)
        if cache is not None and not (wd / cache.name).exists():
            os.link(cache, wd / cache.name)
        jobs.append(
            (
                name,
                _trainer({**base, **over, "work_dir": str(wd)}, "--pretrain-only"),
                wd / "log.txt",
            )
        )
    status = _run_all(jobs, parallel=len(jobs))
    encoders = {}
    for name in conf["pretrain"]:
        ckpt = work / "pretrain" / name / "pretrain"
        if status[name] == 0 and (ckpt / "state.json").exists():
            state = json.loads((ckpt / "state.json").read_text())
            results["pretrain"][name] = {
                k: state.get(k) for k in ("step", "tokens", "elapsed", "objective")
            }
            results["pretrain"][name]["last_losses"] = state.get("losses", [])[-3:]
            encoders[name] = ckpt
    (work / "results.json").write_text(json.dumps(results, indent=1))
    if export is not None:  # first, so that a later failure or timeout still returns them
        export.mkdir(parents=True, exist_ok=True)
        for name, ckpt in encoders.items():
            pack_half(ckpt, export / f"pretrained_{name}.tar")
    jobs, groups = [], {}
    for ft_name, over in conf["finetune"].items():  # recipe by recipe: the first finishes first
        for enc_name, ckpt in encoders.items():
            group = f"{enc_name}.{ft_name}"
            groups[group] = []
            for seed in conf.get("seeds", [0]):
                version = f"{group}.s{seed}"
                args = {
                    **base,
                    **over,
                    "seed": seed,
                    "pretrain_minutes": 0,
                    "work_dir": str(work / "ft" / version),
                }
                groups[group].append(work / "models" / version)
                jobs.append(
                    (
                        version,
                        _trainer(
                            args,
                            "--init-from",
                            str(ckpt),
                            "--out",
                            str(work / "models"),
                            "--version",
                            version,
                        ),
                        work / "ft" / f"{version}.log",
                    )
                )
    deadline = started + conf.get("finetune_deadline_s", float("inf"))
    status = _run_all(jobs, parallel=conf.get("parallel", 8), deadline=deadline)
    device = default_device()
    best_of_recipe: dict[str, tuple[float, Path]] = {}
    for group, dirs in groups.items():
        dirs = [d for d in dirs if status.get(d.name) == 0 and (d / "manifest.json").exists()]
        if not dirs:
            continue
        targets = supports_targets(load_model_dir(dirs[0])[0].config)
        val = _val_split(data_dir, targets)
        mixes = soups(dirs, val, device)
        results["soups"][group] = mixes
        for d in dirs:
            model, enc_, _ = load_model_dir(d)
            results["finetune"][d.name] = _score(model.to(device), enc_, val)
        candidates = [(results["finetune"][d.name]["val_macro_f1"], d) for d in dirs]
        for kind in ("uniform", "greedy"):
            if len(mixes[kind]["members"]) > 1:
                soup = save_soup(
                    dirs,
                    mixes[kind]["members"],
                    work / "models",
                    f"{group}.{kind}",
                    {
                        "validation": {k: v for k, v in mixes[kind].items() if k != "members"},
                        "soup_of": mixes[kind]["members"],
                    },
                )
                candidates.append((mixes[kind]["val_macro_f1"], soup))
        recipe = group.split(".", 1)[1]
        top = max(candidates, key=lambda c: c[0])
        if recipe not in best_of_recipe or top[0] > best_of_recipe[recipe][0]:
            best_of_recipe[recipe] = top
    results["best"] = {
        r: {"val_macro_f1": s, "model": p.name} for r, (s, p) in best_of_recipe.items()
    }
    (work / "results.json").write_text(json.dumps(results, indent=1))
    if export is not None:
        for recipe, (_, path) in best_of_recipe.items():
            pack_half(path, export / f"best_{recipe}.tar")
        for group in results["soups"]:
            uniform = work / "models" / f"{group}.uniform"
            if uniform.exists():
                pack_half(uniform, export / f"uniform_{group}.tar")
        (export / "results.json").write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m focusdig.classifier.sweep", description=__doc__.splitlines()[0]
    )
    p.add_argument("--config", required=True, help="sweep JSON file or string")
    p.add_argument("--work-dir", default="runs/sweep")
    p.add_argument("--data-dir", help="data dir (default $FOCUSDIG_DATA_DIR)")
    p.add_argument("--export", help="directory for the packed best models and pretrained weights")
    a = p.parse_args(argv)
    cpath = Path(a.config)
    conf = json.loads(cpath.read_text() if cpath.exists() else a.config)
    return run_sweep(
        conf,
        Path(a.work_dir),
        a.data_dir or os.environ.get("FOCUSDIG_DATA_DIR"),
        Path(a.export) if a.export else None,
    )


if __name__ == "__main__":
    main()
