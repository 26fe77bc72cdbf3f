"""Images to graphs, converted once and cached on disk: the conversion behind ``ImageGraphDataset``.

Nothing here imports PyG (its import, most of it ``torch._dynamo``, took about 2 s of every
``graphcls convert``): graphs are built as dicts of tensors
(:func:`~pyg_graphcls.graphs.build_fields`, or the batched superpixels) and collated by
:func:`~pyg_graphcls.graphs.storage.collate_fields`; :func:`cached_graphs` reads or converts a
cache (:mod:`~pyg_graphcls.datasets.cache`: a folder of chunk files and an index) and returns a
:class:`~pyg_graphcls.datasets.cache.GraphCache`;
:class:`~pyg_graphcls.datasets.graph_dataset.ImageGraphDataset` wraps it in a PyG ``InMemoryDataset``.

Conversion runs on all CPU cores (one process per core, one torch thread each) with a tqdm
progress bar. Images are converted in chunks of ``_CHUNK`` (fewer for small data sets,
:func:`_chunk_size`); each worker writes its finished chunk into the cache folder itself, and
sends back only a summary. Interrupted conversions resume: a restart skips the chunks already
there, so a run killed part-way and restarted yields exactly the graphs of an uninterrupted run.
Shards (``shard=(i, n)``: chunks ``j`` with ``j % n == i``) let separate processes or machines
share one conversion; the one that finds every chunk present writes the index
(:func:`convert_shard`).

Mixed channel counts (a folder of grayscale and colour files, a list of arrays): grayscale images are
repeated to colour; other mixes keep the most common count and the odd images are skipped with a reason.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import GraphclsError
from ..graphs import GRAPH_KINDS, build_fields
from ..graphs.image import image_channels, match_channels
from ..graphs.storage import collate_fields, merge_storage, narrow_indices, widen_indices
from .cache import (FORMAT_VERSION, INDEX, GraphCache, cache_key, chunk_path, chunk_summary, conversion_lock,
                    default_root, load_chunk, prepare_folder, read_index, save_chunk, write_index)
from .folder import image_file_channels, read_image, stop_decoding_ahead

__all__ = ["GraphCache", "cached_graphs", "cached_splits", "convert_images", "convert_chunks", "convert_shard",
           "cache_key", "conversion_lock", "default_root", "FORMAT_VERSION"]

_CHUNK = 256
_MIN_CHUNK, _MIN_JOBS = 32, 8


def _chunk_size(n: int) -> int:
    """Images per chunk for a data set of ``n``: ``_CHUNK``, or fewer (not under 32) so that a small data
    set still makes 8 chunks to share between worker processes: 819 224x224 photos made 4 chunks of 256,
    256, 256 and 51, two of them on one worker; 205 made one, converted by one process. A function of
    ``n`` only, so a resumed conversion finds the chunks of the first run whatever ``--workers``."""
    return max(1, min(_CHUNK, max(_MIN_CHUNK, -(-int(n) // _MIN_JOBS))))


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
    loaded = None
    if graph == "superpixels" and kwargs.get("method", "fast") == "fast":
        out = _convert_chunk_batched(kwargs, items, labels, start, channels)
        if isinstance(out, tuple):
            return out
        loaded = out  # the images, read already (of several sizes), or None
    graphs, failures = [], []
    for i, (item, y) in enumerate(zip(items, labels)):
        try:
            image = loaded[i] if loaded is not None else _load_item(item, channels, start + i)
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
    """``method="fast"`` (the default): one batched call for a chunk of same-size images, its
    ``(arrays, slices, failures)``. Otherwise the caller converts image by image, with per-image error
    reports: given the images as read when their sizes differ (a file decoded ahead is handed out
    once), ``None`` when an image fails to load or the options need the image-by-image builder."""
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
            loaded = [_load_item(item, channels, start + i) for i, item in enumerate(items)]
            # decoded 8-bit files (JPEG, most PNGs) stay uint8 too, [H, W, C] as as_image reads them:
            # its float copy and the float block's checks took ~1.5 ms of a 224x224 photo's ~9 ms
            imgs = loaded if all(_is_uint8_hwc(im) for im in loaded) else [as_image(im) for im in loaded]
            imgs = [im[..., None] if im.ndim == 2 else im for im in imgs]
        except Exception:
            return None
        if len({im.shape for im in imgs}) != 1:
            return loaded
        batch = np.stack(imgs)
    data, slices = superpixel_graphs(batch, np.asarray(labels, np.int64), chunk=len(batch), **kw)
    return {k: v.numpy() for k, v in data.items()}, {k: v.numpy() for k, v in slices.items()}, []


def _convert_chunk_narrow(job):
    """:func:`_convert_chunk` with ``edge_index`` narrowed as files store it (uint8 for graphs of at most
    256 nodes: a quarter of int32's bytes to write, or to send back from a worker)."""
    arrays, slices, failures = _convert_chunk(job)
    return (None if arrays is None else narrow_indices(arrays)), slices, failures


def _convert_chunk_to_file(args):
    """Convert a chunk in a worker and write it into the cache folder; only its summary goes back
    (the arrays of 70,000 28x28 images through the pipes, then merged and written again as one
    file, were ~1 s of a 6.5 s conversion on two cores)."""
    job, path = args
    return save_chunk(_convert_chunk_narrow(job), job[4], len(job[2]), Path(path))


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


def _jobs(images: Sequence[Any], labels: np.ndarray, graph: str, graph_kwargs: Optional[dict]) -> list[tuple]:
    """The chunks of a conversion as worker jobs ``(graph, kwargs, images, labels, start, channels)``."""
    if graph not in GRAPH_KINDS:
        raise GraphclsError(f"unknown graph kind {graph!r}; choose one of {GRAPH_KINDS}")
    n = len(images)
    if len(labels) != n:
        raise GraphclsError(f"{n} images but {len(labels)} labels")
    kwargs, channels, size = dict(graph_kwargs or {}), _target_channels(images), _chunk_size(n)
    return [(graph, kwargs, images[s:s + size], labels[s:s + size], s, channels) for s in range(0, n, size)]


def _worker_init() -> None:
    """A worker process: one torch thread; the garbage collector skips the objects inherited from
    the parent (``gc.freeze``: its walks over torch's ~1,200 modules' objects were ~3 % of a
    worker's CPU, measured with perf); freed memory is kept for the next chunk (:func:`_keep_memory`)."""
    import gc

    torch.set_num_threads(1)
    gc.freeze()
    _keep_memory()


def _keep_memory() -> None:
    """glibc's malloc in this process: blocks up to 32 MB come from the heap (not ``mmap``), and the
    heap is never trimmed, so each chunk reuses the pages of the last instead of faulting in fresh
    zeroed ones (~1 MB of temporary tensors per 224x224 photo): 1,024 photos converted end to end
    in 3.14 s instead of 3.36 s (medians of 4, the environment variables ``MALLOC_MMAP_THRESHOLD_``
    and ``MALLOC_TRIM_THRESHOLD_``; either alone gained nothing). Worker processes only: they exit
    when the conversion ends. No-op where the C library has no ``mallopt`` (not glibc)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest
    mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1)


def _run_jobs(fn, args: list, counts: list[int], workers: Optional[int], progress: bool, desc: str) -> list:
    """``[fn(a) for a in args]`` on ``workers`` processes (default: all cores; one torch thread
    each), a progress bar advancing by ``counts``."""
    from tqdm.auto import tqdm

    stop_decoding_ahead()  # the workers get what was decoded so far; later work would be lost to them
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    threads_before = torch.get_num_threads()
    bar = tqdm(total=sum(counts), desc=desc, unit="img", disable=None if progress else True, leave=False)
    out = []
    try:
        if workers > 1 and len(args) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(min(workers, len(args)), mp_context=ctx,
                                     initializer=_worker_init) as pool:
                for r, c in zip(pool.map(fn, args), counts):
                    out.append(r)
                    bar.update(c)
        else:
            # one chunk (e.g. up to 256 photos) or one worker: this process, with `workers` torch threads,
            # over which the compiled loops spread the chunk's images (a chunk of 205 224x224 photos ran on
            # one core before)
            torch.set_num_threads(workers)
            for a, c in zip(args, counts):
                out.append(fn(a))
                bar.update(c)
    finally:
        torch.set_num_threads(threads_before)
        bar.close()
    return out


def convert_chunks(images: Sequence[Any], labels: np.ndarray, folder: str | os.PathLike, graph: str = "superpixels",
                   graph_kwargs: Optional[dict] = None, workers: Optional[int] = None, progress: bool = True,
                   desc: str = "converting", shard: Any = None, convert: bool = True) -> list[dict] | int:
    """Convert the chunks of ``images`` not yet in ``folder`` into their files there (the cache's
    chunk files, :mod:`~pyg_graphcls.datasets.cache`).

    Returns the summaries of all chunks (graph count, ``x`` columns, failures, file size: what the
    index keeps), or, when chunks are still missing afterwards, their number (an ``int``).
    ``shard=(i, n)`` or ``"i/n"`` converts only chunks ``j % n == i``; ``convert=False`` converts
    nothing (the summaries of a complete folder).
    """
    return _convert_folders([(images, labels, folder)], graph, graph_kwargs, workers, progress, desc, shard,
                            convert)[0]


def _convert_folders(sets: Sequence[tuple], graph: str, graph_kwargs: Optional[dict], workers: Optional[int],
                     progress: bool, desc: str, shard: Any = None, convert: bool = True, redo: bool = False) -> list:
    """:func:`convert_chunks` for several ``(images, labels, folder)`` (a data set's splits) in one run
    of the worker pool: the test split's chunks start while the train split's last ones finish,
    where a pool per split left a core idle at the end of each. ``redo``: convert every chunk, even
    those already there."""
    shard = _parse_shard(shard)
    stop_decoding_ahead()  # now, not at the fork: the channel counts below then come from the decoded arrays
    plans, todo = [], []
    for images, labels, folder in sets:
        jobs = _jobs(images, labels, graph, graph_kwargs)
        folder = Path(folder)
        prepare_folder(folder, len(images), _chunk_size(len(images)))
        done: dict[int, dict] = {}
        for j, job in enumerate(jobs if not redo else []):
            c = chunk_summary(chunk_path(folder, j), job[4], len(job[2]))
            if c is not None:
                done[j] = c
        plans.append((jobs, done))
        todo += [(done, j, jobs[j], chunk_path(folder, j)) for j in range(len(jobs))
                 if j not in done and convert and (shard is None or j % shard[1] == shard[0])]
    outs = _run_jobs(_convert_chunk_to_file, [(job, str(path)) for _, _, job, path in todo],
                     [len(job[2]) for _, _, job, _ in todo], workers, progress, desc)
    for (done, j, _, _), out in zip(todo, outs):
        done[j] = out
    return [len(jobs) - len(done) if len(done) < len(jobs) else [done[j] for j in range(len(jobs))]
            for jobs, done in plans]


def convert_images(images: Sequence[Any], labels: np.ndarray, graph: str = "superpixels",
                   graph_kwargs: Optional[dict] = None, workers: Optional[int] = None,
                   progress: bool = True, desc: str = "converting",
                   partial_dir: Optional[str | os.PathLike] = None, shard: Any = None,
                   convert: bool = True, narrow: bool = False):
    """Convert images (arrays or file paths) to graphs in parallel.

    Returns ``(data_dict, slices, failures)``: the collated graphs in
    ``InMemoryDataset`` layout (:mod:`~pyg_graphcls.graphs.storage`) (``None`` if none converted) and a list of
    ``(index, reason)`` for the images that could not be converted.

    With ``partial_dir``, the chunks go through files there (:func:`convert_chunks`): chunks
    already there are not converted again (resume after a kill), ``shard=(i, n)`` or ``"i/n"``
    converts only chunks ``j % n == i`` and ``convert=False`` converts nothing. When chunks are
    still missing afterwards the result is ``(None, None, missing)``, ``missing`` the number of
    chunks not converted yet (an ``int``).

    ``narrow=True`` returns ``edge_index`` as files store it (uint8/int16/int32,
    :func:`~pyg_graphcls.graphs.storage.narrow_indices`) instead of int64.
    """
    if (shard is not None or not convert) and partial_dir is None:
        raise GraphclsError("sharded or merge-only conversion needs a partial_dir for the chunks")
    if partial_dir is not None:
        summaries = convert_chunks(images, labels, partial_dir, graph, graph_kwargs, workers, progress, desc, shard,
                                   convert)
        if isinstance(summaries, int):
            return None, None, summaries
        n, size = len(images), _chunk_size(len(images))  # the chunks convert_chunks cut (no second _jobs:
        # it reads every file's header for the channel counts)
        done = [load_chunk(chunk_path(Path(partial_dir), j), s, min(size, n - s), mmap=False)
                for j, s in enumerate(range(0, n, size))]
    else:
        jobs = _jobs(images, labels, graph, graph_kwargs)
        done = _run_jobs(_convert_chunk_narrow, jobs, [len(j[2]) for j in jobs], workers, progress, desc)
    blocks, failures = [], []
    for arrays, slices, fails in done:
        if arrays is not None:
            blocks.append((arrays, slices))
        failures.extend(tuple(f) for f in fails)
    if not blocks:
        return None, None, failures
    data, slices = merge_storage(blocks)  # blocks narrowed each by its own range: torch.cat promotes
    return (data if narrow else widen_indices(data)), slices, failures


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


def _cache_folder(root: str | os.PathLike, name: str, graph: str, key: str) -> Path:
    return Path(root) / name / f"{graph}-{key}"


def _meta(graph: str, graph_kwargs: dict, labels: np.ndarray, class_names, failures: list) -> dict:
    return {"graph": graph, "graph_kwargs": json.loads(json.dumps(graph_kwargs, default=str)),
            "class_names": list(class_names) if class_names is not None else
            [str(i) for i in range(int(labels.max()) + 1)],
            "failures": [[int(i), str(r)] for i, r in failures], "version": FORMAT_VERSION}


def _finish(folder: Path, summaries: list[dict], graph: str, graph_kwargs: dict, labels: np.ndarray, class_names,
            strict: bool, name: str) -> dict:
    """Check a converted folder's failures and write its index; the index."""
    failures = [tuple(f) for c in summaries for f in c["failures"]]
    if failures and strict:
        idx, why = failures[0]
        raise GraphclsError(f"{name}: image {idx} cannot be converted: {why}"
                            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))
    if not any(c["graphs"] for c in summaries):
        raise GraphclsError(f"{name}: none of the {len(labels)} images could be converted; first "
                            f"reason: {failures[0][1]}")
    index = {"meta": _meta(graph, graph_kwargs, labels, class_names, failures), "chunks": summaries}
    write_index(folder, index["meta"], summaries)
    return index


def convert_shard(root: str | os.PathLike, images: Any, labels: Any, *, shard: Any = None,
                  merge_only: bool = False, graph: str = "superpixels", graph_kwargs: Optional[dict] = None,
                  name: str = "dataset", **dataset_kwargs: Any) -> dict:
    """Convert shard ``"i/n"`` of a data set into its cache folder.

    When every chunk is then present (this was the last shard to finish, or ``merge_only=True``
    after all shards ran) the index is written: the cache :func:`cached_graphs` reads, with the
    same content as a single run. Returns ``{"dataset": GraphCache or None, "missing": chunks not
    yet converted, "cache": path}``
    (:func:`pyg_graphcls.datasets.graph_dataset.convert_shard`: the same with an
    ``ImageGraphDataset``). ``merge_only`` with chunks missing raises :class:`GraphclsError`.
    """
    shard = _parse_shard(shard)
    labels = _check_labels(labels, name, dataset_kwargs.get("class_names"))
    key = cache_key(images, labels, graph, graph_kwargs, strict=dataset_kwargs.get("strict", True),
                    class_names=dataset_kwargs.get("class_names"))
    folder = _cache_folder(root, name, graph, key)
    if dataset_kwargs.pop("force", False):
        shutil.rmtree(folder, ignore_errors=True)
    if read_index(folder) is None:
        summaries = convert_chunks(images, labels, folder, graph, graph_kwargs, dataset_kwargs.get("workers"),
                                   dataset_kwargs.get("progress", True), f"{name}: {graph}", shard, not merge_only)
        if isinstance(summaries, int):
            if merge_only:
                total = -(-len(labels) // _chunk_size(len(labels)))
                raise GraphclsError(f"{name}: cannot merge: {summaries} of {total} chunks are "
                                    f"not converted yet (run the missing --shard I/N first)")
            return {"dataset": None, "missing": summaries, "cache": folder}
    ds = cached_graphs(root, images, labels, graph=graph, graph_kwargs=graph_kwargs, name=name, **dataset_kwargs)
    return {"dataset": ds, "missing": 0, "cache": folder}


def cached_graphs(root: str | os.PathLike, images: Any, labels: Any, *, graph: str = "superpixels",
                  graph_kwargs: Optional[dict] = None, name: str = "dataset",
                  class_names: Optional[Sequence[str]] = None, workers: Optional[int] = None,
                  progress: bool = True, strict: bool = True, force: bool = False) -> GraphCache:
    """The graphs of ``images``: read from their cache under ``root/name``, or converted and cached.

    The arguments are those of :class:`~pyg_graphcls.datasets.graph_dataset.ImageGraphDataset`
    (without ``transform``), which calls this. Two processes asking for the same cache convert
    it once (:func:`conversion_lock`). A cache whose index or chunks are missing, empty or cut
    short is completed: only the chunks not found whole are converted."""
    return cached_splits(root, [(images, labels, name)], graph=graph, graph_kwargs=graph_kwargs,
                         class_names=class_names, workers=workers, progress=progress, strict=strict, force=force)[0]


def cached_splits(root: str | os.PathLike, sets: Sequence[tuple[Any, Any, str]], *, graph: str = "superpixels",
                  graph_kwargs: Optional[dict] = None, class_names: Optional[Sequence[str]] = None,
                  workers: Optional[int] = None, progress: bool = True, strict: bool = True,
                  force: bool = False) -> list[GraphCache]:
    """:func:`cached_graphs` of several ``(images, labels, name)`` (a data set's splits), the ones
    not cached converted in one run of the worker pool (:func:`_convert_folders`)."""
    graph_kwargs = dict(graph_kwargs or {})
    plans = []
    for images, labels, name in sets:
        labels = _check_labels(labels, name, class_names)
        if len(images) != len(labels):
            raise GraphclsError(f"{name}: {len(images)} images but {len(labels)} labels")
        if len(labels) == 0:
            raise GraphclsError(f"{name}: no images")
        key = cache_key(images, labels, graph, graph_kwargs, strict=strict, class_names=class_names)
        folder = _cache_folder(root, name, graph, key)
        plans.append([images, labels, name, folder, None if force else read_index(folder), False])
    with ExitStack() as locks:
        # locks taken in the order of their paths, each once: two processes wanting the same caches
        # (in any order) cannot wait for each other
        for folder in sorted({str(plan[3]) for plan in plans if plan[4] is None}):
            locks.enter_context(conversion_lock(Path(folder)))
        for plan in plans:
            if plan[4] is None:
                plan[4] = None if force else read_index(plan[3])  # another process converted it meanwhile
                if force:  # the index goes; every chunk is converted again and replaced (atomically: a
                    # process reading the cache meanwhile finds whole chunks, of the same graphs)
                    (plan[3] / INDEX).unlink(missing_ok=True)
        todo = [plan for plan in plans if plan[4] is None]
        if todo:
            names = sorted({plan[2].rsplit("-", 1)[0] for plan in todo})
            summaries = _convert_folders([(plan[0], plan[1], plan[3]) for plan in todo], graph, graph_kwargs,
                                         workers, progress, f"{', '.join(names)}: {graph}", redo=force)
            for plan, summary in zip(todo, summaries):
                plan[4] = _finish(plan[3], summary, graph, graph_kwargs, plan[1], class_names, strict, plan[2])
                plan[5] = True
    return [GraphCache(folder, index, converted=converted, graph=graph, graph_kwargs=graph_kwargs)
            for _, _, _, folder, index, converted in plans]
