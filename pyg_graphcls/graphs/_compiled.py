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


_CFLAGS = ["-O3", "-fopenmp", "-ffp-contract=off"]


def _name() -> str:
    """The extension's name carries a hash of its sources, their folder, the compiler flags and
    torch's version:
    every checkout (two versions installed, worktrees side by side, even with equal sources) keeps
    its own build in torch's extension cache. With the sources alone in the hash, two checkouts of
    the same sources shared one build folder whose ``build.ninja`` names the source paths, so each
    first use in the other checkout rebuilt it (about a minute on 2 cores)."""
    h = hashlib.sha1()
    for src in SOURCES:
        h.update(Path(src).read_bytes())
    h.update(str(Path(SOURCES[0]).resolve().parent).encode())
    h.update(" ".join(_CFLAGS + _simd_flags()).encode())
    import torch

    h.update(torch.__version__.encode())  # a build links against one libtorch
    return f"pyg_graphcls_graphs_{h.hexdigest()[:10]}"


def _built_path(name: str) -> Optional[Path]:
    """The finished build of ``name`` in torch's extension cache (``None`` if there is none): the
    shared library beside the marker :func:`load` writes after a build succeeds."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root is None:  # torch.utils.cpp_extension._get_build_directory's default, without importing that module
        import sys

        import torch
        import torch._appdirs

        if torch.version.hip is not None:
            tag = "rocm" + torch.version.hip.replace(".", "")
        elif torch.version.cuda is not None:
            tag = "cu" + torch.version.cuda.replace(".", "")
        else:
            tag = "cpu"
        root = os.path.join(os.path.realpath(torch._appdirs.user_cache_dir(appname="torch_extensions")),
                            f"py{sys.version_info.major}{sys.version_info.minor}{getattr(sys, 'abiflags', '')}_{tag}")
    folder = Path(root) / name
    so = folder / f"{name}.so"
    return so if so.is_file() and (folder / "built.ok").is_file() else None


def _import_built(name: str, so: Path):
    """Import a finished build directly: ``cpp_extension.load`` on an up-to-date build still imports
    its build machinery and runs ninja to check it (40-50 ms per process, measured)."""
    import importlib.util

    import torch  # noqa: F401  (the module links against libtorch)

    spec = importlib.util.spec_from_file_location(name, so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load() -> Optional[object]:
    """The compiled module, building it on first use; ``None`` when disabled or the build fails."""
    global _mod, _failed
    if _mod is not None or _failed or disabled():
        return _mod
    with _lock:
        if _mod is None and not _failed:
            name = _name()
            so = _built_path(name)
            if so is not None:
                try:
                    _mod = _import_built(name, so)
                    return _mod
                except Exception:  # damaged or built for another torch: build again below
                    pass
            try:
                from torch.utils.cpp_extension import _get_build_directory, load as load_extension

                # -ffp-contract=off: no fused multiply-adds, so distances and sums round as the
                # tensor/numpy paths round them (the same bits)
                _mod = load_extension(name, sources=list(SOURCES), extra_cflags=_CFLAGS + _simd_flags(),
                                      extra_ldflags=["-fopenmp"], verbose=False)
                Path(_get_build_directory(name, False), "built.ok").write_text(str(Path(SOURCES[0]).parent))
            except Exception:  # no compiler, no headers: the tensor paths run
                _failed = True
    return _mod
