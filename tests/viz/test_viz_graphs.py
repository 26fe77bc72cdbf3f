"""Tests for pyg_graphcls.viz: check what is drawn, not only that nothing raised."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.image import imread
from matplotlib.patches import FancyArrowPatch
from torch_geometric.data import Batch, Data

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.viz import (draw_attention, draw_graph, draw_label_graph, draw_misclassified,
                              new_figure, plot_confusion_matrix, plot_history,
                              save_figure)


# ---------------------------------------------------------------------------
# hand-built graphs
# ---------------------------------------------------------------------------

def grid_graph(h: int = 6, w: int = 8, channels: int = 1, with_img: bool = True) -> Data:
    """Pixel grid: one node per pixel, 4-neighbour edges in both directions."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([xs.flatten(), ys.flatten()], 1).float()
    idx = torch.arange(h * w).view(h, w)
    right = torch.stack([idx[:, :-1].flatten(), idx[:, 1:].flatten()])
    down = torch.stack([idx[:-1, :].flatten(), idx[1:, :].flatten()])
    ei = torch.cat([right, down], 1)
    ei = torch.cat([ei, ei.flip(0)], 1)
    img = torch.rand(1, channels, h, w)
    d = Data(x=img[0].permute(1, 2, 0).reshape(-1, channels), pos=pos, edge_index=ei, y=torch.tensor([1]))
    if with_img:
        d.img = img
    return d


def _collections(ax):
    """(edge LineCollections, node PathCollections); boundary lines are left out."""
    lcs = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() != "seg_boundaries"]
    pcs = [c for c in ax.collections if isinstance(c, PathCollection)]
    return lcs, pcs


def _boundary_collections(ax):
    return [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == "seg_boundaries"]


# ---------------------------------------------------------------------------
# draw_graph
# ---------------------------------------------------------------------------

def test_draw_graph_counts_nodes_and_edges():
    d = grid_graph()
    fig = draw_graph(d)
    ax = fig.axes[0]
    lcs, pcs = _collections(ax)
    assert len(lcs) == 1 and len(pcs) == 1
    assert len(lcs[0].get_segments()) == d.edge_index.shape[1]
    offsets = pcs[0].get_offsets()
    assert len(offsets) == d.num_nodes
    np.testing.assert_allclose(np.asarray(offsets), d.pos.numpy())
    # segment endpoints are the node positions of edge_index
    seg0 = lcs[0].get_segments()[5]
    np.testing.assert_allclose(seg0, d.pos[d.edge_index[:, 5]].numpy())
    # image drawn with pixel centres at integer coordinates, rows downward
    assert len(ax.images) == 1
    assert ax.images[0].get_extent() == [-0.5, 7.5, 5.5, -0.5]
    y0, y1 = ax.get_ylim()
    assert y0 > y1  # y axis points down
    # default colour: first column of x through the colormap
    np.testing.assert_allclose(pcs[0].get_array(), d.x[:, 0].numpy(), rtol=1e-6)


def _count_label_changes(seg: np.ndarray) -> int:
    """4-neighbour pixel pairs with different ids, counted pair by pair."""
    h, w = seg.shape
    n = 0
    for r in range(h):
        for c in range(w):
            if c + 1 < w and seg[r, c] != seg[r, c + 1]:
                n += 1
            if r + 1 < h and seg[r, c] != seg[r + 1, c]:
                n += 1
    return n


