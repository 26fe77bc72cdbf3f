"""``ImageGraphDataset``: images converted to graphs once, cached on disk, reloaded, as a PyG
``InMemoryDataset``.

The conversion and the cache are :mod:`~pyg_graphcls.datasets.conversion`'s and
:mod:`~pyg_graphcls.datasets.cache`'s (no PyG: ``graphcls convert`` runs them alone); this module
wraps a :class:`~.cache.GraphCache` in
PyG's ``InMemoryDataset`` for training, evaluation and drawing. Its names
(``convert_images``, ``cache_key``, ``FORMAT_VERSION``...) stay importable from here.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

from torch_geometric.data import Data, InMemoryDataset

from . import conversion
from .conversion import (FORMAT_VERSION, GraphCache, cache_key, cached_graphs, conversion_lock, convert_images,
                         default_root)

__all__ = ["ImageGraphDataset", "convert_images", "convert_shard", "cache_key", "default_root", "FORMAT_VERSION",
           "conversion_lock", "GraphCache", "cached_graphs"]


def convert_shard(root: str | os.PathLike, images: Any, labels: Any, *, shard: Any = None,
                  merge_only: bool = False, graph: str = "superpixels", graph_kwargs: Optional[dict] = None,
                  name: str = "dataset", **dataset_kwargs: Any) -> dict:
    """:func:`pyg_graphcls.datasets.conversion.convert_shard` (its arguments), with the merged
    cache returned as an :class:`ImageGraphDataset`: ``{"dataset": ImageGraphDataset or None,
    "missing": chunks not yet converted, "cache": path}``."""
    res = conversion.convert_shard(root, images, labels, shard=shard, merge_only=merge_only, graph=graph,
                                   graph_kwargs=graph_kwargs, name=name, **dataset_kwargs)
    if res["dataset"] is not None:
        kw = {k: v for k, v in dataset_kwargs.items() if k != "force"}  # converted above when forced
        res["dataset"] = ImageGraphDataset(root, images, labels, graph=graph, graph_kwargs=graph_kwargs, name=name,
                                           **kw)
    return res


class ImageGraphDataset(InMemoryDataset):
    r"""Graphs of images, converted once and cached.

    Args:
        root (str): cache folder (see :func:`default_root`).
        images: ``[N, H, W]``/``[N, H, W, C]`` array, or a list of arrays or
            image file paths (any sizes; mixed grayscale/colour is unified).
        labels: ``[N]`` integer class ids (>= 0).
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
        cache_path (Path): the cache folder (its chunk files and index).
    """

    def __init__(self, root: str | os.PathLike, images: Any, labels: Any, *, graph: str = "superpixels",
                 graph_kwargs: Optional[dict] = None, name: str = "dataset",
                 class_names: Optional[Sequence[str]] = None, workers: Optional[int] = None,
                 progress: bool = True, strict: bool = True, force: bool = False,
                 transform: Optional[Callable] = None) -> None:
        super().__init__(None, transform)
        self._take(cached_graphs(root, images, labels, graph=graph, graph_kwargs=graph_kwargs, name=name,
                                 class_names=class_names, workers=workers, progress=progress, strict=strict,
                                 force=force))

    @classmethod
    def from_cache(cls, cache: GraphCache, transform: Optional[Callable] = None) -> "ImageGraphDataset":
        """The data set of a :class:`~.cache.GraphCache` already at hand (``load_dataset``: the splits
        come from one :func:`~.conversion.cached_splits`), without hashing the images again."""
        ds = cls.__new__(cls)
        InMemoryDataset.__init__(ds, None, transform)
        ds._take(cache)
        return ds

    def _take(self, cache: GraphCache) -> None:
        self.graph = cache.graph
        self.graph_kwargs = cache.graph_kwargs
        self.cache_path = cache.cache_path
        self.converted = cache.converted
        self.data = Data.from_dict(cache.data)
        self.slices = cache.slices
        self.meta = cache.meta
        self.failures = cache.failures

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return len(self.meta["class_names"])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self)}, graph={self.graph})"
