"""The optional compiled CPU kernels of the graph builders, built from ``csrc/*.cpp`` on first use.

``csrc/batched_slic.cpp`` holds the SLIC rounds, the planar pixel features (the
compiled twin of :func:`~pyg_graphcls.graphs.batched_slic.rgb_to_lab`) and the
per-segment sums; ``csrc/knn.cpp`` the kNN of many small 2-D graphs;
``csrc/slot_product.cpp`` the weighted slot products of the dense training path
(:class:`~pyg_graphcls.nn.neighbours.SlotOperator`, any float dtype). They are
compiled together with :func:`torch.utils.cpp_extension.load` the first time
they are asked for (needs a C++ compiler; torch caches the build in
``TORCH_EXTENSIONS_DIR``). When they cannot be built, or ``PYG_GRAPHCLS_NO_CPP=1``
is set, :func:`load` returns ``None`` and the tensor paths run instead; CUDA
tensors always take the tensor paths.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Optional

__all__ = ["load", "disabled", "SOURCES"]

#: the C++ sources of the extension (shipped as package data)
SOURCES = tuple(str(Path(__file__).with_name("csrc") / name) for name in ("batched_slic.cpp", "knn.cpp",
                                                                                  "slot_product.cpp"))

_lock = threading.Lock()
_mod = None
_failed = False


def disabled() -> bool:
    """``PYG_GRAPHCLS_NO_CPP=1`` forbids the compiled kernels (tests of the tensor paths, machines without a
    compiler)."""
    return os.environ.get("PYG_GRAPHCLS_NO_CPP", "") not in ("", "0")


def _simd_flags() -> list[str]:
    """``-mavx2`` when this CPU has AVX2 (8 floats per vector instead of SSE's 4: the SLIC rounds
    ran ~15 % faster, measured). The flags are part of torch's build hash, so a machine without
    AVX2 sharing the extension cache builds its own copy instead of loading this one."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln.split(":", 1)[1].split() for ln in fh if ln.startswith("flags")), [])
    except OSError:
        return []
    return ["-mavx2"] if "avx2" in flags else []


def _name() -> str:
    """The extension's name carries a hash of its sources: checkouts with different sources (two
    versions installed, worktrees side by side) keep their own builds in torch's extension cache
    instead of rebuilding over each other on every first use."""
    h = hashlib.sha1()
    for src in SOURCES:
        h.update(Path(src).read_bytes())
    return f"pyg_graphcls_graphs_{h.hexdigest()[:10]}"


def load() -> Optional[object]:
    """The compiled module, building it on first use; ``None`` when disabled or the build fails."""
    global _mod, _failed
    if _mod is not None or _failed or disabled():
        return _mod
    with _lock:
        if _mod is None and not _failed:
            try:
                from torch.utils.cpp_extension import load as load_extension

                # -ffp-contract=off: no fused multiply-adds, so distances and sums round as the
                # tensor/numpy paths round them (the same bits)
                _mod = load_extension(_name(), sources=list(SOURCES),
                                      extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off"] + _simd_flags(),
                                      extra_ldflags=["-fopenmp"], verbose=False)
            except Exception:  # no compiler, no headers: the tensor paths run
                _failed = True
    return _mod