def test_draw_graph_seg_boundaries_and_rgb_nodes(four_regions):
    d = four_regions(extras=False)
    ax = draw_graph(d).axes[0]
    assert [im.get_label() for im in ax.images] == ["image"]  # boundaries are lines, not an overlay
    (blc,) = _boundary_collections(ax)
    segs = np.asarray(blc.get_segments())
    seg = d.seg[0].numpy()
    # region 0|1 meet between columns 5 and 6 on rows 0-4, 2|3 on rows 5-9 (10 vertical unit
    # segments at x = 5.5), 0|2 and 1|3 between rows 4 and 5 on all 12 columns (12 at y = 4.5)
    assert _count_label_changes(seg) == 22
    assert len(segs) == blc.num_segments == 22
    # unit segments on half-integer coordinates: pixel edges, not pixel centres
    assert np.allclose(np.abs(segs[:, 1] - segs[:, 0]).sum(axis=1), 1.0)
    assert np.allclose(np.mod(segs, 1.0)[np.abs(segs[:, 1] - segs[:, 0]) == 0], 0.5)
    vertical = segs[:, 0, 0] == segs[:, 1, 0]
    assert vertical.sum() == 10 and np.allclose(segs[vertical, :, 0], 5.5)
    assert (~vertical).sum() == 12 and np.allclose(segs[~vertical, :, 1], 4.5)
    assert 0 < blc.get_colors()[0, 3] < 1  # semi-transparent
    # x has 5 columns and the image is RGB: first three columns are the node colours
    _, pcs = _collections(ax)
    np.testing.assert_allclose(pcs[0].get_facecolors()[:, :3], d.x[:, :3].numpy(), atol=1e-6)
    # show_seg=False draws no boundaries
    ax2 = draw_graph(d, show_seg=False).axes[0]
    assert _boundary_collections(ax2) == [] and [im.get_label() for im in ax2.images] == ["image"]


def test_draw_graph_boundary_segments_match_random_seg():
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 4, size=(9, 13))
    seg[:3, :3] = 7  # a block: no boundary inside it
    pos = torch.tensor([[1.0, 1.0], [6.0, 4.0]])
    d = Data(x=torch.rand(2, 1), pos=pos, edge_index=torch.tensor([[0], [1]]), seg=torch.from_numpy(seg)[None])
    (blc,) = _boundary_collections(draw_graph(d).axes[0])
    segs = np.asarray(blc.get_segments())
    assert len(segs) == _count_label_changes(seg)
    # every segment separates two differently labelled pixels
    for (x0, y0), (x1, y1) in segs:
        if x0 == x1:  # vertical: between columns x0 - 0.5 and x0 + 0.5
            r, c = int(y0 + 0.5), int(x0 - 0.5)
            assert seg[r, c] != seg[r, c + 1]
        else:
            r, c = int(y0 - 0.5), int(x0 + 0.5)
            assert seg[r, c] != seg[r + 1, c]
    # huge segmentations: the same segments grouped into one NaN-separated polyline
    (big,) = _boundary_collections(draw_graph(d, max_segments=10).axes[0])
    assert big.num_segments == len(segs) and len(big.get_paths()) == 1
    assert np.isfinite(big.get_paths()[0].vertices).all(axis=1).sum() == 2 * len(segs)


def test_draw_graph_grayscale_superpixel_x_is_not_rgb():
    """Grayscale superpixels: x = [intensity, centroid_x, centroid_y] must not be read as RGB."""
    from pyg_graphcls.graphs import superpixel_graph

    img = np.zeros((28, 28), np.float32)
    img[6:22, 10:18] = 1.0
    d = superpixel_graph(img, n_segments=20, return_img=True, return_seg=True)
    assert d.x.shape[1] == 3 and d.img.shape[1] == 1
    _, pcs = _collections(draw_graph(d).axes[0])
    # coloured through the colormap by intensity, not by position
    np.testing.assert_allclose(pcs[0].get_array(), d.x[:, 0].numpy(), rtol=1e-6)
    # same graph without data.img, or with a gray image argument: still intensity
    del d.img
    _, pcs = _collections(draw_graph(d).axes[0])
    np.testing.assert_allclose(pcs[0].get_array(), d.x[:, 0].numpy(), rtol=1e-6)
    _, pcs = _collections(draw_graph(d, image=torch.from_numpy(img)[None, None]).axes[0])
    np.testing.assert_allclose(pcs[0].get_array(), d.x[:, 0].numpy(), rtol=1e-6)
    # a colour image argument makes the first three columns the colour
    _, pcs = _collections(draw_graph(d, image=torch.rand(1, 3, 28, 28)).axes[0])
    assert pcs[0].get_array() is None
    np.testing.assert_allclose(pcs[0].get_facecolors()[:, :3], np.clip(d.x[:, :3].numpy(), 0, 1), atol=1e-6)


