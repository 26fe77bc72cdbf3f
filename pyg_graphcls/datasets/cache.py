"""The graph cache on disk: one folder of chunk files per data set, graph kind and parameters.

A cache is the folder ``<root>/<name>/<graph>-<key>/``:

- ``manifest.json``: the images and chunk size the chunks were cut for (``{"n", "chunk", "version"}``);
- ``chunk-NNNNNN.pt``: the graphs of images ``j * chunk ..`` collated (``InMemoryDataset`` layout,
  ``edge_index`` as uint8/int16/int32 when it fits), with the images that failed and why;
- ``index.pt``: written last: the cache's meta data (graph kind and parameters, class names,
  failures, format version) and each chunk's images, graph count and byte size. The cache is complete
  when the index exists and every chunk it lists has its size.

The key (:func:`cache_key`) is a hash of the images, labels, graph kind, graph parameters and
:data:`FORMAT_VERSION`, so changing any of them converts again, and a second load with the same
ones reads the cache. Every file is written atomically (a temporary file renamed into place) and
read with ``torch.load(weights_only=True)``.

The chunks a conversion writes as it goes are the cache: a conversion killed part-way resumes
from the chunks already there, shards of one conversion (other processes or machines) fill one
folder, and nothing is merged or written a second time when the last chunk is done (the single
cache file this replaces was written after the chunks, again: ~0.7 s of a ~6.5 s conversion of
Fashion-MNIST's 70,000 images on two cores, and the arrays went through the worker pipes as well).
:class:`GraphCache` reads the chunks when its tensors are first asked for, mapped from the files
(``torch.load(mmap=True)``), and concatenates them: 0.26 s for the 60,000 graphs of the
Fashion-MNIST train split against 0.17 s for the one file.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import GraphclsError, UnsafeFileError
from ..graphs.storage import merge_storage, widen_indices
from ..io import load_tensors, read_json, save_tensors, write_json

__all__ = ["FORMAT_VERSION", "GraphCache", "cache_key", "conversion_lock", "default_root", "read_index", "write_index",
           "chunk_path", "prepare_folder", "save_chunk", "load_chunk", "chunk_summary"]

FORMAT_VERSION = 5  # 2: graphs carry image_size [1, 2]; 3: superpixels default to the connected batched SLIC;
# 4: its small cells clustered 8 images per vector (double sums), its large cells coarse to fine;
# 5: a cache is a folder of chunk files and an index (it was one file, written after the chunks)
INDEX = "index.pt"
MANIFEST = "manifest.json"


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


def cache_key(images: Any, labels: Any, graph: str, graph_kwargs: Optional[dict] = None, *,
              strict: bool = True, class_names: Optional[Sequence[str]] = None) -> str:
    """The 16-hex-digit key naming the cache of these images, labels and graph parameters.

    Everything that changes the cache's content is in it: the images and labels, the graph
    kind and parameters, the format version, the strictness (a ``strict=False`` cache may hold
    fewer graphs than images, so a strict load never reads it) and the class names stored
    with the graphs. (The defaults, ``strict=True`` and no class names, leave the key as it was
    before these two entered it.)
    """
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    spec: dict[str, Any] = {"graph": graph, "kwargs": dict(graph_kwargs or {}), "v": FORMAT_VERSION}
    if not strict:
        spec["strict"] = False
    if class_names is not None:
        spec["class_names"] = [str(c) for c in class_names]
    params = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha1((params + _fingerprint(images, labels)).encode()).hexdigest()[:16]


@contextmanager
def conversion_lock(cache_path: Path):
    """Hold an exclusive lock on ``cache_path`` + ``.lock`` (``fcntl.flock``): two processes that
    want the same cache convert it once; the second waits, then reads the first one's cache. A
    no-op where ``fcntl`` does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_path.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------ chunk files
def chunk_path(folder: Path, j: int) -> Path:
    return Path(folder) / f"chunk-{j:06d}.pt"


def prepare_folder(folder: Path, n: int, chunk: int) -> None:
    """Make the cache folder for ``n`` images in chunks of ``chunk``; empty one made with another
    chunking (its chunks would not line up)."""
    import shutil

    folder = Path(folder)
    manifest = {"n": int(n), "chunk": int(chunk), "version": FORMAT_VERSION}
    mpath = folder / MANIFEST
    if mpath.is_file():
        try:
            same = read_json(mpath) == manifest
        except GraphclsError:
            same = False
        if not same:
            shutil.rmtree(folder, ignore_errors=True)
    if not mpath.is_file():
        write_json(manifest, mpath)


def _summary(arrays: Optional[dict], slices: Optional[dict], failures: list, path: Path, start: int,
             count: int) -> dict:
    """What the index keeps of a chunk (numpy arrays or tensors): its images (``start``, ``count``),
    graph count, ``x``'s columns, failures and file size."""
    x = None if arrays is None else arrays.get("x")
    return {"start": int(start), "count": int(count),
            "graphs": 0 if slices is None else len(next(iter(slices.values()))) - 1,
            "x_dim": None if x is None else (1 if x.ndim == 1 else int(x.shape[-1])),
            "failures": [[int(i), str(r)] for i, r in failures], "bytes": path.stat().st_size}


def save_chunk(out, start: int, count: int, path: Path) -> dict:
    """A converted chunk ``(arrays, slices, failures)`` (numpy, ``edge_index`` already narrow) into its
    file; returns its summary for the index."""
    arrays, slices, failures = out
    # no fsync: a chunk file only has to survive the death of the process (the page cache keeps it).
    # After a power loss it may be empty or cut short: its size then differs from the index's and the
    # chunk is converted again (a file of the right size with lost contents is reported as damaged
    # when read). One fsync per chunk was about a third of the writing time of a 28x28 data set.
    save_tensors({"start": int(start), "count": int(count),
                  "arrays": None if arrays is None else {k: torch.from_numpy(v) for k, v in arrays.items()},
                  "slices": None if slices is None else {k: torch.from_numpy(v) for k, v in slices.items()},
                  "failures": [[int(i), str(r)] for i, r in failures]}, path, fsync=False)
    return _summary(arrays, slices, failures, path, start, count)


