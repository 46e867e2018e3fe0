"""The device a detector's torch parts run on (the LM's and the classifier's share this rule): ``auto`` (CUDA when
this machine has it, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``. The parameter is checked when the detector is
built; it is resolved (and a GPU this machine lacks refused) in ``setup``."""
from __future__ import annotations

import re

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(device: object, owner: str = "classifier") -> str:
    """``device`` if it names a device this detector understands; ValueError otherwise."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"{owner}: device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return device


def resolve_device(device: str, owner: str = "classifier") -> str:
    """The torch device string to use: ``auto`` is ``cuda`` where torch sees a GPU, else ``cpu``.

    Raises ValueError for a CUDA device this machine lacks. Imports torch only when a GPU is asked for or may be
    used, so a CPU-only install without torch resolves ``auto`` and ``cpu`` to ``cpu``.
    """
    check_device(device, owner)
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        torch = None  # type: ignore[assignment]
    available = torch is not None and torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    index = int(device.split(":")[1]) if ":" in device else 0
    if not available or index >= torch.cuda.device_count():
        raise ValueError(f"{owner}: device {device!r} is not on this machine (CUDA available: {available})")
    return device
