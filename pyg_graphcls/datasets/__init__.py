"""Data sets of image graphs: IDX files, image folders, the bundled sample, MNISTSuperpixels.

``load_dataset(spec, ...)`` resolves the names the CLI accepts:

- ``sample``: the bundled Fashion-MNIST sample (5,000 train / 1,000 test).
- ``fashion-mnist``: the full set from ``$FASHION_MNIST_DIR`` or
  ``/usr/share/datasets/fashion-mnist``.
- ``idx:DIR``: the four MNIST-format IDX files in DIR.
- ``folder:DIR``: one sub-folder of images per class (20 % held out as test,
  seeded).
- ``mnist-superpixels``: PyG's MNISTSuperpixels under ``root``.
- ``gnn-benchmark:MNIST`` / ``gnn-benchmark:CIFAR10``: PyG's GNNBenchmarkDataset
  superpixel sets under ``root/gnn-benchmark`` with their standard
  train/val/test splits.

``convert_dataset`` (``graphcls convert``) converts and caches the image data sets without
importing PyG: the names that need it (``ImageGraphDataset``, the lazy and PyG data sets) are
imported on first use.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .._lazy import lazy_names
from ..errors import GraphclsError
from . import folder
from .folder import read_image, scan_image_folder
from .idx import load_idx_dir, read_idx, write_idx

__all__ = ["load_dataset", "convert_dataset", "GraphCache", "cached_graphs", "DatasetSplits", "ImageGraphDataset",
           "convert_images", "default_root", "read_idx", "write_idx", "load_idx_dir", "scan_image_folder", "read_image",
           "load_mnist_superpixels", "MatchSuperpixelLayout", "load_gnn_benchmark", "MatchBenchmarkLayout", "sample_dir",
           "load_images", "FASHION_MNIST_CLASSES", "DATASET_SPECS", "LazyGraphDataset", "ImageTensorDataset",
           "shrink_images", "class_warnings", "read_ahead"]

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]
DATASET_SPECS = ("sample", "fashion-mnist", "mnist-superpixels", "gnn-benchmark:MNIST", "gnn-benchmark:CIFAR10",
                 "idx:DIR", "folder:DIR")
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: names imported from their module on first use: they import PyG, which a conversion does not need,
#: or torch, which reading a data set (:func:`load_images`, :func:`read_ahead`) does not
_ON_USE = {"GraphCache": ".cache", "default_root": ".cache", "cached_graphs": ".conversion",
           "convert_images": ".conversion", "ImageGraphDataset": ".graph_dataset", "LazyGraphDataset": ".lazy",
           "ImageTensorDataset": ".lazy",
           "shrink_images": ".lazy", "MatchBenchmarkLayout": ".gnn_benchmark", "load_gnn_benchmark": ".gnn_benchmark",
           "MatchSuperpixelLayout": ".mnist_superpixels", "load_mnist_superpixels": ".mnist_superpixels"}

__getattr__, __dir__ = lazy_names(__name__, globals(), _ON_USE)


@dataclass
class DatasetSplits:
    """Train and test graph datasets plus what a model needs to know about them."""
    train: Any
    test: Any
    num_classes: int
    num_features: int
    class_names: list = field(default_factory=list)
    name: str = ""
    info: dict = field(default_factory=dict)
    #: a standard validation split when the data set defines one (else the trainer splits ``train``)
    val: Any = None


def sample_dir() -> Path:
    """The bundled sample: ``$PYG_GRAPHCLS_SAMPLE_DIR`` or the copy shipped inside the package."""
    from importlib import resources

    env = os.environ.get("PYG_GRAPHCLS_SAMPLE_DIR")
    d = Path(env) if env else Path(str(resources.files(__package__) / "sample" / "fashion-mnist"))
    if not d.is_dir():
        raise GraphclsError(f"the bundled sample is not found at {d}" + (" ($PYG_GRAPHCLS_SAMPLE_DIR)" if env else
                            ": the package was installed without its data; reinstall pyg_graphcls"))
    return d


def _fashion_mnist_dir() -> Path:
    env = os.environ.get("FASHION_MNIST_DIR")
    d = Path(env) if env else SYSTEM_FASHION_MNIST
    if not d.is_dir():
        raise GraphclsError(f"Fashion-MNIST not found in {d}: install it (Debian: apt-get install "
                            f"dataset-fashion-mnist), set FASHION_MNIST_DIR, or use --dataset idx:DIR")
    return d


def _split_name(spec: str) -> tuple[str, Optional[str]]:
    if ":" in spec:
        kind, arg = spec.split(":", 1)
        return kind, arg
    return spec, None


#: data sets being read in the background (:func:`read_ahead`): (spec, seed, limit) -> Future
_AHEAD: dict = {}


def read_ahead(spec: str, seed: int = 0, limit: Optional[int] = None) -> None:
    """Start reading a data set in the background; :func:`load_images` with the same arguments then
    returns what it read (or raises what it raised). IDX files are read on a thread; the files of
    an image folder (``folder:DIR``, listed here) are decoded by a child process, train images
    first (:func:`.folder.decode_ahead`), until a conversion starts its workers.

    ``graphcls convert`` calls this before it imports torch, which takes ~0.8 s of one core and
    leaves the other idle: reading the 70,000 Fashion-MNIST images (0.3 s of gunzip) or decoding
    photos happens meanwhile. Nothing here imports torch."""
    from concurrent.futures import Future

    fut: Future = Future()
    _AHEAD[(spec, seed, limit)] = fut
    if _split_name(spec)[0] == "folder":
        try:
            fut.set_result(_load_images(spec, seed, limit))  # listing the files: ~0.04 s for 1,024
        except BaseException as e:  # raised again by load_images
            fut.set_exception(e)
            return
        tri, _, tei, _, _, _ = fut.result()
        folder.decode_ahead(list(tri) + list(tei))
        return
    import threading

    def run() -> None:
        try:
            fut.set_result(_load_images(spec, seed, limit))
        except BaseException as e:  # raised again by load_images, on the caller's thread
            fut.set_exception(e)

    threading.Thread(target=run, name="graphcls-read-ahead", daemon=True).start()


def load_images(spec: str, seed: int = 0, limit: Optional[int] = None):
    """Load the raw images of an image data set spec.

    Returns ``(train_images, train_labels, test_images, test_labels,
    class_names, name)``; images are arrays or, for folders, file paths.
    ``limit`` keeps the first ``limit`` training images (a stratified-enough
    subset for IDX data sets, whose order is random). What :func:`read_ahead` started
    for the same arguments is taken from it.
    """
    fut = _AHEAD.pop((spec, seed, limit), None)
    return fut.result() if fut is not None else _load_images(spec, seed, limit)


def _load_images(spec: str, seed: int = 0, limit: Optional[int] = None):
    """:func:`load_images`, read on this thread."""
    kind, arg = _split_name(spec)
    if kind in ("sample", "fashion-mnist", "idx"):
        if kind == "sample":
            d, names = sample_dir(), FASHION_MNIST_CLASSES
        elif kind == "fashion-mnist":
            d, names = _fashion_mnist_dir(), FASHION_MNIST_CLASSES
        else:
            if not arg:
                raise GraphclsError("idx: needs a folder, e.g. --dataset idx:/data/mnist")
            d, names = Path(arg), None
        tri, trl, tei, tel = load_idx_dir(d)
        for split, lab in (("training", trl), ("test", tel)):
            if len(lab) == 0:
                raise GraphclsError(f"{d}: the {split} IDX files hold 0 images")
        if names is None:
            names = _idx_class_names(d, trl, tel)
        name = kind if kind != "idx" else f"idx-{Path(arg).resolve().name}"
    elif kind == "folder":
        if not arg:
            raise GraphclsError("folder: needs a folder, e.g. --dataset folder:/data/photos")
        paths, labels, names = scan_image_folder(arg)
        if len(paths) < 2:
            raise GraphclsError(f"{arg}: {len(paths)} image file: a folder data set needs at least 2 "
                                f"(20 % are held out as the test split)")
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(paths))
        n_test = max(1, int(round(0.2 * len(paths)))) if len(paths) > 1 else 0
        te, tr = perm[:n_test], perm[n_test:]
        tri = [paths[i] for i in tr]
        trl = labels[tr]
        tei = [paths[i] for i in te]
        tel = labels[te]
        name = f"folder-{Path(arg).resolve().name}"
    else:
        raise GraphclsError(f"unknown dataset {spec!r}; use one of {', '.join(DATASET_SPECS)}")
    if limit is not None:
        tri, trl = tri[:limit], trl[:limit]
    return tri, trl, tei, tel, list(names), name


def _idx_class_names(d: Path, trl: np.ndarray, tel: np.ndarray) -> list[str]:
    """Class names ``0..C-1`` of an IDX set, which declares no class count: C is one more than the
    largest label. A label far outside the others (its classes skip more ids than they use, such
    as a stray 200 among ten classes, which would make a 201-class model) is an error; a few ids
    without an image are reported by :func:`class_warnings`."""
    labels = np.concatenate([trl, tel])
    present = np.unique(labels)
    top = int(present.max())
    missing = np.setdiff1d(np.arange(top + 1), present)
    if missing.size > present.size > 1:
        below = present[present < top]
        where = "train" if (trl == top).any() else "test"
        at = int(np.flatnonzero((trl if where == "train" else tel) == top)[0])
        raise GraphclsError(
            f"{d}: label {top} ({where} image {at}) is outside the classes of the other images "
            f"(0..{int(below.max())}): no image has labels {_ranges(missing)}; IDX labels must be 0..C-1")
    return [str(i) for i in range(top + 1)]


def _ranges(values: np.ndarray) -> str:
    """``[3, 4, 5, 9]`` → ``"3..5, 9"``."""
    out, start, prev = [], None, None
    for v in (int(x) for x in values):
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            out.append(f"{start}..{prev}" if prev > start else str(start))
            start = prev = v
    out.append(f"{start}..{prev}" if prev > start else str(start))
    return ", ".join(out[:5]) + (", ..." if len(out) > 5 else "")


def class_warnings(train_labels: Any, test_labels: Any, class_names: list, name: str) -> list[str]:
    """Explicit warnings about classes across splits: a test class the training set lacks (the
    model can never predict it), a declared class no image has."""
    tr = set(np.asarray(train_labels, dtype=np.int64).reshape(-1).tolist())
    te = set(np.asarray(test_labels, dtype=np.int64).reshape(-1).tolist())
    out = []
    none = sorted(set(range(len(class_names))) - tr - te)
    if none:
        out.append(f"{name}: {len(none)} of {len(class_names)} classes have no image in either split "
                   f"({_ranges(np.asarray(none))}): the model has an output for each")
    lack = sorted(te - tr)
    if lack:
        shown = ", ".join(str(class_names[i]) if i < len(class_names) else str(i) for i in lack[:10])
        out.append(f"{name}: the test split has {len(lack)} class(es) the training set lacks ({shown}"
                   f"{', ...' if len(lack) > 10 else ''}): the model cannot learn them")
    return out


def _input_spec(images: Any) -> dict:
    """What a model trained on ``images`` saw: their channel count and, for arrays of one size, ``[H, W]``."""
    from ..graphs.image import image_channels

    if isinstance(images, np.ndarray) and images.ndim >= 3 and len(images):
        return {"size": [int(images.shape[1]), int(images.shape[2])], "channels": image_channels(images[0])}
    first = next(iter(images), None) if not isinstance(images, np.ndarray) else None
    if isinstance(first, (str, os.PathLike)):
        from .folder import image_file_channels
        return {"size": None, "channels": image_file_channels(first)}
    return {"size": None, "channels": image_channels(first) if first is not None else None}


def load_dataset(spec: str = "sample", graph: str = "superpixels", graph_kwargs: Optional[dict] = None,
                 root: Optional[str | os.PathLike] = None, workers: Optional[int] = None,
                 progress: bool = True, strict: bool = True, seed: int = 0,
                 limit: Optional[int] = None, force: bool = False) -> DatasetSplits:
    """Resolve ``spec`` and return converted, cached train/test graph datasets."""
    from .cache import default_root
    from .graph_dataset import ImageGraphDataset

    root = Path(root) if root is not None else default_root()
    kind, arg = _split_name(spec)
    if kind == "mnist-superpixels":
        from .mnist_superpixels import load_mnist_superpixels

        if graph != "superpixels":
            raise GraphclsError("mnist-superpixels holds superpixel graphs only: use --graph superpixels")
        train, test = load_mnist_superpixels(root / "mnist-superpixels")
        if limit is not None:
            train = train[:limit]
        return DatasetSplits(train, test, 10, int(train[0].x.size(1)), [str(i) for i in range(10)],
                             "mnist-superpixels")
    if kind == "gnn-benchmark":
        from .gnn_benchmark import load_gnn_benchmark

        if graph != "superpixels":
            raise GraphclsError("gnn-benchmark sets hold superpixel graphs only: use --graph superpixels")
        train, val, test = load_gnn_benchmark(root / "gnn-benchmark", arg or "")
        if limit is not None:
            train = train[:limit]
        names = [str(i) for i in range(10)]
        return DatasetSplits(train, test, 10, int(train[0].x.size(1)), names, f"gnn-benchmark-{arg}", val=val)
    return _image_splits(ImageGraphDataset.from_cache, spec, graph, graph_kwargs, root, workers, progress, strict,
                         seed, limit, force)


def convert_dataset(spec: str = "sample", graph: str = "superpixels", graph_kwargs: Optional[dict] = None,
                    root: Optional[str | os.PathLike] = None, workers: Optional[int] = None,
                    progress: bool = True, strict: bool = True, seed: int = 0,
                    limit: Optional[int] = None, force: bool = False) -> DatasetSplits:
    """:func:`load_dataset` for a conversion (``graphcls convert``): the same caches, splits and
    ``info``, with ``train``/``test`` the caches' tensors (:class:`~.cache.GraphCache`)
    instead of PyG data sets, so an image data set converts without importing PyG. The data
    sets that are PyG's (``mnist-superpixels``, ``gnn-benchmark:``) come as ``load_dataset``
    gives them."""
    if _split_name(spec)[0] in ("mnist-superpixels", "gnn-benchmark"):
        return load_dataset(spec, graph, graph_kwargs, root=root, workers=workers, progress=progress, strict=strict,
                            seed=seed, limit=limit, force=force)
    from .cache import default_root

    root = Path(root) if root is not None else default_root()
    return _image_splits(None, spec, graph, graph_kwargs, root, workers, progress, strict, seed, limit, force)


def _image_splits(wrap: Optional[Callable], spec: str, graph: str, graph_kwargs: Optional[dict], root: Path,
                  workers: Optional[int], progress: bool, strict: bool, seed: int, limit: Optional[int],
                  force: bool) -> DatasetSplits:
    """The train/test splits of an image data set: both converted (when not cached) in one run of the
    worker pool (:func:`~.conversion.cached_splits`), each :class:`~.cache.GraphCache` then given to
    ``wrap`` (``None``: the caches as they are)."""
    from .conversion import cached_splits

    tri, trl, tei, tel, names, name = load_images(spec, seed=seed, limit=limit)
    common = dict(graph=graph, graph_kwargs=graph_kwargs, class_names=names, workers=workers,
                  progress=progress, strict=strict)
    try:
        caches = cached_splits(root, [(tri, trl, f"{name}-train"), (tei, tel, f"{name}-test")], force=force, **common)
    finally:
        folder.forget_decoded()  # images decoded ahead and not used (a cache hit)
    train, test = caches if wrap is None else (wrap(c) for c in caches)
    info = {"train_failures": train.failures, "test_failures": test.failures,
            "cache": [str(train.cache_path), str(test.cache_path)],
            "warnings": class_warnings(trl, tel, names, name), "input": _input_spec(tri)}
    return DatasetSplits(train, test, len(names), int(train.num_node_features), names, name, info)
