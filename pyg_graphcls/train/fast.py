"""Fast training path for many small graphs: pre-collated, padded storage and a dense GCN.

A PyG ``DataLoader`` builds every batch with ``Batch.from_data_list`` (Python
work per graph) and ``GCNConv`` recomputes ``gcn_norm`` and runs gather /
scatter message passing on every call. For graphs of ~75 nodes that overhead
dominates. Here:

- :class:`PackedGraphs` stores a data set once as padded tensors: ``x
  [G, N, F]`` (``N`` = largest graph), node counts, labels, and the
  GCN-normalised adjacency (PyG's own ``gcn_norm``: self-loops and
  :math:`\\hat D^{-1/2} \\hat A \\hat D^{-1/2}`, computed once for all graphs)
  as per-graph padded COO lists ``[G, E]``. It also keeps :math:`\\hat A X`
  (the first layer's propagation of the fixed input features).
- :class:`PackedLoader` cuts a permutation into batches with tensor indexing
  only (no per-graph Python objects) and yields :class:`DenseGraphBatch`:
  ``x [B, N, F]``, ``ax [B, N, F]``, dense ``adj [B, N, N]``, ``mask [B, N]``, ``y``.
- :meth:`~pyg_graphcls.models.GraphClassifier.forward` recognises a
  :class:`DenseGraphBatch` and runs the same layers with the same parameters as
  dense batched products (``bmm``), so a state dict trained on either path
  runs on the other; padded nodes are masked out of the readout.

The Trainer takes a :class:`PackedGraphs` wherever it takes a data set
(``make_loader`` asks it for its loader).
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

from ..errors import GraphclsError

__all__ = ["PackedGraphs", "PackedLoader", "DenseGraphBatch"]


class DenseGraphBatch:
    """A batch of padded graphs: ``x [B, N, F]``, ``ax [B, N, F]`` (:math:`\\hat A X`),
    ``adj [B, N, N]`` (normalised, row = target), ``mask [B, N]``, ``y [B]``."""

    is_dense_batch = True

    def __init__(self, x: Tensor, ax: Tensor, adj: Tensor, mask: Tensor, y: Tensor) -> None:
        self.x, self.ax, self.adj, self.mask, self.y = x, ax, adj, mask, y

    @property
    def num_graphs(self) -> int:
        return self.x.size(0)

    def to(self, device, non_blocking: bool = False) -> "DenseGraphBatch":
        return DenseGraphBatch(*(t.to(device, non_blocking=non_blocking)
                                 for t in (self.x, self.ax, self.adj, self.mask, self.y)))

    def __repr__(self) -> str:
        return f"DenseGraphBatch(graphs={self.num_graphs}, nodes<={self.x.size(1)}, features={self.x.size(2)})"


class PackedGraphs:
    r"""A graph data set stored as padded tensors for :class:`PackedLoader`.

    Args:
        dataset: an ``InMemoryDataset`` (e.g. :class:`~pyg_graphcls.datasets.ImageGraphDataset`
            or a slice of one), a list of ``Data``, or ``(data_dict, slices)``
            storage as returned by :func:`~pyg_graphcls.graphs.superpixels.superpixel_graphs`.
        edge_weight_column (int, optional): use ``edge_attr[:, column]`` as GCN
            edge weights (the ``gcn`` model's ``edge_weight=True``); default none.
        max_nodes (int, optional): pad to this many nodes (default: the largest graph).

    Graphs must carry ``x``, ``edge_index`` and an integer ``y``.
    """

    def __init__(self, dataset, edge_weight_column: Optional[int] = None, max_nodes: Optional[int] = None) -> None:
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
        for key in ("x", "edge_index", "y"):
            if key not in store:
                raise GraphclsError(f"PackedGraphs: graphs have no {key!r}")
        self._pack(store, slices, edge_weight_column, max_nodes)

    def _pack(self, store: dict, slices: dict, ewc: Optional[int], max_nodes: Optional[int]) -> None:
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        node_ptr, edge_ptr = slices["x"].long(), slices["edge_index"].long()
        G = node_ptr.numel() - 1
        counts = node_ptr[1:] - node_ptr[:-1]
        ecounts = edge_ptr[1:] - edge_ptr[:-1]
        N = int(counts.max()) if max_nodes is None else int(max_nodes)
        if N < int(counts.max()):
            raise GraphclsError(f"max_nodes={N} but a graph has {int(counts.max())} nodes")
        x = store["x"].float()
        F = x.size(1)
        gidx = torch.repeat_interleave(torch.arange(G), counts)              # graph of each node
        local = torch.arange(x.size(0)) - node_ptr[gidx]
        self.x = torch.zeros(G, N, F)
        self.x[gidx, local] = x
        self.mask = torch.zeros(G, N, dtype=torch.bool)
        self.mask[gidx, local] = True
        self.num_nodes = counts
        y = store["y"]
        self.y = y.view(-1).long() if y.numel() == G else y.view(G, -1)
        # gcn_norm once over all graphs (block-diagonal): edge_index in the storage is local per graph
        egraph = torch.repeat_interleave(torch.arange(G), ecounts)
        ei = store["edge_index"].long() + node_ptr[egraph].view(1, -1)
        ew = None
        if ewc is not None:
            ea = store.get("edge_attr")
            if ea is None:
                raise GraphclsError("edge_weight_column needs graphs with edge_attr")
            ew = ea.view(ea.size(0), -1)[:, ewc].float()
        ei, w = gcn_norm(ei, ew, x.size(0), improved=False, add_self_loops=True, flow="source_to_target")
        g = gidx[ei[1]]
        order = torch.argsort(g, stable=True)
        ei, w, g = ei[:, order], w[order], g[order]
        per = torch.bincount(g, minlength=G)
        E = int(per.max()) if G else 0
        eptr = torch.zeros(G + 1, dtype=torch.long)
        eptr[1:] = per.cumsum(0)
        slot = torch.arange(ei.size(1)) - eptr[g]
        # padded COO per graph (target row, source column, weight); padding has weight 0
        self.rows = torch.zeros(G, E, dtype=torch.long)
        self.cols = torch.zeros(G, E, dtype=torch.long)
        self.weights = torch.zeros(G, E)
        self.rows[g, slot] = ei[1] - node_ptr[g]
        self.cols[g, slot] = ei[0] - node_ptr[g]
        self.weights[g, slot] = w
        # \hat A X for every graph: the first layer's propagation of fixed inputs, done once
        self.ax = torch.empty_like(self.x)
        for s in range(0, G, 1024):  # chunks: a dense [G, N, N] for all graphs could be GBs
            idx = torch.arange(s, min(s + 1024, G))
            self.ax[idx] = torch.bmm(self.dense_adj(idx), self.x[idx])

    def __len__(self) -> int:
        return self.x.size(0)

    @property
    def num_features(self) -> int:
        return self.x.size(2)

    @property
    def max_nodes(self) -> int:
        return self.x.size(1)

    def dense_adj(self, idx: Tensor) -> Tensor:
        """Normalised adjacency ``[B, N, N]`` (``adj[b, i, j]``: weight of edge ``j -> i``) of graphs ``idx``."""
        B, N = idx.numel(), self.max_nodes
        rows, cols, w = self.rows[idx], self.cols[idx], self.weights[idx]
        flat = torch.zeros(B, N * N, dtype=w.dtype)
        flat.scatter_add_(1, rows * N + cols, w)
        return flat.view(B, N, N)

    def batch(self, idx: Tensor) -> DenseGraphBatch:
        idx = torch.as_tensor(idx, dtype=torch.long).view(-1)
        return DenseGraphBatch(self.x[idx], self.ax[idx], self.dense_adj(idx), self.mask[idx], self.y[idx])

    def loader(self, batch_size: int = 64, shuffle: bool = False, generator: Optional[torch.Generator] = None,
               batch_sampler=None, drop_last: bool = False) -> "PackedLoader":
        return PackedLoader(self, batch_size, shuffle, generator, batch_sampler, drop_last)

    def __getitem__(self, idx) -> "PackedGraphs":
        """A subset (tensor/list/slice of graph indices) sharing nothing mutable with this one."""
        idx = torch.arange(len(self))[idx] if isinstance(idx, slice) else torch.as_tensor(idx).long().view(-1)
        out = PackedGraphs.__new__(PackedGraphs)
        for key in ("x", "ax", "mask", "num_nodes", "y", "rows", "cols", "weights"):
            setattr(out, key, getattr(self, key)[idx])
        return out

    def __repr__(self) -> str:
        return f"PackedGraphs({len(self)}, nodes<={self.max_nodes}, features={self.num_features})"


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