def test_draw_graph_edge_alpha_follows_weight(four_regions):
    d = four_regions(extras=False)
    lcs, _ = _collections(draw_graph(d).axes[0])
    alphas = lcs[0].get_colors()[:, 3]
    order_w = np.argsort(d.edge_attr[:, 0].numpy())
    assert np.all(np.diff(alphas[order_w]) >= -1e-9)  # monotone in edge_attr[:, 0]
    assert alphas.min() < alphas.max()
    d.edge_weight = torch.ones(10)
    lcs, _ = _collections(draw_graph(d, edge_width_by_weight=True).axes[0])
    assert np.allclose(lcs[0].get_colors()[:, 3], lcs[0].get_colors()[0, 3])


def test_draw_graph_batch_and_list_pick_index(four_regions):
    a, b = grid_graph(3, 4), four_regions(extras=False)
    del b.seg, b.img, a.img
    b.edge_attr = None
    a.x = torch.rand(12, 5)
    batch = Batch.from_data_list([a, b])
    for src in (batch, [a, b]):
        lcs, pcs = _collections(draw_graph(src, index=1).axes[0])
        assert len(pcs[0].get_offsets()) == 4 and len(lcs[0].get_segments()) == 10
    with pytest.raises(GraphclsError, match="index"):
        draw_graph(batch, index=5)


def test_draw_graph_no_image_mnist_like_and_explicit_image():
    # MNISTSuperpixels layout: pos in 0..28 pixel units, x = 1 intensity feature
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(75, 2, generator=g) * 27
    ei = torch.randint(0, 75, (2, 600), generator=g)
    d = Data(x=torch.rand(75, 1, generator=g), pos=pos, edge_index=ei)
    ax = draw_graph(d).axes[0]
    assert len(ax.images) == 0
    lcs, pcs = _collections(ax)
    assert len(pcs[0].get_offsets()) == 75 and len(lcs[0].get_segments()) == 600
    ax = draw_graph(d, image=torch.rand(1, 28, 28)).axes[0]
    assert ax.images[0].get_array().shape == (28, 28)
    x0, x1 = ax.get_xlim()
    assert x0 <= -0.5 and x1 >= 27.5


def test_draw_graph_large_grid_groups_segments():
    d = grid_graph(60, 60, channels=3, with_img=False)
    d.edge_weight = torch.rand(d.edge_index.shape[1])
    fig = draw_graph(d, max_segments=1000)
    lcs, pcs = _collections(fig.axes[0])
    assert len(pcs[0].get_offsets()) == 3600
    assert lcs[0].num_edges == d.edge_index.shape[1]
    # grouped into at most 16 NaN-separated polylines holding every edge
    paths = lcs[0].get_paths()
    assert 1 <= len(paths) <= 16
    vertices = np.concatenate([p.vertices for p in paths])
    assert np.isfinite(vertices).all(axis=1).sum() == 2 * d.edge_index.shape[1]


def test_draw_graph_errors():
    with pytest.raises(GraphclsError, match="pos"):
        draw_graph(Data(x=torch.rand(3, 1), edge_index=torch.tensor([[0], [1]])))
    with pytest.raises(GraphclsError, match="edge_index"):
        draw_graph(Data(pos=torch.rand(3, 2), edge_index=torch.tensor([[0], [7]])))
    with pytest.raises(GraphclsError, match="node_color"):
        draw_graph(grid_graph(), node_color=np.zeros(5))


