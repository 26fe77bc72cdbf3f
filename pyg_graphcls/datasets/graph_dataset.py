"""``ImageGraphDataset``: convert images to graphs once, cache on disk, reload.

The cache file name holds a hash of the images, labels, graph kind, graph
parameters and this module's format version, so changing any of them
converts again, and a second load with the same ones reads the cache. Caches
are written atomically and read with ``torch.load(weights_only=True)``.
Conversion runs on all CPU cores (one process per core, one torch thread
each) with a tqdm progress bar.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from ..errors import GraphclsError
from ..graphs import GRAPH_KINDS, build_graph
from ..io import load_tensors, save_tensors
from .folder import read_image

__all__ = ["ImageGraphDataset", "convert_images", "default_root", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_CHUNK = 256


def default_root() -> Path:
    """Cache folder: ``$PYG_GRAPHCLS_HOME`` or ``~/.cache/pyg_graphcls``."""
    return Path(os.environ.get("PYG_GRAPHCLS_HOME", Path.home() / ".cache" / "pyg_graphcls"))


def _fingerprint(images: Any, labels: np.ndarray) -> str:
    h = hashlib.sha1()
    if isinstance(images, np.ndarray):
        h.update(str((images.shape, images.dtype.str)).encode())
        h.update(np.ascontiguousarray(images).data)
    else:  # list of paths or arrays
        for item in images:
            if isinstance(item, (str, os.PathLike)):
                st = os.stat(item)
                h.update(f"{item}|{st.st_size}|{st.st_mtime_ns}".encode())
            else:
                a = np.ascontiguousarray(item)
                h.update(str((a.shape, a.dtype.str)).encode())
                h.update(a.data)
    h.update(np.ascontiguousarray(labels, dtype=np.int64).data)
    return h.hexdigest()


def _convert_chunk(args):
    """Convert a chunk in a worker; return it collated as numpy arrays.

    Tensors are sent back as numpy arrays (plain pickling): torch would pass
    each tensor as a shared-memory file descriptor and run out of them. One
    collated block per chunk also keeps no per-image Python objects around.
    """
    graph, kwargs, items, labels, start = args
    torch.set_num_threads(1)
    data_list, failures = [], []
    for i, (item, y) in enumerate(zip(items, labels)):
        try:
            image = read_image(item) if isinstance(item, (str, os.PathLike)) else item
            data_list.append(build_graph(graph, image, y=int(y), **kwargs))
        except GraphclsError as e:
            failures.append((start + i, str(e)))
        except Exception as e:  # a library failing deep inside: report, don't crash the pool
            failures.append((start + i, f"{type(e).__name__}: {e}"))
    if not data_list:
        return None, None, failures
    data, slices = InMemoryDataset.collate(data_list)
    arrays = {k: v.numpy() for k, v in data.to_dict().items() if isinstance(v, torch.Tensor)}
    return arrays, {k: v.numpy() for k, v in slices.items()}, failures


def _merge(blocks):
    """Concatenate collated chunks (InMemoryDataset layout: no index increments)."""
    probe = Data()
    keys = list(blocks[0][0])
    for arrays, _ in blocks[1:]:
        if list(arrays) != keys:
            raise GraphclsError(f"graphs do not all have the same fields: {keys} vs {list(arrays)}")
    data, slices = {}, {}
    for k in keys:
        dim = probe.__cat_dim__(k, torch.from_numpy(blocks[0][0][k])) or 0
        dim = dim % blocks[0][0][k].ndim
        try:
            data[k] = torch.from_numpy(np.concatenate([b[0][k] for b in blocks], axis=dim))
        except ValueError:
            raise GraphclsError(f"cannot store field {k!r}: its shape differs between graphs "
                                f"(e.g. 'seg' of images of different sizes)") from None
        parts, offset = [np.zeros(1, np.int64)], 0
        for b in blocks:
            s = b[1][k]
            parts.append(s[1:] + offset)
            offset += int(s[-1])
        slices[k] = torch.from_numpy(np.concatenate(parts))
    return data, slices


def convert_images(images: Sequence[Any], labels: np.ndarray, graph: str = "superpixels",
                   graph_kwargs: Optional[dict] = None, workers: Optional[int] = None,
                   progress: bool = True, desc: str = "converting"):
    """Convert images (arrays or file paths) to graphs in parallel.

    Returns ``(data_dict, slices, failures)``: the collated graphs in
    ``InMemoryDataset`` layout (``None`` if none converted) and a list of
    ``(index, reason)`` for the images that could not be converted.
    """
    from tqdm.auto import tqdm

    if graph not in GRAPH_KINDS:
        raise GraphclsError(f"unknown graph kind {graph!r}; choose one of {GRAPH_KINDS}")
    kwargs = dict(graph_kwargs or {})
    n = len(images)
    if len(labels) != n:
        raise GraphclsError(f"{n} images but {len(labels)} labels")
    jobs = [(graph, kwargs, images[s:s + _CHUNK], labels[s:s + _CHUNK], s) for s in range(0, n, _CHUNK)]
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    blocks, failures = [], []
    bar = tqdm(total=n, desc=desc, unit="img", disable=None if progress else True, leave=False)

    def collect(out, size):
        arrays, slices, fails = out
        if arrays is not None:
            blocks.append((arrays, slices))
        failures.extend(fails)
        bar.update(size)

    try:
        if workers > 1 and len(jobs) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
                for job, out in zip(jobs, pool.map(_convert_chunk, jobs)):
                    collect(out, len(job[2]))
        else:
            for job in jobs:
                collect(_convert_chunk(job), len(job[2]))
    finally:
        bar.close()
    if not blocks:
        return None, None, failures
    data, slices = _merge(blocks)
    return data, slices, failures


class ImageGraphDataset(InMemoryDataset):
    r"""Graphs of images, converted once and cached.

    Args:
        root (str): cache folder (see :func:`default_root`).
        images: ``[N, H, W]``/``[N, H, W, C]`` array, or a list of arrays or
            image file paths (any sizes).
        labels: ``[N]`` integer class ids.
        graph (str): ``superpixels`` | ``grid`` | ``patches``.
        graph_kwargs (dict): arguments of the builder
            (:func:`~pyg_graphcls.graphs.superpixel_graph` etc.).
        name (str): sub-folder of ``root`` for this data set.
        class_names (list[str], optional): names of the classes.
        workers (int, optional): conversion processes (default: all cores).
        strict (bool): fail on the first image that cannot be converted;
            otherwise skip it and list it in :attr:`failures`.
        transform: PyG transform applied on access.

    Attributes:
        converted (bool): whether this instance converted (``False``: cache hit).
        failures (list): ``(index, reason)`` of skipped images.
        cache_path (Path): the cache file.
    """

    def __init__(self, root: str | os.PathLike, images: Any, labels: Any, *, graph: str = "superpixels",
                 graph_kwargs: Optional[dict] = None, name: str = "dataset",
                 class_names: Optional[Sequence[str]] = None, workers: Optional[int] = None,
                 progress: bool = True, strict: bool = True, force: bool = False,
                 transform: Optional[Callable] = None) -> None:
        super().__init__(None, transform)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(images) != len(labels):
            raise GraphclsError(f"{name}: {len(images)} images but {len(labels)} labels")
        if len(labels) == 0:
            raise GraphclsError(f"{name}: no images")
        self.graph = graph
        self.graph_kwargs = dict(graph_kwargs or {})
        params = json.dumps({"graph": graph, "kwargs": self.graph_kwargs, "v": FORMAT_VERSION},
                            sort_keys=True, default=str)
        key = hashlib.sha1((params + _fingerprint(images, labels)).encode()).hexdigest()[:16]
        self.cache_path = Path(root) / name / f"{graph}-{key}.pt"
        self.converted = False
        if self.cache_path.is_file() and not force:
            data_dict, slices, meta = self._read_cache()
        else:
            data_dict, slices, failures = convert_images(images, labels, graph, self.graph_kwargs, workers,
                                                         progress, desc=f"{name}: {graph}")
            if failures and strict:
                idx, why = failures[0]
                raise GraphclsError(f"{name}: image {idx} cannot be converted: {why}"
                                    + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))
            if data_dict is None:
                raise GraphclsError(f"{name}: none of the {len(labels)} images could be converted; first "
                                    f"reason: {failures[0][1]}")
            num_classes = int(labels.max()) + 1
            meta = {"graph": graph, "graph_kwargs": json.loads(json.dumps(self.graph_kwargs, default=str)),
                    "class_names": list(class_names) if class_names is not None else
                    [str(i) for i in range(num_classes)],
                    "failures": [[int(i), str(r)] for i, r in failures], "version": FORMAT_VERSION}
            save_tensors((data_dict, slices, meta), self.cache_path)
            self.converted = True
        self.data = Data.from_dict(data_dict)
        self.slices = slices
        self.meta = meta
        self.failures = [tuple(f) for f in meta.get("failures", [])]

    def _read_cache(self):
        out = load_tensors(self.cache_path)
        if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], dict)
                and out[2].get("version") == FORMAT_VERSION):
            raise GraphclsError(f"{self.cache_path} is not a pyg_graphcls graph cache (delete it to convert again)")
        return out

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return len(self.meta["class_names"])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self)}, graph={self.graph})"
