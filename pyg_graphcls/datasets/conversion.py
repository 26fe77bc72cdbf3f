"""Images to graphs, converted once and cached on disk: the conversion behind ``ImageGraphDataset``.

Nothing here imports PyG (its import, most of it ``torch._dynamo``, took about 2 s of every
``graphcls convert``): graphs are built as dicts of tensors
(:func:`~pyg_graphcls.graphs.build_fields`, or the batched superpixels), collated by
:func:`~pyg_graphcls.graphs.storage.collate_fields` and written as our own weights-only file;
:func:`cached_graphs` reads or converts a cache and returns a :class:`GraphCache`;
:class:`~pyg_graphcls.datasets.graph_dataset.ImageGraphDataset` wraps it in a PyG ``InMemoryDataset``.

Index fields (``edge_index``) are stored in files as uint8/int16/int32 when they fit
(:func:`~pyg_graphcls.graphs.storage.narrow_indices`) and widened to int64 on
load. The cache file name holds a hash of the images, labels, graph kind, graph
parameters and this module's format version, so changing any of them
converts again, and a second load with the same ones reads the cache. Caches
are written atomically and read with ``torch.load(weights_only=True)``.
Conversion runs on all CPU cores (one process per core, one torch thread
each) with a tqdm progress bar.

Interrupted conversions resume: images are converted in chunks of
``_CHUNK`` (fewer for small data sets, :func:`_chunk_size`); each finished chunk is written atomically to a partial-work
folder next to the cache (``<graph>-<key>.partial/chunk-NNNNNN.pt``, same
key as the cache). A restart skips the chunks already there; when all are
done they are merged into the cache and the folder is removed, so a run
killed part-way and restarted yields exactly the graphs of an uninterrupted
run. Shards (``shard=(i, n)``: chunks ``j`` with ``j % n == i``) let
separate processes or machines share one conversion; the one that finds
every chunk present merges (:func:`convert_shard`).

Mixed channel counts (a folder of grayscale and colour files, a list of
arrays): grayscale images are repeated to colour; other mixes keep the most
common count and the odd images are skipped with a reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from ..errors import GraphclsError, UnsafeFileError
from ..graphs import GRAPH_KINDS, build_fields
from ..graphs.storage import collate_fields, merge_storage, narrow_indices, widen_indices
from ..graphs.image import image_channels, match_channels
from ..io import load_tensors, read_json, save_tensors, write_json
from .folder import image_file_channels, read_image

__all__ = ["CacheWriter", "GraphCache", "cached_graphs", "convert_images", "convert_shard", "cache_key", "conversion_lock",
           "default_root", "FORMAT_VERSION"]

FORMAT_VERSION = 4  # 2: graphs carry image_size [1, 2]; 3: superpixels default to the connected batched SLIC;
# 4: its small cells clustered 8 images per vector (double sums), its large cells coarse to fine
_CHUNK = 256
_MIN_CHUNK, _MIN_JOBS = 32, 8


def _chunk_size(n: int) -> int:
    """Images per chunk for a data set of ``n``: ``_CHUNK``, or fewer (not under 32) so that a small data
    set still makes 8 chunks to share between worker processes: 819 224x224 photos made 4 chunks of 256,
    256, 256 and 51, two of them on one worker; 205 made one, converted by one process. A function of
    ``n`` only, so a resumed conversion finds the chunks of the first run whatever ``--workers``."""
    return max(1, min(_CHUNK, max(_MIN_CHUNK, -(-int(n) // _MIN_JOBS))))


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


def _load_item(item, channels: Optional[int], index: int):
    """Read a path; with ``channels`` set (a mixed data set) unify the channel count."""
    is_path = isinstance(item, (str, os.PathLike))
    image = read_image(item) if is_path else item
    if channels is not None:
        image = match_channels(image, channels, name=str(item) if is_path else f"image {index}")
    return image


def _reason(item, msg: str) -> str:
    """Failure reasons name the file, so the list of skipped files is actionable."""
    if isinstance(item, (str, os.PathLike)) and str(item) not in msg:
        return f"{item}: {msg}"
    return msg


def _target_channels(images) -> Optional[int]:
    """One channel count for a list that mixes several (``None``: not mixed)."""
    if isinstance(images, np.ndarray):
        return None
    counts: Counter = Counter()
    for item in images:
        try:
            c = image_file_channels(item) if isinstance(item, (str, os.PathLike)) else image_channels(item)
        except Exception:
            c = None
        if c is not None:
            counts[c] += 1
    if len(counts) <= 1:
        return None
    if 1 in counts and 3 in counts:  # grayscale + colour: colour (gray repeated, lossless)
        return 3
    return max(counts, key=lambda c: (counts[c], c))


def _convert_chunk(args):
    """Convert a chunk in a worker; return it collated as numpy arrays.

    Tensors are sent back as numpy arrays (plain pickling): torch would pass
    each tensor as a shared-memory file descriptor and run out of them. One
    collated block per chunk also keeps no per-image Python objects around.
    """
    graph, kwargs, items, labels, start, channels = args
    if graph == "superpixels" and kwargs.get("method", "fast") == "fast":
        out = _convert_chunk_batched(kwargs, items, labels, start, channels)
        if out is not None:
            return out
    graphs, failures = [], []
    for i, (item, y) in enumerate(zip(items, labels)):
        try:
            image = _load_item(item, channels, start + i)
            graphs.append(build_fields(graph, image, y=int(y), **kwargs))
        except GraphclsError as e:
            failures.append((start + i, _reason(item, str(e))))
        except Exception as e:  # a library failing deep inside: report, don't crash the pool
            failures.append((start + i, _reason(item, f"{type(e).__name__}: {e}")))
    if not graphs:
        return None, None, failures
    try:
        data, slices = collate_fields(graphs)  # PyG's collate of their Data, with slices even for one graph
    except Exception as e:
        raise GraphclsError(f"images {start}..{start + len(items) - 1}: their graphs cannot be stored together "
                            f"(fields differ in shape: {type(e).__name__}: {str(e).splitlines()[0]})") from None
    return {k: v.numpy() for k, v in data.items()}, {k: v.numpy() for k, v in slices.items()}, failures


def _is_uint8_hwc(image) -> bool:
    """A uint8 numpy array that :func:`~pyg_graphcls.graphs.image.as_image` reads as ``[H, W]`` or ``[H, W, C]``."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size > 0
            and (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 2, 3, 4))))