def test_draw_graph_png_size(tmp_path, four_regions):
    out = tmp_path / "sub" / "g.png"
    draw_graph(four_regions(extras=False), path=out, figsize=(3, 2), dpi=50)
    arr = imread(out)
    assert arr.shape[:2] == (100, 150)
    assert not list(out.parent.glob("*.tmp"))


# ---------------------------------------------------------------------------
# history, confusion, saving
# ---------------------------------------------------------------------------

def _history():
    rows = []
    for e in range(1, 6):
        rows.append({"epoch": e, "lr": 1e-3, "seconds": 2.0, "train_loss": 1.0 / e,
                     "val_loss": math.nan if e == 2 else 1.2 / e, "edge_loss": 0.1,
                     "train_accuracy": 0.5 + e / 20, "val_accuracy": None if e == 3 else 0.4 + e / 20,
                     "train_map": 0.3, "val_map": None})
    return rows


def _lines(fig):
    return {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}


def test_plot_history_lines_and_nan(tmp_path):
    fig = plot_history(_history())
    loss_ax, metric_ax = fig.axes
    assert [ln.get_label() for ln in loss_ax.get_lines()] == ["train_loss", "val_loss", "edge_loss"]
    assert [ln.get_label() for ln in metric_ax.get_lines()] == ["train_accuracy", "val_accuracy", "train_map"]
    lines = _lines(fig)
    assert list(lines["val_loss"].get_xdata()) == [1, 3, 4, 5]
    assert list(lines["val_accuracy"].get_xdata()) == [1, 2, 4, 5]
    assert lines["train_loss"].get_linestyle() == "-" and lines["val_loss"].get_linestyle() == "--"
    assert lines["train_loss"].get_color() == lines["val_loss"].get_color()
    assert "lr" not in lines and "seconds" not in lines and "val_map" not in lines


