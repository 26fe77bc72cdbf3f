"""Controls for the superpixel rows of issue 6: how much of the image do 75 regions keep, and how
much of that does the graph model use?

    python -m references.superpixel_controls --paint exact,voronoi --train-sizes 10000,all \
        --seeds 0, --epochs 8 [--threads 1] [--json references/accuracy.json]

Each control trains the ``cnn`` recipe (the same CNN as the pixel rows) on a *painted* copy of
Fashion-MNIST, written once as IDX files under ``<cache root>/controls/<mode>-<n_train>``:

- ``exact``: every pixel gets the mean of its SLIC region (the recipes' segmentation: the
  batched path, 75 segments, compactness 0.1) — the picture the ``mean`` column describes
  when the exact region shapes are known;
- ``voronoi``: every pixel gets the mean of the region whose *centroid* is nearest — a picture
  made from the graph's ``mean`` and ``centroid`` columns alone (no region shapes).

- ``graph``: every pixel gets the ``mean`` of the region that
  :func:`~pyg_graphcls.nn.rasterize.rasterize_regions` gives it from the graph's own ``pos``,
  ``bbox`` and ``occupancy`` columns — the graphs the superpixel recipes train on (scikit-image
  SLIC, connected regions, ~69 per image), painted from what the graph stores.

Careful with ``exact``: the batched path does not enforce connected regions, so its ~81 labels
per 28x28 image are ~117 connected pieces (``--agreement`` prints both counts), more than any
75-node graph describes; ``graph`` is the fair ceiling for the graph models.
The CNN on ``exact`` bounds what a model of the 75 region means can reach with a CNN's inductive
bias; ``voronoi`` vs ``exact`` says how much the region shapes (which the graph has only as
centroid, bbox and moments) are worth. Rows go to the accuracy JSON as ``cnn`` on dataset
``idx:<dir>`` (``references.accuracy``'s table and skip logic).

``--agreement N`` instead measures, on the first N test images converted as the
``--recipe`` (default ``raster-regions``) converts them, the share of pixels that the ``raster`` model's two
ways of painting a graph (:func:`~pyg_graphcls.nn.rasterize.rasterize_nearest`, from ``pos``
alone, and :func:`~pyg_graphcls.nn.rasterize.rasterize_regions`, from ``pos`` + ``bbox`` +
``occupancy``) give to the region that really holds them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from pyg_graphcls.datasets import default_root, load_images
from pyg_graphcls.datasets.idx import write_idx
from pyg_graphcls.graphs.batched_slic import batched_slic
from pyg_graphcls.graphs.merge import connected_pieces

MODES = ("exact", "voronoi", "graph")


def paint(images: np.ndarray, mode: str = "exact", n_segments: int = 75, chunk: int = 1000) -> np.ndarray:
    """uint8 ``[N, H, W]`` → the painted uint8 ``[N, H, W]`` (see the module docstring).

    ``exact`` equals scikit-image's ``label2rgb(labels, image, kind="avg")`` per image (tested);
    it is done here with one scatter per chunk of images instead of a Python loop over them.
    """
    if mode not in MODES[:2]:
        raise ValueError(f"mode must be one of {MODES[:2]} (graph: paint_graphs), got {mode!r}")
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"need grayscale images [N, H, W], got shape {images.shape}")
    n, h, w = images.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    pix = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)  # [H*W, 2] as (x, y), like data.pos
    out = []
    for s in range(0, n, chunk):
        im = torch.from_numpy(images[s:s + chunk])
        lab, counts = batched_slic(im, n_segments)
        b, m = im.size(0), int(counts.max())
        gid = (lab.reshape(b, -1).long() + torch.arange(b).view(b, 1) * m).view(-1)

        def ssum(v: torch.Tensor) -> torch.Tensor:
            return torch.zeros(b * m, dtype=torch.float64).index_add_(0, gid, v)

        cnt = ssum(torch.ones(b * h * w, dtype=torch.float64))
        mean = ssum(im.reshape(-1).double()) / cnt.clamp(min=1)
        if mode == "exact":
            val = mean[gid].view(b, h, w)
        else:
            cen = torch.stack([ssum(pix[:, 0].repeat(b)), ssum(pix[:, 1].repeat(b))], 1) / cnt.clamp(min=1)[:, None]
            d = torch.cdist(pix.expand(b, h * w, 2), cen.view(b, m, 2))  # [B, H*W, M]
            d.masked_fill_((cnt.view(b, 1, m) == 0), float("inf"))  # empty slots of smaller segmentations
            val = mean.view(b, m).gather(1, d.argmin(2)).view(b, h, w)
        out.append(val.round().clamp(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out) if out else images.copy()


def region_ranges(features) -> tuple[tuple[int, int], tuple[int, int]]:
    """``[start, stop)`` of the 4 bbox and 9 occupancy columns of graphs with ``features`` (grayscale)."""
    from pyg_graphcls.graphs import feature_slices
    cols = feature_slices(features, 1)
    return tuple(cols["bbox"]), tuple(cols["occupancy"])


def paint_graphs(graphs, bbox: tuple[int, int], occupancy: tuple[int, int], side: int = 28,
                 batch_size: int = 500) -> np.ndarray:
    """uint8 ``[N, side, side]``: each graph's ``mean`` column (x[:, 0], in [0, 1]) painted by
    :func:`~pyg_graphcls.nn.rasterize.rasterize_regions` from its ``bbox`` and 3x3 ``occupancy`` columns."""
    from torch_geometric.loader import DataLoader
    from pyg_graphcls.nn import rasterize_regions, region_columns
    out = []
    for b in DataLoader(graphs, batch_size=batch_size):
        box, occ = region_columns(b.x, bbox, occupancy, float(side))
        img = rasterize_regions(b.x[:, :1] * 255.0, b.pos, box, occ, b.batch, b.num_graphs, side, float(side))
        out.append(img[:, 0].round().clamp(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out) if out else np.zeros((0, side, side), np.uint8)


def _recipe_graphs(recipe: str = "raster-regions"):
    from pyg_graphcls.datasets import load_dataset
    from .recipes import graph_kwargs, recipe_args
    gkw = graph_kwargs(recipe_args(recipe))
    splits = load_dataset("fashion-mnist", "superpixels", gkw, progress=False)
    return (splits.train, splits.test) + region_ranges(gkw["features"])


def painted_dir(mode: str, n_train: int, root: Path, recipe: str = "raster-regions") -> Path:
    """Write (once) the painted first ``n_train`` training images and the whole test set as IDX files
    (``graph``: painted from the graphs of ``recipe``, a ``raster`` recipe with ``paint="regions"``)."""
    d = root / "controls" / (f"{mode}-{n_train}" if mode != "graph" else f"{mode}-{recipe}-{n_train}")
    if (d / "t10k-labels-idx1-ubyte").is_file():
        return d
    tri, trl, tei, tel, _, _ = load_images("fashion-mnist")
    d.mkdir(parents=True, exist_ok=True)
    if mode == "graph":
        train, test, bi, oi = _recipe_graphs(recipe)
        painted_train, painted_test = paint_graphs(train[:n_train], bi, oi), paint_graphs(test, bi, oi)
    else:
        painted_train, painted_test = paint(tri[:n_train], mode), paint(tei, mode)
    write_idx(d / "train-images-idx3-ubyte", painted_train)
    write_idx(d / "train-labels-idx1-ubyte", trl[:n_train].astype(np.uint8))
    write_idx(d / "t10k-images-idx3-ubyte", painted_test)
    write_idx(d / "t10k-labels-idx1-ubyte", tel.astype(np.uint8))  # written last: marks the folder complete
    return d


def paint_agreement(images: np.ndarray, recipe: str = "raster-regions") -> dict[str, float]:
    """Mean share of the pixels of square uint8 ``images [N, S, S]`` painted with their own region's
    id, per painting (see the module docstring), and the mean number of regions and of connected
    pieces per image in the graphs' segmentation and in the batched path's."""
    from pyg_graphcls.graphs import superpixel_graph
    from pyg_graphcls.nn import rasterize_nearest, rasterize_regions, region_columns
    from .recipes import graph_kwargs, recipe_args
    kw = graph_kwargs(recipe_args(recipe))
    bbox_cols, occ_cols = region_ranges(kw["features"])
    side = images.shape[1]
    hits: dict[str, list[float]] = {"nearest": [], "regions": []}
    pieces: dict[str, list[int]] = {"graph regions": [], "graph pieces": [], "batched labels": [],
                                    "batched pieces": []}
    batched, counts = batched_slic(torch.from_numpy(np.ascontiguousarray(images)), kw["n_segments"])
    for img, blab, bcount in zip(images, batched.numpy(), counts.tolist()):
        g = superpixel_graph(img, return_seg=True, **kw)
        for name, lab, n in (("graph", g.seg[0].numpy(), g.num_nodes), ("batched", blab, bcount)):
            pieces[f"{name} {'regions' if name == 'graph' else 'labels'}"].append(n)
            pieces[f"{name} pieces"].append(int(connected_pieces(lab).max()) + 1)
        ids = torch.arange(g.num_nodes, dtype=torch.float32).unsqueeze(1)
        batch = torch.zeros(g.num_nodes, dtype=torch.long)
        bbox, occ = region_columns(g.x, bbox_cols, occ_cols, float(side))
        painted = {"nearest": rasterize_nearest(ids, g.pos, batch, 1, side, float(side)),
                   "regions": rasterize_regions(ids, g.pos, bbox, occ, batch, 1, side, float(side))}
        for name, out in painted.items():
            hits[name].append((out[0, 0].long() == g.seg[0]).double().mean().item())
    return {**{name: float(np.mean(v)) for name, v in hits.items()},
            **{name: float(np.mean(v)) for name, v in pieces.items()}}


def main(argv=None) -> None:
    from . import accuracy
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paint", default="exact,voronoi", help=f"comma-separated, from: {', '.join(MODES)}")
    ap.add_argument("--train-sizes", default="10000", help="comma-separated; 'all' = the whole training file")
    ap.add_argument("--seeds", default="0,")
    ap.add_argument("--epochs", default="8")
    ap.add_argument("--threads", default=None)
    ap.add_argument("--json", default="references/accuracy.json")
    ap.add_argument("--root", default=None, help="cache root (default: the toolkit's)")
    ap.add_argument("--recipe", default="raster-regions",
                    help="graph mode and --agreement: whose graphs (a raster recipe painting regions)")
    ap.add_argument("--agreement", type=int, default=0, metavar="N",
                    help="only measure how many pixels each painting of N test graphs gets right")
    args = ap.parse_args(argv)
    if args.agreement:
        res = paint_agreement(load_images("fashion-mnist")[2][:args.agreement], args.recipe)
        for name in ("nearest", "regions"):
            print(f"{name}: {100 * res.pop(name):.2f} % of pixels painted with their own region "
                  f"({args.agreement} test images)")
        print(", ".join(f"{name} {v:.1f}" for name, v in res.items()), "(per image)")
        return
    root = Path(args.root) if args.root else default_root()
    n_full = len(load_images("fashion-mnist")[1])
    for mode in [m.strip() for m in args.paint.split(",") if m.strip()]:
        for size in [s.strip() for s in args.train_sizes.split(",") if s.strip()]:
            n = n_full if size == "all" else int(size)
            d = painted_dir(mode, n, root, args.recipe)
            extra = ["--threads", args.threads] if args.threads else []
            accuracy.main(["--recipes", "cnn", "--dataset", f"idx:{d}", "--train-sizes", size, "--seeds", args.seeds,
                           "--epochs", args.epochs, "--json", args.json, "--workers", "1"] + extra)


if __name__ == "__main__":
    main()