def load_chunk(path: Path, start: int, count: int, mmap: bool = True):
    """A finished chunk ``(arrays, slices, failures)`` (tensors, mapped from the file with ``mmap``),
    or ``None`` when the file is missing or not a valid chunk of these images (empty, cut short,
    another chunk's). ``edge_index`` stays as the file stores it (uint8/int16/int32)."""
    if not path.is_file():
        return None
    try:
        c = load_tensors(path, mmap=mmap)
        if not (isinstance(c, dict) and c.get("start") == start and c.get("count") == count):
            return None
        arrays, slices = c["arrays"], c["slices"]
        if (arrays is None) != (slices is None):
            return None
        return arrays, slices, [tuple(f) for f in c["failures"]]
    except (GraphclsError, KeyError, AttributeError, TypeError, ValueError):  # empty, cut short, not a chunk
        return None


def chunk_summary(path: Path, start: int, count: int) -> Optional[dict]:
    """The index's summary of a valid chunk file (read mapped: its arrays are not read), or ``None``."""
    c = load_chunk(path, start, count)
    return None if c is None else _summary(*c, path, start, count)


# ------------------------------------------------------------------ the index
def write_index(folder: Path, meta: dict, chunks: list[dict]) -> None:
    """Write the index (fsynced, atomically): the cache is complete from then on. Temporary files
    that a killed worker left behind (``.chunk-*.tmp``) are removed first."""
    for tmp in Path(folder).glob(".chunk-*.tmp"):
        tmp.unlink(missing_ok=True)
    save_tensors({"meta": meta, "chunks": chunks, "version": FORMAT_VERSION}, Path(folder) / INDEX)


def read_index(folder: Path) -> Optional[dict]:
    """The index of a complete cache; ``None`` when it or one of its chunks is missing, empty or cut
    short (the conversion then fills in what is missing). An index that would run code, or one of
    another format, raises."""
    folder = Path(folder)
    path = folder / INDEX
    if not path.is_file():
        return None
    try:
        index = load_tensors(path)
    except UnsafeFileError:
        raise
    except GraphclsError:
        return None
    if not (isinstance(index, dict) and index.get("version") == FORMAT_VERSION and isinstance(index.get("meta"), dict)
            and isinstance(index.get("chunks"), list)):
        raise GraphclsError(f"{path} is not a pyg_graphcls cache index (delete {folder} to convert again)")
    for j, c in enumerate(index["chunks"]):
        p = chunk_path(folder, j)
        try:
            if p.stat().st_size != c["bytes"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return index


class GraphCache:
    """The graphs of one cache folder as tensors, without PyG: what
    :func:`~pyg_graphcls.datasets.conversion.cached_graphs` returns and
    :class:`~pyg_graphcls.datasets.graph_dataset.ImageGraphDataset` holds.

    The chunk files are read when :attr:`data` or :attr:`slices` is first used (a conversion that
    only reports counts never reads them).

    Attributes:
        cache_path (Path): the cache folder.
        data (dict): the collated fields (``InMemoryDataset`` layout, ``edge_index`` int64).
        slices (dict): where each graph's part of each field starts and ends.
        meta (dict): graph kind and parameters, class names, failures, format version.
        converted (bool): whether this call converted (``False``: read from the cache).
        graph (str), graph_kwargs (dict): the graph kind and builder arguments asked for.
        failures (list): ``(index, reason)`` of skipped images.
    """

    def __init__(self, cache_path: Path, index: dict, *, converted: bool, graph: str, graph_kwargs: dict) -> None:
        self.cache_path, self.meta = Path(cache_path), index["meta"]
        self._chunks = index["chunks"]
        self._data: Optional[dict] = None
        self._slices: Optional[dict] = None
        self.converted, self.graph, self.graph_kwargs = converted, graph, graph_kwargs
        self.failures = [tuple(f) for f in self.meta.get("failures", [])]

    def _load(self) -> None:
        blocks = []
        for j, c in enumerate(self._chunks):
            if not c["graphs"]:
                continue
            chunk = load_chunk(chunk_path(self.cache_path, j), c["start"], c["count"])
            if chunk is None or chunk[0] is None:
                raise GraphclsError(f"the cache {self.cache_path} is damaged (chunk {j} is missing or unreadable); "
                                    f"delete it or convert again with --force")
            blocks.append(chunk[:2])
        data, slices = merge_storage(blocks)
        if len(blocks) == 1:  # one chunk: copy it out of the mapped file (cat copies the others)
            data = {k: v.clone() for k, v in data.items()}
            slices = {k: v.clone() for k, v in slices.items()}
        self._data, self._slices = widen_indices(data), slices

    @property
    def data(self) -> dict:
        if self._data is None:
            self._load()
        return self._data

    @property
    def slices(self) -> dict:
        if self._slices is None:
            self._load()
        return self._slices

    def __len__(self) -> int:
        return sum(int(c["graphs"]) for c in self._chunks)

    @property
    def num_node_features(self) -> int:
        """Columns of ``x`` (``InMemoryDataset.num_node_features``)."""
        dims = [c["x_dim"] for c in self._chunks if c["graphs"]]
        return int(dims[0]) if dims and dims[0] is not None else 0

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self)}, graph={self.graph}, cache_path={str(self.cache_path)!r})"
