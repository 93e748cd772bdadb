"""Inference precision: float32, or bfloat16/float16 autocast where the hardware is fast at it.

``auto`` picks float16 autocast on CUDA, bfloat16 autocast on CPUs with native bfloat16 matrix
instructions (AVX512-BF16 or AMX, e.g. AMD Zen 4, Intel Sapphire Rapids: about 1.8x the float32
speed of our models, class probabilities within 0.01), and float32 everywhere else (emulated
bfloat16 is slower than float32). The translator on a CPU goes one step further under ``auto``:
its linear layers run as dynamically quantized int8 (``focusdig.translator.model.quantize_int8``),
and so do the classifier's in the pipeline's scoring and entity steps (``quantize_linear_int8``,
``Classifier.load(int8=None)``).
"""

from __future__ import annotations

import copy
import functools
import threading
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs that advertise AVX512-BF16 or AMX-BF16 (Linux /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def dtype_name(dtype: torch.dtype | None) -> str:
    """ "bfloat16", "float16" or "float32" (None): for logs and result files."""
    return str(dtype or torch.float32).removeprefix("torch.")


def precision_name(model) -> str:
    """What a loaded model (translator or classifier) computes in, for result files:
    "int8 (dynamic)" or its autocast dtype's name."""
    return "int8 (dynamic)" if getattr(model, "int8", False) else dtype_name(model.autocast_dtype)


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """``torch.autocast`` for ``dtype``, or a no-op for float32."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def int8_by_default(device: torch.device | str, precision: str = "auto") -> bool:
    """Whether ``auto`` means dynamically quantized int8 linear layers: on the CPU only."""
    return torch.device(device).type == "cpu" and precision == "auto"


def quantize_linear_int8(model: nn.Module, inplace: bool = False) -> nn.Module:
    """An inference copy of ``model`` (``inplace``: the model itself) on the CPU whose
    ``nn.Linear`` layers run as dynamically quantized int8 matrix products (weights int8 per
    output channel, activations quantized on the fly): PyTorch's ``quantize_dynamic``.
    Everything else stays float32."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model = (model if inplace else copy.deepcopy(model)).cpu().eval()
    with warnings.catch_warnings():  # deprecated in favour of torchao, still supported
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)


_threads_lock = threading.Lock()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op CPU threads (None: as they are), restoring the
    count after it. With PyTorch's OpenMP backend the count belongs to the calling thread; with
    its native thread pool it is process-wide, so such blocks run one at a time. (Scoring beside
    translation fits its count per batch instead: ``pipeline.CpuShare``.)"""
    if not n:
        yield
        return
    with _threads_lock:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)
