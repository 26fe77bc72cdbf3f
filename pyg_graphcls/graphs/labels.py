r"""Label co-occurrence graphs (ML-GCN style) as PyG :class:`~torch_geometric.data.Data`.

Each of the :math:`C` labels is a node. From training annotations we count how
often every label occurs (:math:`n_i`) and how often two labels occur in the
same sample (:math:`n_{ij}`), and form the conditional probability

.. math::
    P_{ij} = P(L_j \mid L_i) = \frac{n_{ij}}{n_i},

which is not symmetric. Thresholding it at :math:`\tau` gives a binary directed
graph :math:`A_{ij} = [P_{ij} \ge \tau]` for :math:`i \ne j` (the diagonal is
excluded). The ML-GCN paper (Chen et al., CVPR 2019, eq. 7) re-weights it so
that a node keeps a fixed share :math:`1 - p` of its own feature:

.. math::
    A'_{ij} = \begin{cases} p \,/\, \sum_{k \ne i} A_{ik} & i \ne j,\ A_{ij} = 1 \\
    1 - p & i = j \\ 0 & \text{otherwise,} \end{cases}

and propagates with the symmetric normalisation
:math:`\hat{A} = D^{-1/2} A' D^{-1/2}`, :math:`D_{ii} = \sum_j A'_{ij}`.

Edge direction convention (the same one PyG's ``GCNConv(normalize=False)``
uses): a non-zero :math:`\hat{A}_{ij}` becomes the edge ``(j, i)``, i.e.
``edge_index[0] = j`` (source) and ``edge_index[1] = i`` (target), so that
message passing computes :math:`x'_i = \sum_j \hat{A}_{ij} x_j = (\hat{A} X)_i`.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from ..errors import GraphclsError
from ..io import atomic_write, read_json, write_json

__all__ = [
    "cooccurrence_graph",
    "label_mask",
    "mlgcn_code_adjacency",
    "save_label_graph",
    "load_label_graph",
]

_FORMAT = "pyg_graphcls.label_graph"
_VERSION = 1


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        return value.numpy()
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise GraphclsError(f"{name} cannot be read as an array: {e}") from None
    if arr.dtype == object:
        raise GraphclsError(f"{name} must be a numeric array, got a ragged/object array")
    return arr


def _check_numeric(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise GraphclsError(f"{name} must be numeric or bool, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise GraphclsError(f"{name} contains NaN or Inf values")
    if (arr < 0).any():
        raise GraphclsError(f"{name} must be non-negative (min {arr.min():g})")
    return arr


def cooccurrence_graph(
    labels: Any = None,
    *,
    counts: Any = None,
    co_counts: Any = None,
    threshold: float = 0.4,
    reweight: Optional[float] = 0.2,
    normalize: bool = True,
    names: Optional[Sequence[str]] = None,
) -> Data:
    r"""Build the label co-occurrence graph of ML-GCN from annotations.

    Give either ``labels`` (a multi-hot matrix) or ``counts`` together with
    ``co_counts`` (the form ML-GCN distributes for COCO and VOC: per-label
    counts plus a pairwise count matrix).

    Args:
        labels (np.ndarray or torch.Tensor, optional): multi-hot targets of
            shape :obj:`[N, C]` with entries in :math:`\{0, 1\}` (bool, int
            or float).
        counts (array, optional): per-label occurrence counts :math:`n_i`,
            shape :obj:`[C]`.
        co_counts (array, optional): pairwise co-occurrence counts
            :math:`n_{ij}`, shape :obj:`[C, C]`. Its diagonal is ignored
            (ML-GCN's files store zeros there); off-diagonal entries must not
            exceed :math:`n_i` (else :math:`P_{ij} > 1`).
        threshold (float): :math:`\tau`; an edge :math:`i \to j` is kept when
            :math:`P(L_j \mid L_i) \ge \tau`. (default: :obj:`0.4`, as in both
            ML-GCN demos)
        reweight (float, optional): :math:`p` of the paper's re-weighting, in
            :math:`[0, 1]`. :obj:`None` skips re-weighting and uses
            :math:`A + I` instead. (default: :obj:`0.2`)
        normalize (bool): apply :math:`D^{-1/2} A' D^{-1/2}` with
            :math:`D_{ii} = \sum_j A'_{ij}` (row sums). After the paper's
            re-weighting every row already sums to one, so this step then
            leaves the matrix unchanged; it matters with ``reweight=None``.
            (default: :obj:`True`)
        names (list of str, optional): label names, stored as ``data.names``.

    Returns:
        :class:`~torch_geometric.data.Data` with ``num_nodes = C`` and

        * ``edge_index`` :obj:`[2, E]`, ``edge_weight`` :obj:`[E]`: the
          non-zeros of ``adj_norm`` (self-loops included), edge ``(j, i)``
          for entry :math:`(i, j)`;
        * ``cond_prob`` :obj:`[C, C]` float: :math:`P(L_j \mid L_i)`; the
          diagonal is 1 for labels that occur;
        * ``adj`` :obj:`[C, C]` bool: the thresholded graph, no diagonal;
        * ``adj_reweighted`` :obj:`[C, C]` float: :math:`A'` (or :math:`A + I`);
        * ``adj_norm`` :obj:`[C, C]` float: :math:`\hat{A}`, the matrix to
          propagate with;
        * ``counts`` :obj:`[C]`, ``co_counts`` :obj:`[C, C]` (float64,
          diagonal set to ``counts``), ``num_samples`` (``N``), ``threshold``,
          ``reweight``, ``normalize``. PyG's :class:`Data` drops attributes
          set to :obj:`None`: ``num_samples`` is absent when built from
          counts, ``reweight`` when it is :obj:`None`; read them with
          ``getattr(data, "reweight", None)``.

    Labels that never occur (:math:`n_i = 0`): there is no division by zero.
    Their row of :math:`P` is all zero (diagonal included), they have no
    outgoing edges, and they cannot receive edges either (:math:`n_{ji} = 0`).
    Any node without outgoing edges (never-occurring or simply isolated) gets
    :math:`A'_{ii} = 1` instead of :math:`1 - p`, so that its row still sums
    to one: it keeps its own feature unchanged, i.e. only a self-loop.

    .. note::
        ML-GCN's released code (``gen_A``/``gen_adj`` in its ``util.py``)
        differs from the paper: after thresholding it computes
        :math:`A \cdot 0.25 / (\mathbf{1}^\top A + 10^{-6}) + I` (dividing by
        **column** sums, the author says this amounts to :math:`p = 0.2`
        after normalisation) and then propagates with
        :math:`D^{-1/2} A^\top D^{-1/2}`, :math:`D` from row sums. Its
        ``np.identity(num_classes, np.int)`` also fails on NumPy >= 1.24
        (``np.int`` was removed). :func:`mlgcn_code_adjacency` reproduces
        that matrix for comparison; this function follows the paper.
    """
    try:
        threshold = float(threshold)
        reweight = None if reweight is None else float(reweight)
    except (TypeError, ValueError):
        raise GraphclsError(f"threshold and reweight must be numbers, got {threshold!r}, {reweight!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise GraphclsError(f"threshold must be in [0, 1], got {threshold!r}")
    if reweight is not None and not 0.0 <= reweight <= 1.0:
        raise GraphclsError(f"reweight (p) must be in [0, 1] or None, got {reweight!r}")

    num_samples: Optional[int] = None
    if labels is not None:
        if counts is not None or co_counts is not None:
            raise GraphclsError("give either labels [N, C] or counts [C] + co_counts [C, C], not both")
        y = _to_numpy(labels, "labels")
        if y.ndim != 2:
            raise GraphclsError(
                f"labels must be a multi-hot matrix of shape [N, C], got shape {tuple(y.shape)}")
        y = _check_numeric(y, "labels")
        if not np.isin(y, (0.0, 1.0)).all():
            raise GraphclsError("labels must be multi-hot: every entry 0 or 1")
        num_samples = int(y.shape[0])
        n = y.sum(axis=0)
        co = y.T @ y
    else:
        if counts is None or co_counts is None:
            raise GraphclsError(
                "give labels [N, C], or both counts [C] and co_counts [C, C]")
        n = _check_numeric(_to_numpy(counts, "counts"), "counts")
        co = _check_numeric(_to_numpy(co_counts, "co_counts"), "co_counts")
        if n.ndim != 1:
            raise GraphclsError(f"counts must have shape [C], got {tuple(n.shape)}")
        c = n.shape[0]
        if co.shape != (c, c):
            raise GraphclsError(
                f"co_counts must have shape [C, C] = [{c}, {c}] to match counts, got {tuple(co.shape)}")
        co = co.copy()
        np.fill_diagonal(co, 0.0)
        excess = co - n[:, None]
        if (excess > 1e-9 * np.maximum(n[:, None], 1.0)).any():
            i, j = np.argwhere(excess > 1e-9 * np.maximum(n[:, None], 1.0))[0]
            raise GraphclsError(
                f"co_counts[{i}, {j}] = {co[i, j]:g} exceeds counts[{i}] = {n[i]:g}: "
                f"a pair cannot co-occur more often than one of its labels")
        np.fill_diagonal(co, n)

    c = int(n.shape[0])
    if c == 0:
        raise GraphclsError("labels have no classes (C = 0)")
    if names is not None:
        names = [str(s) for s in names]
        if len(names) != c:
            raise GraphclsError(f"names has {len(names)} entries, expected C = {c}")

    occurs = n > 0
    safe_n = np.where(occurs, n, 1.0)
    cond = np.where(occurs[:, None], co / safe_n[:, None], 0.0)
    cond = np.clip(cond, 0.0, 1.0)

    eye = np.eye(c, dtype=bool)
    adj = (cond >= float(threshold)) & ~eye & occurs[:, None]
    adj_f = adj.astype(np.float64)

    if reweight is not None:
        p = float(reweight)
        deg = adj_f.sum(axis=1)
        has = deg > 0
        a_rw = np.where(has[:, None], p * adj_f / np.where(has, deg, 1.0)[:, None], 0.0)
        a_rw[eye] = np.where(has, 1.0 - p, 1.0)
    else:
        a_rw = adj_f + np.eye(c)

    if normalize:
        d = a_rw.sum(axis=1)  # every row sums to 1 (re-weighted) or >= 1 (A + I)
        inv = np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)
        a_norm = inv[:, None] * a_rw * inv[None, :]
    else:
        a_norm = a_rw.copy()

    rows, cols = np.nonzero(a_norm)
    edge_index = torch.from_numpy(np.stack([cols, rows]).astype(np.int64))
    edge_weight = torch.from_numpy(a_norm[rows, cols].astype(np.float32))

    data = Data(
        edge_index=edge_index,
        edge_weight=edge_weight,
        num_nodes=c,
    )
    data.cond_prob = torch.from_numpy(cond.astype(np.float32))
    data.adj = torch.from_numpy(adj)
    data.adj_reweighted = torch.from_numpy(a_rw.astype(np.float32))
    data.adj_norm = torch.from_numpy(a_norm.astype(np.float32))
    data.counts = torch.from_numpy(n.astype(np.float64))
    data.co_counts = torch.from_numpy(co.astype(np.float64))
    data.num_samples = num_samples
    data.threshold = float(threshold)
    data.reweight = None if reweight is None else float(reweight)
    data.normalize = bool(normalize)
    if names is not None:
        data.names = names
    return data


def mlgcn_code_adjacency(counts: Any, co_counts: Any, threshold: float = 0.4) -> torch.Tensor:
    r"""The propagation matrix ML-GCN's *released code* uses (not the paper's).

    Computes :math:`B = A \cdot 0.25 / (\mathbf{1}^\top A + 10^{-6}) + I`
    (column-sum scaling) from the thresholded :math:`A`, then returns
    :math:`D^{-1/2} B^\top D^{-1/2}` with :math:`D_{ii} = \sum_j B_{ij}`.
    Written from the description, with ``np.eye`` in place of the removed
    ``np.int``. Provided only to compare against :func:`cooccurrence_graph`.

    Returns:
        :obj:`[C, C]` float32 tensor.
    """
    g = cooccurrence_graph(counts=counts, co_counts=co_counts, threshold=threshold,
                           reweight=None, normalize=False)
    a = g.adj.numpy().astype(np.float64)
    b = a * 0.25 / (a.sum(axis=0, keepdims=True) + 1e-6) + np.eye(a.shape[0])
    d = b.sum(axis=1) ** -0.5
    out = (d[:, None] * b.T) * d[None, :]
    return torch.from_numpy(out.astype(np.float32))


def label_mask(graph: Any, self_loops: bool = True, threshold: Optional[float] = None) -> torch.Tensor:
    r"""A boolean attention mask :obj:`[C, C]` from a label graph.

    ``mask[i, j]`` is :obj:`True` when label :math:`i` may attend to (receive
    from) label :math:`j`, matching :class:`~pyg_graphcls.nn.masked_attention.MaskedGraphAttention`.

    Args:
        graph: a :class:`Data` from :func:`cooccurrence_graph` (its ``adj``
            is used, or ``cond_prob >= threshold`` when ``threshold`` is
            given), or any :obj:`[C, C]` array/tensor/nested list (non-zero
            entries are edges).
        self_loops (bool): set the diagonal to :obj:`True` (each label
            attends to itself); :obj:`False` clears it. (default: :obj:`True`)
        threshold (float, optional): re-threshold ``graph.cond_prob`` (e.g.
            ``0.1`` as in the masked-attention write-up).
    """
    if isinstance(graph, Data):
        if threshold is not None:
            if getattr(graph, "cond_prob", None) is None:
                raise GraphclsError("graph has no cond_prob: cannot re-threshold it")
            m = graph.cond_prob >= float(threshold)
        elif getattr(graph, "adj", None) is not None:
            m = graph.adj.bool()
        else:
            n = int(graph.num_nodes)
            m = torch.zeros(n, n, dtype=torch.bool)
            m[graph.edge_index[1], graph.edge_index[0]] = True
        m = m.clone()
    else:
        if threshold is not None:
            raise GraphclsError("threshold is only supported when graph is a label-graph Data")
        arr = _to_numpy(graph, "graph")
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise GraphclsError(f"graph must be a square [C, C] matrix, got shape {tuple(arr.shape)}")
        if arr.dtype.kind not in "biuf":
            raise GraphclsError(f"graph must be numeric or bool, got dtype {arr.dtype}")
        m = torch.from_numpy(np.asarray(arr != 0))
    diag = torch.arange(m.shape[0])
    m[diag, diag] = bool(self_loops)
    return m


# --------------------------------------------------------------------- files

def _meta(data: Data) -> dict:
    names = getattr(data, "names", None)
    reweight = getattr(data, "reweight", None)
    num_samples = getattr(data, "num_samples", None)
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "threshold": float(data.threshold),
        "reweight": None if reweight is None else float(reweight),
        "normalize": bool(data.normalize),
        "num_samples": None if num_samples is None else int(num_samples),
        "names": None if names is None else list(names),
    }


def save_label_graph(data: Data, path: str | os.PathLike) -> Path:
    """Write a graph from :func:`cooccurrence_graph` as ``.npz`` or ``.json``.

    The format follows the suffix. Both are plain data (no pickle): ``.npz``
    holds float/int/bool arrays and the settings as a JSON string;
    ``.json`` holds nested lists. Every matrix is written so other tools can
    read them, but :func:`load_label_graph` rebuilds the graph from
    ``counts``/``co_counts`` and the settings and checks it matches.
    """
    if not isinstance(data, Data) or getattr(data, "counts", None) is None \
            or getattr(data, "co_counts", None) is None or not hasattr(data, "threshold"):
        raise GraphclsError("data must be a label graph returned by cooccurrence_graph()")
    path = Path(path)
    arrays = {
        "counts": data.counts.numpy(),
        "co_counts": data.co_counts.numpy(),
        "cond_prob": data.cond_prob.numpy(),
        "adj": data.adj.numpy(),
        "adj_reweighted": data.adj_reweighted.numpy(),
        "adj_norm": data.adj_norm.numpy(),
        "edge_index": data.edge_index.numpy(),
        "edge_weight": data.edge_weight.numpy(),
    }
    meta = _meta(data)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays["meta"] = np.array(json.dumps(meta))  # unicode array: no pickle needed
        return atomic_write(path, lambda f: np.savez(f, **arrays))
    if suffix == ".json":
        obj = dict(meta)
        obj.update({k: v.tolist() for k, v in arrays.items()})
        return write_json(obj, path)
    raise GraphclsError(f"label graph path must end in .npz or .json, got {path.name!r}")


def load_label_graph(path: str | os.PathLike) -> Data:
    """Read a file written by :func:`save_label_graph` (``.npz`` or ``.json``).

    ``.npz`` files are opened with ``allow_pickle=False``. Raises
    :class:`GraphclsError` for missing/corrupt files, missing fields, or
    stored matrices that disagree with the counts.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise GraphclsError(f"label graph file not found: {path}")
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = {k: z[k] for k in z.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            raise GraphclsError(f"cannot read label graph {path}: {e}") from None
        if "meta" not in stored:
            raise GraphclsError(f"{path} is not a label graph (no 'meta' entry)")
        try:
            meta = json.loads(str(stored.pop("meta")))
        except json.JSONDecodeError as e:
            raise GraphclsError(f"{path}: bad 'meta' entry: {e}") from None
    elif suffix == ".json":
        obj = read_json(path)
        if not isinstance(obj, dict):
            raise GraphclsError(f"{path} is not a label graph (expected a JSON object)")
        meta = {k: obj.get(k) for k in ("format", "version", "threshold", "reweight",
                                         "normalize", "num_samples", "names")}
        stored = {k: obj[k] for k in ("counts", "co_counts", "cond_prob", "adj", "adj_reweighted",
                                      "adj_norm") if k in obj}
    else:
        raise GraphclsError(f"label graph path must end in .npz or .json, got {path.name!r}")

    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise GraphclsError(f"{path} is not a pyg_graphcls label graph (format {meta.get('format')!r})"
                            if isinstance(meta, dict) else f"{path}: bad metadata")
    for key in ("counts", "co_counts"):
        if key not in stored:
            raise GraphclsError(f"{path} lacks the {key!r} field")
    try:
        data = cooccurrence_graph(
            counts=stored["counts"], co_counts=stored["co_counts"],
            threshold=meta.get("threshold", 0.4), reweight=meta.get("reweight"),
            normalize=bool(meta.get("normalize", True)), names=meta.get("names"))
    except GraphclsError as e:
        raise GraphclsError(f"{path}: {e}") from None
    except (TypeError, ValueError) as e:
        raise GraphclsError(f"{path}: bad field: {e}") from None
    for key in ("cond_prob", "adj", "adj_reweighted", "adj_norm"):
        if key in stored:
            arr = np.asarray(stored[key], dtype=np.float64)
            ref = getattr(data, key).numpy().astype(np.float64)
            if arr.shape != ref.shape or not np.allclose(arr, ref, atol=1e-6):
                raise GraphclsError(f"{path}: stored {key!r} does not match its counts")
    if meta.get("num_samples") is not None:
        data.num_samples = int(meta["num_samples"])
    return data
