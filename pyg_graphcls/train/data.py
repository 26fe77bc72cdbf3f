r"""The data of one single-label training run: train / validation / test sets from a data set spec.

:func:`training_data` is what ``graphcls train`` trains on: the data set's
training images (the first ``train_size`` of them when given) split into
train and validation by :func:`~pyg_graphcls.train.trainer.split_indices`
with ``split_seed``, its test images (the first ``test_size``), as

- cached graphs (``graph`` ``superpixels`` | ``grid`` | ``patches``: converted
  once by :func:`~pyg_graphcls.datasets.load_dataset`),
- graphs built on access (``lazy=True``:
  :class:`~pyg_graphcls.datasets.lazy.LazyGraphDataset`, no cache), or
- image tensors (``graph="image"``, for image models such as ``cnn``:
  :class:`~pyg_graphcls.datasets.lazy.ImageTensorDataset`, area-averaged to
  ``image_size`` when given);

with optional training-time ``augment``ation of the training part only
(:class:`~pyg_graphcls.graphs.augment.GraphAugment` for graphs, a left/right
flip for images).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import GraphclsError
from .trainer import split_dataset, split_indices

__all__ = ["TrainingData", "training_data", "augment_feature_names"]

#: ``graph`` values of :func:`training_data`
TRAIN_GRAPHS = ("superpixels", "grid", "patches", "image")


@dataclass
class TrainingData:
    """What :func:`training_data` returns; ``full`` is the whole (unsplit) training part."""
    train: Any
    val: Any
    test: Any
    full: Any
    num_features: int
    num_classes: int
    class_names: list
    name: str
    info: dict = field(default_factory=dict)


def augment_feature_names(graph: str, graph_kwargs: dict, num_features: int, dataset: str = "") -> Optional[list]:
    """Column names of ``x`` for :class:`~pyg_graphcls.graphs.augment.GraphAugment` (``None`` when unknown).

    Args:
        graph (str): ``superpixels`` or ``grid``.
        graph_kwargs (dict): the builder's arguments (``features``, ``position``).
        num_features (int): columns of ``x``, to find the channel count.
        dataset (str): the data set spec (``mnist-superpixels`` graphs carry
            intensity + centroid).
    """
    from ..graphs.features import feature_names
    if dataset.startswith("mnist-superpixels"):
        return ["mean_0", "centroid_x", "centroid_y"]
    if graph == "grid":
        channels = num_features - (2 if graph_kwargs.get("position") else 0)
        names = [f"mean_{c}" for c in range(channels)]
        return names + (["centroid_x", "centroid_y"] if graph_kwargs.get("position") else [])
    if graph == "superpixels":
        feats = graph_kwargs.get("features", ["mean", "centroid"])
        for channels in (1, 3):
            cand = feature_names(feats, channels)
            if len(cand) == num_features:
                return cand
    return None


def _graph_augment(graph: str, graph_kwargs: dict, num_features: int, dataset: str, example, augment: dict):
    from ..graphs.augment import GraphAugment
    if graph not in ("superpixels", "grid"):
        raise GraphclsError(f"--augment applies to superpixels, grid and image data, not --graph {graph}")
    edge_attr = graph_kwargs.get("edge_attr", () if graph == "grid" else ("distance",))
    if getattr(example, "edge_attr", None) is None:
        edge_attr = ()
    elif dataset.startswith("mnist-superpixels"):
        edge_attr = ("distance",)  # MatchSuperpixelLayout's default
    return GraphAugment(features=augment_feature_names(graph, graph_kwargs, num_features, dataset),
                        edge_attr=edge_attr, **augment)


def _cut(dataset, n: Optional[int], what: str):
    if n is None:
        return dataset
    if not 0 < n <= len(dataset):
        raise GraphclsError(f"{what} must be in 1..{len(dataset)}, got {n}")
    return dataset[:n]


def training_data(dataset: str = "sample", graph: str = "superpixels", graph_kwargs: Optional[dict] = None, *,
                  root: Optional[str | os.PathLike] = None, workers: Optional[int] = None, progress: bool = False,
                  strict: bool = True, seed: int = 0, train_size: Optional[int] = None,
                  test_size: Optional[int] = None, val_fraction: float = 0.1, split_seed: int = 0,
                  augment: Optional[dict] = None, lazy: bool = False,
                  image_size: Optional[int] = None) -> TrainingData:
    r"""Train / validation / test sets of one single-label run (see the module docstring).

    Args:
        dataset (str): a spec of :func:`~pyg_graphcls.datasets.load_dataset`.
        graph (str): ``superpixels``, ``grid``, ``patches`` or ``image``.
        graph_kwargs (dict, optional): the graph builder's arguments.
        root (path, optional): cache folder.
        workers (int, optional): conversion processes.
        progress (bool): progress bars.
        strict (bool): fail on the first image that cannot be converted.
        seed (int): the data set's own seed (the test split of ``folder:DIR``).
        train_size (int, optional): keep the first N training images (before the split).
        test_size (int, optional): keep the first N test images.
        val_fraction (float): share of the training images held out for validation.
        split_seed (int): seed of the train/validation split.
        augment (dict, optional): training-time augmentation: arguments of
            :class:`~pyg_graphcls.graphs.augment.GraphAugment` for graphs, ``flip``
            (a probability) for images.
        lazy (bool): build graphs on access instead of converting and caching them.
        image_size (int, optional): ``graph="image"``: area-average to this square side.
    """
    from ..datasets import load_dataset, load_images
    if graph not in TRAIN_GRAPHS:
        raise GraphclsError(f"graph must be one of {', '.join(TRAIN_GRAPHS)}, got {graph!r}")
    if image_size is not None and graph != "image":
        raise GraphclsError(f"image_size applies to graph 'image', not {graph!r}")
    gkw = dict(graph_kwargs or {})
    augment = dict(augment or {})
    if lazy and graph == "image":
        raise GraphclsError("lazy applies to graphs: graph 'image' reads the images as they are")
    if train_size is not None and train_size < 2:
        raise GraphclsError(f"train_size must be >= 2, got {train_size}")
    train = val = None
    if graph == "image" or lazy:
        if dataset.startswith("mnist-superpixels"):
            raise GraphclsError("mnist-superpixels holds graphs, not images: it has no image or lazy form")
        tri, trl, tei, tel, names, name = load_images(dataset, seed=seed, limit=train_size)
        if test_size is not None:
            tei, tel = _cut(tei, test_size, "test_size"), tel[:test_size]
        if graph == "image":
            return _image_data(tri, trl, tei, tel, names, name, gkw, augment, image_size, val_fraction, split_seed)
        from ..datasets.lazy import LazyGraphDataset
        from ..graphs import build_graph
        builder = functools.partial(build_graph, graph)
        full = LazyGraphDataset(tri, trl, builder, gkw)
        test = LazyGraphDataset(tei, tel, builder, gkw)
        num_features, num_classes, info = full.num_node_features, len(names), {}
    else:
        splits = load_dataset(dataset, graph, gkw, root=root, workers=workers, progress=progress, strict=strict,
                              seed=seed, limit=train_size)
        full, test = splits.train, _cut(splits.test, test_size, "test_size")
        num_features, num_classes, names, name = (splits.num_features, splits.num_classes, splits.class_names,
                                                  splits.name)
        info = splits.info
        if splits.val is not None:  # the data set's own validation split (GNNBenchmarkDataset)
            train, val = full, splits.val
    if val is None or train is None:
        train, val = split_dataset(full, val_fraction, split_seed)
    if augment:
        train.transform = _graph_augment(graph, gkw, num_features, dataset, full.get(0), augment)
    return TrainingData(train, val, test, full, num_features, num_classes, list(names), name, info)


def _image_data(tri, trl, tei, tel, names, name, gkw, augment, image_size, val_fraction, split_seed):
    import numpy as np
    from ..datasets.lazy import ImageTensorDataset, shrink_images
    if gkw:
        raise GraphclsError(f"graph options {sorted(gkw)} do not apply to graph 'image'")
    unknown = set(augment) - {"flip"}
    if unknown:
        raise GraphclsError(f"graph 'image' augments by flip only, got {sorted(unknown)}")
    if not isinstance(tri, np.ndarray):
        raise GraphclsError("graph 'image' needs an array data set (sample, fashion-mnist, idx:DIR)")
    if image_size is not None:
        tri, tei = shrink_images(tri, int(image_size)), shrink_images(tei, int(image_size))
    tr_idx, va_idx = (i.numpy() for i in split_indices(len(trl), val_fraction, split_seed))
    train = ImageTensorDataset(tri[tr_idx], trl[tr_idx], flip=float(augment.get("flip", 0.0)))
    val = ImageTensorDataset(tri[va_idx], trl[va_idx]) if len(va_idx) else None
    test = ImageTensorDataset(tei, tel)
    full = ImageTensorDataset(tri, trl)
    return TrainingData(train, val, test, full, train.num_channels, len(names), list(names), name, {})
