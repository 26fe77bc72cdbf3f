r"""Dense training path for many small graphs: a data set packed once as padded neighbour tensors.

A PyG ``DataLoader`` builds every batch with ``Batch.from_data_list`` (Python
work per graph) and message passing scatters over ``edge_index`` on every
call. Superpixel graphs are small (~75 nodes) and every node receives the same
number :math:`k` of edges (kNN), so a data set fits fixed-size tensors:

- :class:`PackedGraphs` stores it once: ``x [G, N, F]`` (``N`` = largest graph,
  real nodes first), ``pos [G, N, 2]``, ``mask [G, N]``, ``nbr [G, N, k]``
  (local index of the source :math:`j` of each edge :math:`j \to i`, slot by
  slot in ``edge_index`` order), ``nbr_mask [G, N, k]`` (only when some node
  receives fewer than :math:`k` edges), ``edge_attr [G, N, k, D]``,
  ``image_size [G, 2]``, labels ``y``. One packed form serves every model.
- :class:`PackedLoader` cuts a permutation into batches with tensor indexing
  only and yields :class:`DenseGraphBatch` (the same fields for ``B`` graphs).
- Models with ``supports_dense`` (``gcn``, ``gat``, ``gpr``, ``mlp``,
  ``dirconv``, ``gatedgcn``) recognise a :class:`DenseGraphBatch` and run the
  same parameters as gathers over the neighbour table
  (:mod:`pyg_graphcls.nn.neighbours`): the same logits and gradients as on a
  PyG ``Batch`` of the same graphs, so a state dict trained on either path runs
  on the other.

:func:`pack_rule` is the rule by which the :class:`~pyg_graphcls.train.Trainer`
packs a data set by itself.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

from ..errors import GraphclsError

__all__ = ["PackedGraphs", "PackedLoader", "DenseGraphBatch", "pack_rule", "dense_view", "MAX_DEGREE", "MAX_NODES"]

#: largest in-degree :math:`k` the Trainer packs by itself
MAX_DEGREE = 32
#: largest graph the Trainer packs by itself
MAX_NODES = 1024
_FIELDS = ("x", "pos", "mask", "nbr", "nbr_mask", "edge_attr", "image_size", "y")


class DenseGraphBatch:
    """A batch of padded graphs: ``x [B, N, F]``, ``mask [B, N]``, ``nbr [B, N, k]``, ``y [B]`` and
    the optional ``pos [B, N, 2]``, ``nbr_mask [B, N, k]``, ``edge_attr [B, N, k, D]``,
    ``image_size [B, 2]`` (``None`` when absent). See :class:`PackedGraphs`."""

    is_dense_batch = True

    def __init__(self, x: Tensor, mask: Tensor, nbr: Tensor, y: Tensor, pos: Optional[Tensor] = None,
                 nbr_mask: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                 image_size: Optional[Tensor] = None) -> None:
        self.x, self.mask, self.nbr, self.y = x, mask, nbr, y
        self.pos, self.nbr_mask, self.edge_attr, self.image_size = pos, nbr_mask, edge_attr, image_size

    @property
    def num_graphs(self) -> int:
        return self.x.size(0)

    def to(self, device, non_blocking: bool = False) -> "DenseGraphBatch":
        return DenseGraphBatch(**{k: None if getattr(self, k) is None else
                                  getattr(self, k).to(device, non_blocking=non_blocking) for k in _FIELDS})

    def __repr__(self) -> str:
        return (f"DenseGraphBatch(graphs={self.num_graphs}, nodes<={self.x.size(1)}, features={self.x.size(2)}, "
                f"k={self.nbr.size(2)})")


def _storage(dataset) -> tuple[dict, dict]:
    """``(store, slices)`` of a collated data set (edge indices local to each graph)."""
    from torch_geometric.data import Data, InMemoryDataset

    if isinstance(dataset, tuple) and len(dataset) == 2 and isinstance(dataset[0], (dict, Data)):
        store, slices = dataset  # e.g. what superpixel_graphs(..., collate=True) returns
        store = store.to_dict() if isinstance(store, Data) else store
    elif isinstance(dataset, InMemoryDataset):
        if dataset._indices is not None:  # a slice: collate just those graphs
            data, slices = InMemoryDataset.collate([dataset[i] for i in range(len(dataset))])
            store = data.to_dict()
        else:
            store, slices = dataset._data.to_dict(), dataset.slices
    elif isinstance(dataset, Sequence) and len(dataset) and isinstance(dataset[0], Data):
        data, slices = InMemoryDataset.collate(list(dataset))
        store = data.to_dict()
    else:
        raise GraphclsError("PackedGraphs needs an InMemoryDataset, a list of Data or (data, slices) storage")
    if slices is None and "x" in store:  # one graph: collate keeps it as it is, without slices
        n = store["x"].size(0)
        e = store["edge_index"].size(1) if "edge_index" in store else 0
        slices = {"x": torch.tensor([0, n]), "edge_index": torch.tensor([0, e])}
    return store, slices


def _layout(store: dict, slices: dict) -> dict:
    """Node counts, the in-degree of every node and each edge's slot (shared by packing and the rule)."""
    node_ptr = slices["x"].long()
    G = node_ptr.numel() - 1
    counts = node_ptr[1:] - node_ptr[:-1]
    ei = store["edge_index"].long()
    if "edge_index" in slices:
        edge_ptr = slices["edge_index"].long()
        egraph = torch.repeat_interleave(torch.arange(G), edge_ptr[1:] - edge_ptr[:-1])
    else:
        egraph = torch.zeros(0, dtype=torch.long)
    dst = ei[1] + node_ptr[egraph]  # global target node of every edge
    M = int(node_ptr[-1])
    indeg = torch.bincount(dst, minlength=M)
    order = torch.argsort(dst, stable=True)  # edges into each node, in edge_index order
    start = torch.cumsum(indeg, 0) - indeg
    slot = torch.empty_like(dst)
    slot[order] = torch.arange(dst.numel()) - start[dst[order]]
    return {"G": G, "M": M, "counts": counts, "node_ptr": node_ptr, "egraph": egraph, "indeg": indeg,
            "slot": slot, "N": int(counts.max()) if G else 0, "k": int(indeg.max()) if indeg.numel() else 0}


