"""Graphs to and from networkx, and converted data sets written as standard files.

:func:`to_networkx_graph` gives every node, edge and graph attribute as a plain
``str``, ``int``, ``float`` or ``bool``, the only values networkx's GraphML and
GEXF writers accept (node-link JSON takes them too; GEXF files keep node and
edge attributes but drop graph attributes such as ``y``):

- node ``i``: ``x_0 .. x_{F-1}`` (the columns of ``x``; with ``feature_names``
  the columns are named, e.g. ``mean_0``, ``centroid_x``), ``pos_x``, ``pos_y``;
- edge ``(u, v)``: ``eid`` (its column in ``edge_index``), ``edge_attr_0 ..``,
  ``edge_weight``;
- graph: ``y`` (an int for a class id; otherwise JSON text), every other
  per-graph tensor (``seg``, ``img``, ``image_size``) as JSON text of its
  values, and ``dtypes`` / ``shapes`` / ``columns`` as JSON text, so
  :func:`from_networkx_graph` restores the same tensors bit for bit.

:func:`networkx_layout` turns ``pos_x``/``pos_y`` into the position dict that
``networkx.draw`` takes. :func:`export_graphs` writes a whole converted split
(see its docstring for the file layout of each format).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import torch

from ..errors import GraphclsError
from ..io import atomic_write

__all__ = ["to_networkx_graph", "from_networkx_graph", "networkx_layout", "export_graphs", "EXPORT_FORMATS"]

_NODE_KEYS = ("x", "pos")
_EDGE_KEYS = ("edge_attr", "edge_weight")
_SKIP = ("edge_index", "num_nodes", "batch", "ptr")
_META = ("dtypes", "shapes", "columns", "num_nodes")
EXPORT_FORMATS = ("graphml", "json", "npz")


def _pick(data: Any, index: int):
    from torch_geometric.data import Batch

    if isinstance(data, Batch):
        n = int(data.num_graphs)
        if not -n <= index < n:
            raise GraphclsError(f"index {index} out of range for a batch of {n} graphs")
        return data.get_example(index % n)
    if hasattr(data, "edge_index") or hasattr(data, "pos") or hasattr(data, "x"):
        return data
    raise GraphclsError(f"to_networkx_graph: expected a torch_geometric Data or Batch, got {type(data).__name__}")


def _column_names(key: str, width: int, names: Optional[Sequence[str]]) -> list[str]:
    if key == "pos":
        return ["pos_x", "pos_y"] + [f"pos_{j}" for j in range(2, width)]
    if key == "x" and names is not None:
        if len(names) != width:
            raise GraphclsError(f"feature_names has {len(names)} names but x has {width} columns")
        if len(set(names)) != len(names) or any(n in ("pos_x", "pos_y") for n in names):
            raise GraphclsError("feature_names must be unique and differ from pos_x/pos_y")
        return [str(n) for n in names]
    return [f"{key}_{j}" for j in range(width)]


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, (np.generic,)) else v


def to_networkx_graph(data: Any, index: int = 0, feature_names: Optional[Sequence[str]] = None):
    """A ``networkx.DiGraph`` of ``data`` (graph ``index`` of a Batch) with writer-safe attributes.

    Args:
        data (Data or Batch): the graph.
        index (int): which graph of a Batch. (default: 0)
        feature_names (list of str, optional): names for the columns of ``x``
            (e.g. from :func:`pyg_graphcls.graphs.features.feature_names`);
            default ``x_0, x_1, ...``.

    Duplicate edges are merged (a DiGraph holds one per ordered pair).
    """
    import networkx as nx

    g = _pick(data, index)
    n = g.num_nodes
    if n is None:
        raise GraphclsError("to_networkx_graph: graph has no nodes ('num_nodes', 'x' or 'pos' missing)")
    n = int(n)
    ei = getattr(g, "edge_index", None)
    ei = ei.detach().cpu().long() if ei is not None else torch.zeros((2, 0), dtype=torch.long)
    E = int(ei.shape[1])
    G = nx.DiGraph()
    dtypes: dict[str, str] = {}
    shapes: dict[str, list[int]] = {}
    columns: dict[str, list[str]] = {}

    def table(key: str, lead: int) -> Optional[tuple[list[str], list[list[Any]]]]:
        v = getattr(g, key, None)
        if not (isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == lead):
            return None
        dtypes[key] = str(v.dtype).replace("torch.", "")
        shapes[key] = list(v.shape[1:])
        flat = v.detach().cpu().reshape(lead, -1)
        if flat.dtype in (torch.float16, torch.bfloat16):
            flat = flat.float()
        if v.dim() == 1:
            names = [key]
        else:
            names = _column_names(key, flat.shape[1], feature_names if key == "x" else None)
        columns[key] = names
        return names, flat.tolist()

    node_tables = [t for t in (table(k, n) for k in _NODE_KEYS) if t is not None]
    for i in range(n):
        G.add_node(i, **{name: row[i][j] for names, row in node_tables for j, name in enumerate(names)})
    edge_tables = [t for t in (table(k, E) for k in _EDGE_KEYS) if t is not None]
    src, dst = ei[0].tolist(), ei[1].tolist()
    for j in range(E):
        attrs = {name: row[j][c] for names, row in edge_tables for c, name in enumerate(names)}
        G.add_edge(src[j], dst[j], eid=j, **attrs)
    for key in g.keys():
        if key in _NODE_KEYS or key in _EDGE_KEYS or key in _SKIP:
            continue
        v = g[key]
        if isinstance(v, torch.Tensor):
            dtypes[key] = str(v.dtype).replace("torch.", "")
            shapes[key] = list(v.shape)
            if key == "y" and v.numel() == 1 and not v.is_floating_point():
                G.graph[key] = int(v.item())
            else:
                G.graph[key] = json.dumps(v.detach().cpu().float().tolist() if v.dtype in (torch.float16, torch.bfloat16)
                                          else v.detach().cpu().tolist())
        elif isinstance(v, (str, int, float, bool)):
            G.graph[key] = _scalar(v)
        else:
            G.graph[key] = json.dumps(v)
    G.graph["num_nodes"] = n
    G.graph["dtypes"] = json.dumps(dtypes)
    G.graph["shapes"] = json.dumps(shapes)
    G.graph["columns"] = json.dumps(columns)
    return G


def _meta(G: Any, key: str) -> dict:
    v = G.graph.get(key, {})
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            raise GraphclsError(f"from_networkx_graph: graph attribute '{key}' is not JSON") from None
    return dict(v)


def from_networkx_graph(G: Any):
    """A ``Data`` from a networkx graph (inverse of :func:`to_networkx_graph`).

    Nodes are relabelled 0..N-1 in iteration order (GraphML readers give string
    node ids; their order is kept). Node columns listed in the graph's
    ``columns`` attribute (or, for a graph from elsewhere, node attributes ``x``
    and ``pos`` holding lists) become ``x`` and ``pos``; edges come back in
    their original ``edge_index`` order when they carry ``eid``. Undirected
    graphs give both directions of each edge.
    """
    import networkx as nx
    from torch_geometric.data import Data

    if not isinstance(G, nx.Graph):
        raise GraphclsError(f"from_networkx_graph: expected a networkx graph, got {type(G).__name__}")
    dtypes, shapes, columns = _meta(G, "dtypes"), _meta(G, "shapes"), _meta(G, "columns")
    nodes = list(G.nodes)
    idx = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)

    def tensor(vals: list, key: str, lead: int) -> torch.Tensor:
        dt = getattr(torch, dtypes[key]) if key in dtypes else None
        t = torch.tensor(vals, dtype=dt) if vals else torch.zeros((0,), dtype=dt or torch.float32)
        if key in shapes:
            t = t.reshape([lead] + list(shapes[key]))
        elif dt is None and t.is_floating_point():
            t = t.float()
        return t

    def gather(key: str, attr_rows: list[dict], lead: int) -> Optional[torch.Tensor]:
        names = columns.get(key) or _columns_by_pattern(key, attr_rows)
        if names is None:  # a graph made elsewhere: one attribute holding the whole row
            names = [key]
        have = [all(c in a for c in names) for a in attr_rows]
        if not lead or not any(have):
            return None
        if not all(have):
            raise GraphclsError(f"from_networkx_graph: only some {'nodes' if key in _NODE_KEYS else 'edges'} have '{key}'")
        rows = []
        for a in attr_rows:
            row = [a[c] for c in names]
            if len(row) == 1 and names == [key]:
                row = row[0]
                row = list(row) if isinstance(row, (list, tuple)) else row
            rows.append(row)
        return tensor(rows, key, lead)

    data = Data()
    node_attrs = [G.nodes[v] for v in nodes]
    for key in _NODE_KEYS:
        t = gather(key, node_attrs, n)
        if t is not None:
            data[key] = t
    edges = []
    directed = G.is_directed()
    for u, v, attrs in G.edges(data=True):
        edges.append((idx[u], idx[v], attrs))
        if not directed and u != v:
            edges.append((idx[v], idx[u], attrs))
    if edges and directed and all("eid" in a for _, _, a in edges):
        edges.sort(key=lambda t: int(t[2]["eid"]))
    data.edge_index = (torch.tensor([[a for a, _, _ in edges], [b for _, b, _ in edges]], dtype=torch.long)
                       if edges else torch.zeros((2, 0), dtype=torch.long))
    edge_attrs = [a for _, _, a in edges]
    for key in _EDGE_KEYS:
        t = gather(key, edge_attrs, len(edges))
        if t is None and key == "edge_weight" and "edge_weight" not in columns:
            t = gather("weight", edge_attrs, len(edges))
        if t is not None:
            data[key] = t
    for key, v in G.graph.items():
        if key in _META:
            continue
        if key in dtypes:
            vals = json.loads(v) if isinstance(v, str) else v
            data[key] = torch.tensor(vals, dtype=getattr(torch, dtypes[key])).reshape(shapes.get(key, []))
        else:
            data[key] = v
    if "x" not in data and "pos" not in data:
        data.num_nodes = n
    return data


def _columns_by_pattern(key: str, attr_rows: list[dict]) -> Optional[list[str]]:
    """Column names of ``key`` read off the attributes (for files that drop graph attributes, e.g. GEXF)."""
    if not attr_rows:
        return None
    first = attr_rows[0]
    if key == "pos":
        return ["pos_x", "pos_y"] if "pos_x" in first and "pos_y" in first else None
    found = sorted((int(a[len(key) + 1:]), a) for a in first if a.startswith(key + "_") and a[len(key) + 1:].isdigit())
    return [a for _, a in found] if found and [i for i, _ in found] == list(range(len(found))) else None


def networkx_layout(G: Any) -> dict:
    """``{node: (pos_x, pos_y)}`` for ``networkx.draw``; image rows grow downward, so flip y to draw upright."""
    try:
        return {v: (float(a["pos_x"]), float(a["pos_y"])) for v, a in G.nodes(data=True)}
    except KeyError:
        raise GraphclsError("networkx_layout: the graph's nodes have no pos_x/pos_y") from None


def export_graphs(graphs: Iterable[Any], out: str | os.PathLike, fmt: str,
                  feature_names: Optional[Sequence[str]] = None) -> list[Path]:
    """Write graphs in a standard format; returns the files written.

    Layout by format (``out`` is a folder for the networkx formats, a file
    stem for npz):

    - ``graphml``: one file per graph, ``out/000000.graphml`` ...,
      the attributes of :func:`to_networkx_graph` (read back with
      ``networkx.read_graphml`` + :func:`from_networkx_graph`).
    - ``json``: one file ``out/graphs.json`` holding a list of networkx
      node-link dicts (``networkx.node_link_graph`` reads each).
    - ``npz``: one file ``out.npz`` in PyG's collated layout: ``x``, ``pos``,
      ``edge_index`` (node ids local to each graph), ``edge_attr``, ``y``
      concatenated, and ``node_ptr`` / ``edge_ptr`` (``[G + 1]`` offsets) to
      slice graph ``i``; ``feature_names`` when given.

    Every file is written atomically.
    """
    if fmt not in EXPORT_FORMATS:
        raise GraphclsError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    out = Path(out)
    if fmt == "npz":
        return [_export_npz(graphs, out.with_suffix(".npz"), feature_names)]
    import networkx as nx

    if out.exists() and not out.is_dir():
        raise GraphclsError(f"export folder {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        items = [nx.node_link_data(to_networkx_graph(g, feature_names=feature_names), edges="edges") for g in graphs]
        path = out / "graphs.json"
        atomic_write(path, lambda f: json.dump(items, f), mode="w")
        return [path]
    files = []
    for i, g in enumerate(graphs):
        G = to_networkx_graph(g, feature_names=feature_names)
        path = out / f"{i:06d}.{fmt}"
        atomic_write(path, lambda f, G=G: nx.write_graphml(G, f))
        files.append(path)
    return files


def _export_npz(graphs: Iterable[Any], path: Path, feature_names: Optional[Sequence[str]]) -> Path:
    parts: dict[str, list[np.ndarray]] = {"x": [], "pos": [], "edge_index": [], "edge_attr": [], "y": []}
    node_ptr, edge_ptr = [0], [0]
    for g in graphs:
        n = int(g.num_nodes)
        for key in ("x", "pos", "edge_attr", "y"):
            v = getattr(g, key, None)
            if v is not None:
                parts[key].append(v.detach().cpu().numpy())
        ei = g.edge_index.detach().cpu().numpy() if getattr(g, "edge_index", None) is not None else np.zeros((2, 0), np.int64)
        parts["edge_index"].append(ei)
        node_ptr.append(node_ptr[-1] + n)
        edge_ptr.append(edge_ptr[-1] + ei.shape[1])
    count = len(node_ptr) - 1
    arrays: dict[str, np.ndarray] = {"node_ptr": np.asarray(node_ptr, np.int64), "edge_ptr": np.asarray(edge_ptr, np.int64)}
    for key, vals in parts.items():
        if not vals:
            continue
        if len(vals) != count:
            raise GraphclsError(f"export npz: only some graphs have '{key}'")
        arrays[key] = np.concatenate(vals, axis=1 if key == "edge_index" else 0)
    if feature_names is not None:
        arrays["feature_names"] = np.asarray(list(feature_names), dtype=str)
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    return path
