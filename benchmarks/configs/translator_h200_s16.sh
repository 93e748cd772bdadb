#!/bin/bash
# Session 16's device run (issue 18): three continued trainings of mt-20261127-0820 at once on one
# lent H200, 4.5 minutes each; what they wrote comes back split into files under 16 MiB.
# Run from the repository root with a folder gpu18/ beside the code (ignored, carried): data/mt and
# data/mt_news (copies of ../shared/data's) and kd.tar.xz (the two distillation files of session 15).
# spaCy is not installed on the device: a stand-in written below splits sentences with a regex for
# the trainer's own validation reads there; candidates were chosen here, with spaCy.
set -uo pipefail
MIN=${MIN:-4.5}          # training minutes per run
LIMIT=${LIMIT:-375}      # hard stop per run (seconds), then the last checkpoint is packed
EXTRA=${EXTRA:-}         # extra config for a dress rehearsal, e.g. ,"max_test":20
THREADS=${THREADS:-4}
DEST=${OUT:-gpu18/out}
PY=${PY:-python3}
mkdir -p gpu18/shim/spacy
cat > gpu18/shim/spacy/__init__.py <<'SHIM'
"""Device-only stand-in for spaCy's blank pipeline + rule sentencizer (spaCy is not installed there)."""
import re
from types import SimpleNamespace

__version__ = "0-shim"
_END = re.compile(r"[.!?]+[\"')\]]*\s+")


class _Blank:
    max_length = 10**6

    def add_pipe(self, name):
        return None

    def __call__(self, text):
        cuts = [m.end() for m in _END.finditer(text)]
        bounds = zip([0, *cuts], [*cuts, len(text)])
        return SimpleNamespace(sents=[SimpleNamespace(start_char=s, end_char=e) for s, e in bounds if e > s])


def blank(lang):
    return _Blank()
SHIM
export PYTHONPATH=$PWD/gpu18/shim:$PWD PYTHONUNBUFFERED=1 FOCUSDIG_DATA_DIR=$PWD/gpu18/data
W=gpu18/work
mkdir -p "$DEST" $W gpu18/cand gpu18/rescue
(nvidia-smi -L; $PY -c "import torch, sacrebleu, tokenizers; print(torch.__version__, sacrebleu.__version__, tokenizers.__version__, torch.cuda.is_available())") 2>&1 | tee "$DEST/summary.txt"
tar -xJf gpu18/kd.tar.xz -C $W
INIT=models/translator/mt-20261127-0820
COMMON='"init_from": "'$INIT'", "synthetic": ["'$W'/kd-0820-beam4.tsv", "'$W'/kd-0820-beam4-tatoeba.tsv"], "synthetic_upsample": 1, "news_upsample": 2, "lang_upsample": {"zh": 2}, "warmup_steps": 300, "eval_every": 1500, "checkpoint_minutes": 1.0, "max_tokens": 12000, "cooldown_fraction": 0.2'
train() {
    local name=$1 cfg=$2
    timeout "$LIMIT" $PY -m focusdig.translator.trainer --out gpu18/cand --work-dir $W/$name \
        --minutes "$MIN" --threads "$THREADS" --version "$name" \
        --config "{$COMMON, $cfg$EXTRA}" > "$W/$name.log" 2>&1
    echo "$name exit $?" | tee -a "$DEST/summary.txt"
}
train mt-g1 '"lr": 0.0005, "seed": 21, "model": {"dropout": 0.1}' &
train mt-g2 '"lr": 0.0005, "seed": 22, "model": {"dropout": 0.1}' &
train mt-g3 '"lr": 0.0007, "seed": 23, "model": {"dropout": 0.2}' &
wait
# a run stopped before writing its directory: its last checkpoint in float16
for name in mt-g1 mt-g2 mt-g3; do
    [ -f gpu18/cand/$name/model.safetensors ] && continue
    last=$(ls $W/$name/ckpt-*.safetensors 2>/dev/null | tail -1)
    [ -n "$last" ] && $PY -c "import sys, torch; from safetensors.torch import load_file, save_file; save_file({k: v.half() for k, v in load_file(sys.argv[1]).items()}, sys.argv[2])" "$last" gpu18/rescue/$name.safetensors
done
grep -h "step .* val\|candidate\|test \|training done\|Error\|error" $W/*.log >> "$DEST/summary.txt"
tar -cf - --exclude=tokenizer.json gpu18/cand gpu18/rescue $W/*.log $W/*/state.json | split -b 15M - "$DEST/bundle.tar.part-"
ls -la "$DEST"