def pack_rule(dataset) -> Optional[str]:
    r"""Why the Trainer would not pack ``dataset`` by itself, or ``None`` when it packs.

    It packs a data set of single-label graphs (an ``InMemoryDataset`` without a
    ``transform``, or a list of ``Data``) with ``x`` and ``edge_index`` when the
    padded tensors stay small: every graph has at most :data:`MAX_NODES` nodes
    and every node at most :data:`MAX_DEGREE` incoming edges, padding at most
    doubles the node slots (:math:`G \cdot N_{\max} \le 2M`) and the edge slots
    (:math:`M k \le 2E + M`). kNN graphs (every node :math:`k` edges, sizes
    within a few nodes) always pack; region-adjacency graphs with a few hubs may not.
    """
    if getattr(dataset, "transform", None) is not None:
        return "the data set has a transform (applied per access, e.g. augmentation)"
    try:
        store, slices = _storage(dataset)
    except GraphclsError as e:
        return str(e)
    return _storage_rule(store, slices)


def _storage_rule(store: dict, slices: dict) -> Optional[str]:
    for key in ("x", "edge_index", "y"):
        if key not in store:
            return f"graphs have no {key!r}"
    if store["y"].numel() != len(slices["x"]) - 1:
        return "labels are not one per graph"
    L = _layout(store, slices)
    if L["N"] > MAX_NODES or L["k"] > MAX_DEGREE:
        return f"largest graph {L['N']} nodes (max {MAX_NODES}) or in-degree {L['k']} (max {MAX_DEGREE})"
    E = store["edge_index"].size(1)
    if L["G"] * L["N"] > 2 * L["M"] or L["M"] * L["k"] > 2 * E + L["M"]:
        return "graph sizes or in-degrees too uneven for padding"
    return None