def _convert_chunk_batched(kwargs, items, labels, start, channels):
    """``method="fast"`` (the default): one batched call for a chunk of same-size images; ``None`` (convert
    image by image, with per-image error reports) when sizes differ or an image fails to load."""
    from ..graphs.superpixels import superpixel_graphs
    from ..graphs.image import as_image

    kw = {k: v for k, v in kwargs.items() if k not in ("method", "edges")}
    if kwargs.get("edges", "knn") != "knn" or set(kw) - {"n_segments", "compactness", "features", "k", "edge_attr",
                                                          "max_iter"}:
        return None  # superpixel_graph explains what method="fast" does not support
    if isinstance(items, np.ndarray) and items.dtype == np.uint8 and items.ndim in (3, 4) and channels is None:
        # a uint8 block goes in as it is: the compiled loops read uint8 as value / 255 in float32, the
        # numbers as_image gives, without a float copy per image
        batch = items
    else:
        try:
            imgs = [_load_item(item, channels, start + i) for i, item in enumerate(items)]
            # decoded 8-bit files (JPEG, most PNGs) stay uint8 too, [H, W, C] as as_image reads them:
            # its float copy and the float block's checks took ~1.5 ms of a 224x224 photo's ~9 ms
            if not all(_is_uint8_hwc(im) for im in imgs):
                imgs = [as_image(im) for im in imgs]
            imgs = [im[..., None] if im.ndim == 2 else im for im in imgs]
        except Exception:
            return None
        if len({im.shape for im in imgs}) != 1:
            return None
        batch = np.stack(imgs)
    data, slices = superpixel_graphs(batch, np.asarray(labels, np.int64), chunk=len(batch), **kw)
    return {k: v.numpy() for k, v in data.items()}, {k: v.numpy() for k, v in slices.items()}, []


def _chunk_path(partial: Path, j: int) -> Path:
    return partial / f"chunk-{j:06d}.pt"


def _prepare_partial(partial: Path, n: int) -> None:
    """Make the partial-work folder; wipe one made with another chunking."""
    manifest = {"n": int(n), "chunk": _chunk_size(n), "version": FORMAT_VERSION}
    mpath = partial / "manifest.json"
    if mpath.is_file():
        try:
            same = read_json(mpath) == manifest
        except GraphclsError:
            same = False
        if not same:
            shutil.rmtree(partial, ignore_errors=True)
    if not mpath.is_file():
        write_json(manifest, mpath)


