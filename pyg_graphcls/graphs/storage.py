"""Collated graph storage: the ``(data, slices)`` layout of :class:`~torch_geometric.data.InMemoryDataset`.

The batched builders return a whole batch in this layout (nothing per image);
these helpers collate the fields of single graphs into it, merge such blocks
and split them back into ``Data`` objects. Only the last needs PyG: a
conversion collates, merges and stores without importing it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import GraphclsError

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["cat_dim", "collate_fields", "merge_storage", "storage_to_list", "narrow_indices", "widen_indices"]

#: index fields a file may store narrower than int64 (local node indices, ``InMemoryDataset`` layout)
INDEX_KEYS = ("edge_index",)


def narrow_indices(data: dict) -> dict:
    """``data`` with its local index fields (``edge_index``) in the narrowest of uint8/int16/int32 that
    holds them, for files: a kNN-8 graph of 75 nodes stores 600 edges, 9.6 kB as int64, 1.2 kB as uint8
    (graphs of at most 256 nodes; a sixth of a default 28x28 cache's bytes against int16).
    Tensors or numpy arrays; other fields unchanged. :func:`widen_indices` undoes it exactly."""
    import numpy as np

    out = dict(data)
    for key in INDEX_KEYS:
        v = out.get(key)
        if v is None:
            continue
        is_np = isinstance(v, np.ndarray)
        if v.dtype != (np.int64 if is_np else torch.int64) or (v.size if is_np else v.numel()) == 0:
            continue
        lo, hi = int(v.min()), int(v.max())
        for small_t, small_np in ((torch.uint8, np.uint8), (torch.int16, np.int16), (torch.int32, np.int32)):
            info = np.iinfo(small_np)
            if info.min <= lo and hi <= info.max:
                out[key] = v.astype(small_np) if is_np else v.to(small_t)
                break
    return out


def widen_indices(data: dict) -> dict:
    """``data`` with its index fields back in int64 (what PyG expects of ``edge_index``)."""
    out = dict(data)
    for key in INDEX_KEYS:
        v = out.get(key)
        if isinstance(v, torch.Tensor) and v.dtype != torch.int64:
            out[key] = v.long()
        elif v is not None and not isinstance(v, torch.Tensor) and v.dtype.kind in "iu" and v.dtype.itemsize < 8:
            out[key] = v.astype("int64")
    return out


def cat_dim(key: str) -> int:
    """The dimension along which the values of field ``key`` of many graphs are concatenated:
    ``-1`` for index fields (a name containing ``index``, or ``face``), else ``0``; the rule of
    PyG's ``Data.__cat_dim__`` for dense tensors."""
    return -1 if "index" in key or key == "face" else 0


def collate_fields(graphs: list[dict]) -> tuple[dict, dict]:
    """Collate graphs given as dicts of tensor fields (one dict per graph, the same keys in the same
    order) into ``(data, slices)``, local indices kept: what PyG's ``collate(Data, data_list,
    increment=False, add_batch=False)`` gives for the ``Data`` objects holding these fields, key
    order, values and slice dtypes included."""
    keys = list(graphs[0])
    for g in graphs[1:]:
        if list(g) != keys:
            raise GraphclsError(f"graphs do not all have the same fields: {keys} vs {list(g)}")
    data, slices = {}, {}
    for key in keys:
        values = [g[key] for g in graphs]
        if values[0].dim() == 0:
            values = [v.unsqueeze(0) for v in values]
        dim = cat_dim(key)
        sizes = torch.tensor([v.size(dim) for v in values])
        slices[key] = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])
        data[key] = torch.cat(values, dim=dim)
    return data, slices


def merge_storage(blocks: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """Concatenate collated blocks (``InMemoryDataset`` layout, local indices, no index increments).

    Blocks hold tensors or numpy arrays (what worker processes return); the result holds tensors
    (numpy arrays are wrapped, not copied, before the one concatenation)."""
    blocks = [({k: torch.as_tensor(v) for k, v in d.items()}, {k: torch.as_tensor(v) for k, v in s.items()})
              for d, s in blocks]
    keys = list(blocks[0][0])
    for arrays, _ in blocks[1:]:
        if list(arrays) != keys:
            raise GraphclsError(f"graphs do not all have the same fields: {keys} vs {list(arrays)}")
    if len(blocks) == 1:
        return blocks[0]
    data, slices = {}, {}
    for key in keys:
        first = blocks[0][0][key]
        dim = cat_dim(key) % first.dim()
        try:
            data[key] = torch.cat([b[0][key] for b in blocks], dim=dim)
        except RuntimeError:
            raise GraphclsError(f"cannot store field {key!r}: its shape differs between graphs "
                                f"(e.g. 'seg' of images of different sizes)") from None
        parts, off = [torch.zeros(1, dtype=torch.long)], 0
        for b in blocks:
            parts.append(b[1][key][1:].long() + off)
            off += int(b[1][key][-1])
        slices[key] = torch.cat(parts)
    return data, slices


def storage_to_list(data: dict, slices: dict) -> list[Data]:
    """Split ``InMemoryDataset`` storage into one ``Data`` per graph."""
    from torch_geometric.data import Data

    n = slices["x"].numel() - 1
    out = []
    for i in range(n):
        d = Data()
        for key, v in data.items():
            s = slices[key]
            dim = cat_dim(key) % v.dim()
            d[key] = v.narrow(dim, int(s[i]), int(s[i + 1] - s[i]))
        out.append(d)
    return out