def dense_view(dataset, model, dense: Optional[bool] = None, task: str = "single",
               device: Optional[torch.device] = None):
    r"""The data set the Trainer feeds ``model``: ``dataset`` packed as :class:`PackedGraphs` (on
    ``device``) when the dense path applies, ``dataset`` itself otherwise.

    The dense path applies when ``model.supports_dense`` is true, ``task`` is
    ``"single"`` and :func:`pack_rule` accepts the data set. ``dense=None``
    chooses by that rule, ``dense=False`` never packs, ``dense=True`` packs or
    raises :class:`~pyg_graphcls.errors.GraphclsError` saying why it cannot.
    A :class:`PackedGraphs` is used as it is (moved to ``device``).
    """
    if dataset is None or dense is False:
        return dataset
    if isinstance(dataset, PackedGraphs):
        return dataset.to(device) if device is not None else dataset
    why = None
    if not getattr(model, "supports_dense", False):
        why = f"the model {type(model).__name__} has no dense path"
    elif task != "single":
        why = f"task {task!r} (the dense path is for single-label graphs)"
    elif getattr(dataset, "transform", None) is not None:
        why = "the data set has a transform (applied per access, e.g. augmentation)"
    else:
        try:
            storage = _storage(dataset)  # collated once, for the rule and the packing
            why = _storage_rule(*storage)
        except GraphclsError as e:
            why = str(e)
    if why is None:
        packed = PackedGraphs(storage)
        return packed.to(device) if device is not None else packed
    if dense:
        raise GraphclsError(f"dense=True but the data cannot take the dense path: {why}")
    return dataset


