"""Choosing the device and the precision of the forward pass (`--amp`), for training and inference alike."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from typing import TypeVar

import torch

from centernet.catalog import AMP_MODES

# "1" / "0" overrides the CPU's own answer to "does it compute bf16 natively?" (for tests, and for a user whose
# processor the detection misjudges)
NATIVE_BF16_VARIABLE = "CENTERNET_NATIVE_BF16"
Result = TypeVar("Result")


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


@functools.cache
def cpu_bf16_features() -> tuple[str, ...]:
    """The CPU's instruction-set extensions that compute bf16 natively (empty where bf16 is emulated):
    x86 AVX512-BF16 and AMX-BF16 (Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later), Arm's BF16
    (FEAT_BF16: Neoverse V1 / N2, Graviton 3 and later), as the Linux kernel lists them, and what PyTorch's own
    CPU probes report."""
    features: set[str] = set()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            key = line.split(":", 1)[0].strip().lower()
            if key in ("flags", "features"):
                features |= set(line.split(":", 1)[1].split()) & {"avx512_bf16", "amx_bf16", "bf16"}
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    for name, probe in probes.items():  # private helpers of torch.cpu; absent in some releases
        with contextlib.suppress(Exception):
            if getattr(torch.cpu, probe)():
                features.add(name)
    return tuple(sorted(features))


def _forced_native_bf16() -> bool | None:
    """What CENTERNET_NATIVE_BF16 says (1: native, 0: not), or None where it is unset."""
    forced = os.environ.get(NATIVE_BF16_VARIABLE, "").strip()
    return forced == "1" if forced in ("0", "1") else None


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively; CENTERNET_NATIVE_BF16=1 or 0 overrides the detection."""
    forced = _forced_native_bf16()
    return bool(cpu_bf16_features()) if forced is None else forced


def autocast_dtype(device: torch.device, amp: str = "on") -> torch.dtype | None:
    """The autocast dtype of an `--amp` mode (`centernet.catalog.AMP_MODES`) on `device`; None: float32.

    CUDA: bf16 where the GPU supports it, else fp16 (which needs a GradScaler for training), for "auto" and "on".
    CPU: bf16 for "on", and for "auto" where the CPU computes bf16 natively (`native_bf16`). Other devices: None.
    """
    if amp not in AMP_MODES:
        raise ValueError(f"--amp: choose from {', '.join(AMP_MODES)}, got {amp!r}")
    if amp == "off":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and (amp == "on" or native_bf16()):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to `dtype` on `device` inside the block; a no-op for None (float32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def in_float32(function: Callable[..., Result], *tensors: torch.Tensor) -> Result:
    """`function(*tensors)`; where autocast is on for the tensors' device, outside it with the tensors cast to
    float32, so that the function computes in float32 (the layers autocast must not lower)."""
    device_type = tensors[0].device.type
    if not (torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)):
        return function(*tensors)
    with torch.autocast(device_type, enabled=False):
        return function(*(tensor.float() for tensor in tensors))


def precision_name(dtype: torch.dtype | None) -> str:
    """"float32" for None (no autocast), else "bf16" or "fp16": how logs and reports name an autocast dtype."""
    return {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def precision_label(dtype: torch.dtype | None) -> str:
    """"float32", or e.g. "bf16 autocast": how the one-line reports name the precision of the network."""
    return precision_name(dtype) + ("" if dtype is None else " autocast")


def precision_line(device: torch.device, amp: str, channels_last: bool) -> str:
    """One line on how the network runs, e.g. "precision: bf16 autocast (--amp auto; this CPU computes bf16
    natively: amx_bf16 avx512_bf16), channels_last"."""
    name = precision_label(autocast_dtype(device, amp))
    if device.type == "cpu":
        features = " ".join(cpu_bf16_features())
        why = (f"this CPU computes bf16 natively{f': {features}' if features else ''}" if native_bf16()
               else "this CPU has no native bf16 (it would be emulated, slower than float32)")
        why += f", as {NATIVE_BF16_VARIABLE} says" if _forced_native_bf16() is not None else ""
    else:
        why = device.type
    layout = "channels_last" if channels_last else "contiguous (NCHW)"
    return f"precision: {name} (--amp {amp}; {why}), {layout}"