def _save_unsynced(obj, path: Path) -> None:
    """``torch.save`` to a temporary file renamed to ``path``, without ``fsync``: a chunk file only has
    to survive the death of the process (the page cache keeps it). After a power loss it may be
    empty or cut short; :func:`_load_chunk` then rejects it and the chunk is converted again. One
    ``fsync`` per chunk was about a third of the writing time of a 28x28 data set."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_chunk(out, start: int, count: int, path: Path) -> None:
    """A chunk as :func:`_convert_chunk_narrow` returns it (``edge_index`` already narrow) into its file."""
    arrays, slices, failures = out
    _save_unsynced({"start": int(start), "count": int(count),
                    "arrays": None if arrays is None else {k: torch.from_numpy(v) for k, v in arrays.items()},
                    "slices": None if slices is None else {k: torch.from_numpy(v) for k, v in slices.items()},
                    "failures": [[int(i), str(r)] for i, r in failures]}, path)


def _load_chunk(path: Path, start: int, count: int):
    """A finished chunk, or ``None`` when the file is missing or not a valid chunk. Its ``edge_index``
    stays as the file stores it (uint8/int16/int32): the blocks are merged and written narrow."""
    if not path.is_file():
        return None
    try:
        c = load_tensors(path)
        if not (isinstance(c, dict) and c.get("start") == start and c.get("count") == count):
            return None
        arrays = None if c["arrays"] is None else {k: v.numpy() for k, v in c["arrays"].items()}
        slices = None if c["slices"] is None else {k: v.numpy() for k, v in c["slices"].items()}
        if (arrays is None) != (slices is None):
            return None
        return arrays, slices, [tuple(f) for f in c["failures"]]
    except (GraphclsError, KeyError, AttributeError, TypeError, ValueError):  # empty, cut short, not a chunk
        return None


def _convert_chunk_narrow(job):
    """:func:`_convert_chunk` with ``edge_index`` narrowed as files store it (a quarter of the bytes to
    send back from a worker, merge and write)."""
    arrays, slices, failures = _convert_chunk(job)
    return (None if arrays is None else narrow_indices(arrays)), slices, failures


def _convert_chunk_to_file(args):
    """Convert a chunk, save it (resume after a kill) and return it as well: reading every chunk back
    from its file cost the parent more than receiving the arrays (1.3 s of 70,000 28x28 images)."""
    job, path = args
    out = _convert_chunk_narrow(job)
    _save_chunk(out, job[4], len(job[2]), Path(path))
    return out


def _parse_shard(shard) -> Optional[tuple[int, int]]:
    if shard is None:
        return None
    try:
        i, n = (int(t) for t in (shard.split("/") if isinstance(shard, str) else shard))
    except (ValueError, TypeError):
        raise GraphclsError(f"shard must look like I/N (e.g. 0/4), got {shard!r}") from None
    if n < 1 or not 0 <= i < n:
        raise GraphclsError(f"shard {i}/{n}: need N >= 1 and 0 <= I < N")
    return i, n


def convert_images(images: Sequence[Any], labels: np.ndarray, graph: str = "superpixels",
                   graph_kwargs: Optional[dict] = None, workers: Optional[int] = None,
                   progress: bool = True, desc: str = "converting",
                   partial_dir: Optional[str | os.PathLike] = None, shard: Any = None,
                   convert: bool = True, narrow: bool = False):
    """Convert images (arrays or file paths) to graphs in parallel.

    Returns ``(data_dict, slices, failures)``: the collated graphs in
    ``InMemoryDataset`` layout (:mod:`~pyg_graphcls.graphs.storage`) (``None`` if none converted) and a list of
    ``(index, reason)`` for the images that could not be converted.

    With ``partial_dir``, each finished chunk is saved there atomically and
    chunks already there are not converted again (resume after a kill).
    ``shard=(i, n)`` or ``"i/n"`` converts only chunks ``j % n == i``;
    ``convert=False`` converts nothing (merge only). When chunks are still
    missing afterwards the result is ``(None, None, missing)``, ``missing``
    the number of chunks not converted yet (an ``int``).

    ``narrow=True`` returns ``edge_index`` as files store it (uint8/int16/int32,
    :func:`~pyg_graphcls.graphs.storage.narrow_indices`) instead of int64.
    """
    from tqdm.auto import tqdm

    if graph not in GRAPH_KINDS:
        raise GraphclsError(f"unknown graph kind {graph!r}; choose one of {GRAPH_KINDS}")
    kwargs = dict(graph_kwargs or {})
    n = len(images)
    if len(labels) != n:
        raise GraphclsError(f"{n} images but {len(labels)} labels")
    shard = _parse_shard(shard)
    if (shard is not None or not convert) and partial_dir is None:
        raise GraphclsError("sharded or merge-only conversion needs a partial_dir for the chunks")
    channels = _target_channels(images)
    size = _chunk_size(n)
    jobs = [(graph, kwargs, images[s:s + size], labels[s:s + size], s, channels) for s in range(0, n, size)]
    partial = Path(partial_dir) if partial_dir is not None else None
    done: dict[int, Any] = {}
    if partial is not None:
        _prepare_partial(partial, n)
        for j, job in enumerate(jobs):
            c = _load_chunk(_chunk_path(partial, j), job[4], len(job[2]))
            if c is not None:
                done[j] = c
    todo = [j for j in range(len(jobs)) if j not in done]
    if shard is not None:
        todo = [j for j in todo if j % shard[1] == shard[0]]
    if not convert:
        todo = []
    if partial is not None:
        fn, args = _convert_chunk_to_file, [(jobs[j], str(_chunk_path(partial, j))) for j in todo]
    else:
        fn, args = _convert_chunk_narrow, [jobs[j] for j in todo]
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    threads_before = torch.get_num_threads()
    bar = tqdm(total=sum(len(jobs[j][2]) for j in todo), desc=desc, unit="img",
               disable=None if progress else True, leave=False)
    try:
        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx,
                                     initializer=torch.set_num_threads, initargs=(1,)) as pool:
                for j, out in zip(todo, pool.map(fn, args)):
                    done[j] = out
                    bar.update(len(jobs[j][2]))
        else:
            # one chunk (e.g. up to 256 photos) or one worker: this process, with `workers` torch threads,
            # over which the compiled loops spread the chunk's images (a chunk of 205 224x224 photos ran on
            # one core before)
            torch.set_num_threads(workers)
            for j, a in zip(todo, args):
                done[j] = fn(a)
                bar.update(len(jobs[j][2]))
    finally:
        torch.set_num_threads(threads_before)
        bar.close()
    if partial is not None:
        missing = len(jobs) - len(done)
        if missing:
            return None, None, missing
    blocks, failures = [], []
    for j in range(len(jobs)):
        arrays, slices, fails = done[j]
        if arrays is not None:
            blocks.append((arrays, slices))
        failures.extend(fails)
    if not blocks:
        return None, None, failures
    data, slices = merge_storage(blocks)  # blocks narrowed each by its own range: torch.cat promotes
    return (data if narrow else widen_indices(data)), slices, failures


@contextmanager
def conversion_lock(cache_path: Path):
    """Hold an exclusive lock on ``cache_path`` + ``.lock`` (``fcntl.flock``): two processes that
    want the same cache convert it once; the second waits, then reads the first one's file
    (without the lock it read chunks from the partial folder the first had just removed). A
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