def test_plot_history_from_files_and_png(tmp_path):
    h = _history()
    (tmp_path / "history.json").write_text(json.dumps(h))  # NaN -> NaN literal, None -> null
    with open(tmp_path / "history.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(h[0]))
        w.writeheader()
        for r in h:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    for name in ("history.json", "history.csv"):
        lines = _lines(plot_history(tmp_path / name))
        assert len(lines) == 6 and list(lines["val_loss"].get_xdata()) == [1, 3, 4, 5]
    out = tmp_path / "curves.png"
    fig = plot_history(h, path=out)
    w, hgt = fig.get_size_inches() * fig.dpi
    assert imread(out).shape[:2] == (round(hgt), round(w))
    with pytest.raises(GraphclsError, match="not found"):
        plot_history(tmp_path / "nope.csv")
    with pytest.raises(GraphclsError, match="empty"):
        plot_history([])


def test_plot_history_on_given_axes():
    fig, ax = new_figure()
    assert plot_history(_history(), ax=ax) is fig
    assert len(ax.get_lines()) == 6


def test_confusion_matrix_normalize(tmp_path):
    cm = torch.tensor([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    fig = plot_confusion_matrix(cm, class_names=["a", "b", "c"], normalize=True, path=tmp_path / "cm.png")
    arr = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(arr[0], [5 / 6, 1 / 6, 0])
    np.testing.assert_allclose(arr[2], [0, 0, 0])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]
    assert len(fig.axes[0].texts) == 9
    assert imread(tmp_path / "cm.png").ndim == 3
    with pytest.raises(GraphclsError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))


def test_save_figure_atomic_png(tmp_path):
    fig, ax = new_figure(figsize=(2, 1), dpi=40)
    ax.plot([0, 1], [0, 1])
    out = save_figure(fig, tmp_path / "a.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(out).shape[:2] == (40, 80)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


# ---------------------------------------------------------------------------
# misclassified gallery
# ---------------------------------------------------------------------------

def test_draw_misclassified_gallery():
    graphs = [grid_graph(4, 4) for _ in range(6)]
    for i, g in enumerate(graphs):
        g.y = torch.tensor([i % 3])
    preds = torch.zeros(6, 3)
    preds[torch.arange(6), torch.tensor([0, 1, 0, 0, 0, 2])] = 1.0  # wrong: #2, #4
    fig = draw_misclassified(graphs, preds, None, class_names=["cat", "dog", "owl"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["#2 true: owl\npred: cat", "#4 true: dog\npred: cat"]
    drawn = [ax for ax in fig.axes if ax.collections]
    assert all(len(_collections(ax)[1][0].get_offsets()) == 16 for ax in drawn)
    fig = draw_misclassified(graphs, torch.tensor([0, 0, 0, 0, 0, 0]), torch.tensor([0, 1, 2, 0, 1, 2]),
                             max_items=1)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 1


# ---------------------------------------------------------------------------
# label graph and attention
# ---------------------------------------------------------------------------

def test_draw_label_graph_symmetric_lines_and_arrows(tmp_path):
    cond = torch.tensor([[1.0, 0.8, 0.9, 0.0],
                         [0.8, 1.0, 0.1, 0.0],
                         [0.3, 0.5, 1.0, 0.0],
                         [0.0, 0.0, 0.0, 1.0]])
    lg = Data(num_nodes=4, edge_index=torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.ones(2))
    lg.cond_prob = cond
    lg.names = ["person", "dog", "leash", "boat"]
    fig = draw_label_graph(lg, threshold=0.4, path=tmp_path / "lg.png")
    ax = fig.axes[0]
    lcs = [c for c in ax.collections if isinstance(c, LineCollection)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "label_arrow"]
    assert len(lcs[0].get_segments()) == 1  # 0 <-> 1: P = 0.8 both ways
    assert len(arrows) == 2  # 0 -> 2 (0.9) and 2 -> 1 (0.5); 1 -> 2 (0.1), 2 -> 0 (0.3) dropped
    assert arrows[0].get_linewidth() > arrows[1].get_linewidth()
    assert sorted(t.get_text() for t in ax.texts) == sorted(lg.names)
    assert imread(tmp_path / "lg.png").ndim == 3
    # without cond_prob: edges of edge_index, all directed unless both ways equal
    fig = draw_label_graph(Data(num_nodes=3, edge_index=torch.tensor([[0, 1], [1, 2]])), layout="circular")
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "label_arrow"]) == 2
    with pytest.raises(GraphclsError, match="names"):
        draw_label_graph(lg, names=["a"])


def test_draw_attention_heads():
    w = torch.rand(2, 3, 4, 4)
    fig = draw_attention(w, names=list("abcd"))
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), w.mean((0, 1)).numpy(), rtol=1e-5)
    fig = draw_attention(w[0], head=2)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), w[0, 2].numpy(), rtol=1e-5)
    assert fig.axes[0].get_title() == "head 2"
    with pytest.raises(GraphclsError, match="head"):
        draw_attention(w[0], head=3)


def test_draw_attention_scale_and_readable_text():
    w = torch.tensor([[0.0, 1.0], [0.5, 0.25]])
    for cmap in ("magma", "Blues"):  # dark-to-light and light-to-dark colormaps
        ax = draw_attention(w, cmap=cmap).axes[0]
        im = ax.images[0]
        texts = {t.get_text(): t.get_color() for t in ax.texts}
        assert set(texts) == {"0.00", "1.00", "0.50", "0.25"}
        for value in ("0.00", "1.00"):  # text colour opposite to the cell's lightness
            r, g, b, _ = im.cmap(im.norm(float(value)))
            assert texts[value] == ("black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white")
        assert texts["0.00"] != texts["1.00"]
    ax = draw_attention(w, vmin=0.0, vmax=2.0).axes[0]
    assert ax.images[0].get_clim() == (0.0, 2.0)