class PackedGraphs:
    r"""A graph data set stored as padded neighbour tensors for :class:`PackedLoader`.

    Node :math:`i` of graph :math:`g` is ``x[g, i]``; its incoming edges
    :math:`j \to i` are the slots ``nbr[g, i, s] = j`` (their features
    ``edge_attr[g, i, s]``), in the order of ``edge_index``. Duplicate edges and
    self-loops keep their slots, as the PyG path sees them.

    Args:
        dataset: an ``InMemoryDataset`` (e.g. :class:`~pyg_graphcls.datasets.ImageGraphDataset`
            or a slice of one), a list of ``Data``, or ``(data_dict, slices)``
            storage as returned by :func:`~pyg_graphcls.graphs.superpixel_graphs`.
        max_nodes (int, optional): pad to this many nodes (default: the largest graph).
        max_degree (int, optional): neighbour slots :math:`k` (default: the largest in-degree).

    Graphs must carry ``x``, ``edge_index`` and ``y``; ``pos``, ``edge_attr`` and
    ``image_size`` are kept when present.

    Shapes:
        ``x [G, N, F]``, ``mask [G, N]``, ``nbr [G, N, k]`` (int32), ``nbr_mask [G, N, k]`` or ``None``,
        ``pos [G, N, 2]``, ``edge_attr [G, N, k, D]``, ``image_size [G, 2]``, ``y [G]``
        (``[G, C]`` for multi-hot labels), ``num_nodes [G]``.
    """

    def __init__(self, dataset, max_nodes: Optional[int] = None, max_degree: Optional[int] = None) -> None:
        store, slices = _storage(dataset)
        for key in ("x", "edge_index", "y"):
            if key not in store:
                raise GraphclsError(f"PackedGraphs: graphs have no {key!r}")
        self._pack(store, slices, max_nodes, max_degree)

    def _pack(self, store: dict, slices: dict, max_nodes: Optional[int], max_degree: Optional[int]) -> None:
        L = _layout(store, slices)
        G, counts, node_ptr = L["G"], L["counts"], L["node_ptr"]
        N = L["N"] if max_nodes is None else int(max_nodes)
        k = L["k"] if max_degree is None else int(max_degree)
        if N < L["N"] or k < L["k"]:
            raise GraphclsError(f"max_nodes={N}, max_degree={k} but a graph has {L['N']} nodes and a node "
                                f"{L['k']} incoming edges")
        gidx = torch.repeat_interleave(torch.arange(G), counts)               # graph of each node
        local = torch.arange(L["M"]) - node_ptr[gidx]
        x = store["x"].float()
        x = x.unsqueeze(1) if x.dim() == 1 else x
        self.x = x.new_zeros(G, N, x.size(1))
        self.x[gidx, local] = x
        self.mask = torch.zeros(G, N, dtype=torch.bool)
        self.mask[gidx, local] = True
        self.num_nodes = counts
        y = store["y"]
        self.y = y.view(-1).long() if y.numel() == G else y.view(G, -1)
        self.pos = None
        if store.get("pos") is not None:
            self.pos = torch.zeros(G, N, 2)
            self.pos[gidx, local] = store["pos"].float()
        self.image_size = None
        if store.get("image_size") is not None and store["image_size"].numel() == 2 * G:
            self.image_size = store["image_size"].reshape(G, 2)
        # neighbour table: padding slots point at the node itself
        ei, eg, slot = store["edge_index"].long(), L["egraph"], L["slot"]
        self.nbr = torch.arange(N, dtype=torch.int32).view(1, N, 1).repeat(G, 1, k)  # int32: half the memory
        self.nbr[eg, ei[1], slot] = ei[0].to(torch.int32)
        self.nbr_mask = None
        if bool((L["indeg"] < k).any()):
            self.nbr_mask = torch.zeros(G, N, k, dtype=torch.bool)
            self.nbr_mask[eg, ei[1], slot] = True
        self.edge_attr = None
        if store.get("edge_attr") is not None:
            ea = store["edge_attr"].float()
            ea = ea.view(ea.size(0), -1)
            self.edge_attr = ea.new_zeros(G, N, k, ea.size(1))
            self.edge_attr[eg, ei[1], slot] = ea

    def __len__(self) -> int:
        return self.x.size(0)

    @property
    def num_features(self) -> int:
        return self.x.size(2)

    @property
    def max_nodes(self) -> int:
        return self.x.size(1)

    @property
    def max_degree(self) -> int:
        return self.nbr.size(2)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device) -> "PackedGraphs":
        """A copy on ``device`` (batches are then cut there, with no transfer per batch)."""
        out = PackedGraphs.__new__(PackedGraphs)
        for key in _FIELDS + ("num_nodes",):
            v = getattr(self, key)
            setattr(out, key, None if v is None else v.to(device))
        return out

    def batch(self, idx: Tensor) -> DenseGraphBatch:
        idx = torch.as_tensor(idx, dtype=torch.long).view(-1).to(self.x.device)
        return DenseGraphBatch(**{k: None if getattr(self, k) is None else getattr(self, k)[idx] for k in _FIELDS})

    def loader(self, batch_size: int = 64, shuffle: bool = False, generator: Optional[torch.Generator] = None,
               batch_sampler=None, drop_last: bool = False) -> "PackedLoader":
        return PackedLoader(self, batch_size, shuffle, generator, batch_sampler, drop_last)

    def __getitem__(self, idx) -> "PackedGraphs":
        """A subset (tensor/list/slice of graph indices) sharing nothing mutable with this one."""
        idx = torch.arange(len(self))[idx] if isinstance(idx, slice) else torch.as_tensor(idx).long().view(-1)
        idx = idx.to(self.x.device)
        out = PackedGraphs.__new__(PackedGraphs)
        for key in _FIELDS + ("num_nodes",):
            v = getattr(self, key)
            setattr(out, key, None if v is None else v[idx])
        return out

    def __repr__(self) -> str:
        return f"PackedGraphs({len(self)}, nodes<={self.max_nodes}, features={self.num_features}, k={self.max_degree})"


class PackedLoader:
    """Batches of a :class:`PackedGraphs` (an iterable like ``DataLoader``)."""

    def __init__(self, packed: PackedGraphs, batch_size: int = 64, shuffle: bool = False,
                 generator: Optional[torch.Generator] = None, batch_sampler=None, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise GraphclsError(f"batch_size must be >= 1, got {batch_size}")
        self.packed, self.batch_size, self.shuffle = packed, batch_size, shuffle
        self.generator, self.batch_sampler, self.drop_last = generator, batch_sampler, drop_last

    def __iter__(self) -> Iterator[DenseGraphBatch]:
        if self.batch_sampler is not None:
            for idx in self.batch_sampler:
                yield self.packed.batch(torch.as_tensor(list(idx), dtype=torch.long))
            return
        n = len(self.packed)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for s in range(0, n, self.batch_size):
            idx = order[s:s + self.batch_size]
            if self.drop_last and idx.numel() < self.batch_size:
                break
            yield self.packed.batch(idx)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.packed)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