def _check_labels(labels: Any, name: str, class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    raw = np.asarray(labels)
    if raw.dtype.kind not in "biuf":
        raise GraphclsError(f"{name}: labels must be integer class ids, got dtype {raw.dtype}")
    if raw.dtype.kind == "f" and raw.size and (not np.isfinite(raw).all() or (raw != np.round(raw)).any()):
        raise GraphclsError(f"{name}: labels must be integer class ids, got non-integer values")
    out = raw.astype(np.int64).reshape(-1)
    if out.size and out.min() < 0:
        raise GraphclsError(f"{name}: labels must be >= 0 (label {int(out.min())} at index {int(np.argmin(out))})")
    if class_names is not None and out.size and out.max() >= len(class_names):
        raise GraphclsError(f"{name}: label {int(out.max())} but only {len(class_names)} class names")
    return out


def convert_shard(root: str | os.PathLike, images: Any, labels: Any, *, shard: Any = None,
                  merge_only: bool = False, graph: str = "superpixels", graph_kwargs: Optional[dict] = None,
                  name: str = "dataset", **dataset_kwargs: Any) -> dict:
    """Convert shard ``"i/n"`` of a data set into the shared partial-work folder.

    When every chunk is then present (this was the last shard to finish, or
    ``merge_only=True`` after all shards ran) the chunks are merged into the
    cache :func:`cached_graphs` reads, with the same content as a
    single run. Returns ``{"dataset": GraphCache or None, "missing":
    chunks not yet converted, "cache": path}``
    (:func:`pyg_graphcls.datasets.graph_dataset.convert_shard`: the same with an
    ``ImageGraphDataset``). ``merge_only`` with chunks missing raises
    :class:`GraphclsError`.
    """
    shard = _parse_shard(shard)
    labels = _check_labels(labels, name, dataset_kwargs.get("class_names"))
    key = cache_key(images, labels, graph, graph_kwargs, strict=dataset_kwargs.get("strict", True),
                    class_names=dataset_kwargs.get("class_names"))
    cache = Path(root) / name / f"{graph}-{key}.pt"
    if not cache.is_file() or dataset_kwargs.get("force"):
        if dataset_kwargs.pop("force", False):
            shutil.rmtree(cache.with_suffix(".partial"), ignore_errors=True)
            cache.unlink(missing_ok=True)
        data, _, missing = convert_images(images, labels, graph, graph_kwargs, dataset_kwargs.get("workers"),
                                          dataset_kwargs.get("progress", True), desc=f"{name}: {graph}",
                                          partial_dir=cache.with_suffix(".partial"), shard=shard,
                                          convert=not merge_only)
        if data is None and isinstance(missing, int):
            if merge_only:
                total = -(-len(labels) // _chunk_size(len(labels)))
                raise GraphclsError(f"{name}: cannot merge: {missing} of {total} chunks are "
                                    f"not converted yet (run the missing --shard I/N first)")
            return {"dataset": None, "missing": missing, "cache": cache}
    ds = cached_graphs(root, images, labels, graph=graph, graph_kwargs=graph_kwargs, name=name, **dataset_kwargs)
    return {"dataset": ds, "missing": 0, "cache": cache}


class GraphCache:
    """The graphs of one cache file as tensors, without PyG: what :func:`cached_graphs` returns and
    :class:`~pyg_graphcls.datasets.graph_dataset.ImageGraphDataset` holds.

    Attributes:
        cache_path (Path): the cache file.
        data (dict): the collated fields (``InMemoryDataset`` layout, ``edge_index`` int64).
        slices (dict): where each graph's part of each field starts and ends.
        meta (dict): graph kind and parameters, class names, failures, format version.
        converted (bool): whether this call converted (``False``: read from the file).
        graph (str), graph_kwargs (dict): the graph kind and builder arguments asked for.
        failures (list): ``(index, reason)`` of skipped images.
    """

    def __init__(self, cache_path: Path, data: dict, slices: dict, meta: dict, *, converted: bool, graph: str,
                 graph_kwargs: dict) -> None:
        # the fields as the file stores them (edge_index narrow); `data` widens them on first use: a
        # conversion that only reports counts never needs the int64 copy
        self.cache_path, self._stored, self._data, self.slices, self.meta = cache_path, data, None, slices, meta
        self.converted, self.graph, self.graph_kwargs = converted, graph, graph_kwargs
        self.failures = [tuple(f) for f in meta.get("failures", [])]

    @property
    def data(self) -> dict:
        if self._data is None:
            self._data, self._stored = widen_indices(self._stored), None
        return self._data

    def __len__(self) -> int:
        return int(next(iter(self.slices.values())).numel()) - 1

    @property
    def num_node_features(self) -> int:
        """Columns of ``x`` (``InMemoryDataset.num_node_features``)."""
        x = (self._data if self._data is not None else self._stored).get("x")
        return 0 if x is None else 1 if x.dim() == 1 else int(x.size(-1))

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self)}, graph={self.graph}, cache_path={str(self.cache_path)!r})"


class CacheWriter:
    """Writes finished caches on one background thread: the next data set (a test split) converts
    while the last one's file is written. Used as a context manager; leaving it waits for every
    write and raises the first error. Each cache's conversion lock is held until its file is written.
    (Writing the 60,000-image Fashion-MNIST train cache is ~1 s of a ~8 s ``graphcls convert`` on
    two cores, and the 10,000 test images convert in about that time.)"""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cache-writer")
        self._futures: list = []

    def submit(self, write: Callable[[], None], release: ExitStack) -> None:
        def job():
            with release:  # the lock goes when the file is written, or failed to be
                write()
        self._futures.append(self._pool.submit(job))

    def __enter__(self) -> "CacheWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True)
        for f in self._futures:
            f.result()


def cached_graphs(root: str | os.PathLike, images: Any, labels: Any, *, graph: str = "superpixels",
                  graph_kwargs: Optional[dict] = None, name: str = "dataset",
                  class_names: Optional[Sequence[str]] = None, workers: Optional[int] = None,
                  progress: bool = True, strict: bool = True, force: bool = False,
                  writer: Optional[CacheWriter] = None) -> GraphCache:
    """The graphs of ``images``: read from their cache under ``root/name``, or converted and cached.

    The arguments are those of :class:`~pyg_graphcls.datasets.graph_dataset.ImageGraphDataset`
    (without ``transform``), which calls this. Two processes asking for the same cache convert
    it once (:func:`conversion_lock`). With ``writer`` (a :class:`CacheWriter`) a converted cache
    is written in the background: the file exists once the writer's block is left."""
    labels = _check_labels(labels, name, class_names)
    if len(images) != len(labels):
        raise GraphclsError(f"{name}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise GraphclsError(f"{name}: no images")
    graph_kwargs = dict(graph_kwargs or {})
    key = cache_key(images, labels, graph, graph_kwargs, strict=strict, class_names=class_names)
    path = Path(root) / name / f"{graph}-{key}.pt"
    converted = False
    stored = _read_cache(path) if path.is_file() and not force else None
    if stored is None:
        with ExitStack() as lock:
            lock.enter_context(conversion_lock(path))
            if path.is_file() and not force:  # another process converted it meanwhile
                stored = _read_cache(path)
            if stored is None:
                stored, write = _convert_to_cache(path, images, labels, graph, graph_kwargs, class_names, workers,
                                                  progress, strict, force, name)
                converted = True
                if writer is None:
                    write()
                else:
                    writer.submit(write, lock.pop_all())
    data, slices, meta = stored
    return GraphCache(path, data, slices, meta, converted=converted, graph=graph, graph_kwargs=graph_kwargs)


def _convert_to_cache(path: Path, images, labels, graph, graph_kwargs, class_names, workers, progress, strict,
                      force, name):
    """Convert; ``((data_dict, slices, meta), write)``, ``write()`` writing the cache atomically and
    removing the partial folder."""
    partial = path.with_suffix(".partial")
    if force:
        shutil.rmtree(partial, ignore_errors=True)
    data_dict, slices, failures = convert_images(images, labels, graph, graph_kwargs, workers,
                                                 progress, desc=f"{name}: {graph}",
                                                 partial_dir=partial, narrow=True)
    if failures and strict:
        idx, why = failures[0]
        raise GraphclsError(f"{name}: image {idx} cannot be converted: {why}"
                            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))
    if data_dict is None:
        raise GraphclsError(f"{name}: none of the {len(labels)} images could be converted; first "
                            f"reason: {failures[0][1]}")
    num_classes = int(labels.max()) + 1
    meta = {"graph": graph, "graph_kwargs": json.loads(json.dumps(graph_kwargs, default=str)),
            "class_names": list(class_names) if class_names is not None else
            [str(i) for i in range(num_classes)],
            "failures": [[int(i), str(r)] for i, r in failures], "version": FORMAT_VERSION}

    def write() -> None:  # edge_index as uint8/int16/int32: convert_images(narrow=True) gives it so
        save_tensors((data_dict, slices, meta), path)
        shutil.rmtree(partial, ignore_errors=True)

    return (data_dict, slices, meta), write


def _read_cache(path: Path):
    """The cache's ``(data_dict, slices, meta)``, ``edge_index`` as stored; ``None`` when the file is
    damaged (empty, cut short: converted again). A file that would run code, or one of another
    format, raises."""
    try:
        out = load_tensors(path)
    except UnsafeFileError:
        raise
    except GraphclsError:
        return None
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], dict)
            and out[2].get("version") == FORMAT_VERSION):
        raise GraphclsError(f"{path} is not a pyg_graphcls graph cache (delete it to convert again)")
    return out
