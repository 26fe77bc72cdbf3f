"""Regenerate the README pictures into docs/images/.

    python -m benchmarks.figures [--out docs/images] [--only superpixels,grid_patches,label_graph]

* ``superpixels.png``: a 28x28 image of the bundled sample and a photo
  (scikit-image's astronaut) as SLIC superpixel graphs (kNN-8 edges, boundaries
  along the pixel edges);
* ``grid_patches.png``: the same two images as 8-neighbour pixel grids and as
  ViT-style patch graphs;
* ``label_graph.png``: the label co-occurrence graph of multi-label canvases
  composed from the sample (P(j | i) >= 0.1) and the attention of a
  ``head-label-attention`` model trained on them for 3 epochs (the slow one:
  about a minute on 2 busy CPU cores).

Everything is seeded; each PNG is checked to stay under 300 KB.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pyg_graphcls.datasets import load_images
from pyg_graphcls.graphs import patch_graph, pixel_grid_graph, superpixel_graph
from pyg_graphcls.io import atomic_write
from pyg_graphcls.viz import draw_attention, draw_graph, draw_label_graph, new_figure

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
MAX_BYTES = 300_000
SHORT_NAMES = ["tee", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
FIGURES = ("superpixels", "grid_patches", "label_graph")


def save_png(fig, path: Path) -> Path:
    """Write ``fig`` as an 8-bit palette PNG (256 colours, no dithering), atomically.

    Photos under graph drawings make full-colour PNGs of 400+ KB; a palette of
    256 colours looks the same here and is 3-4 times smaller.
    """
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    pal = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    pal.save(out, format="png", optimize=True)
    data = out.getvalue()
    return atomic_write(path, lambda f: f.write(data))


def _photo(size: int) -> np.ndarray:
    """The astronaut's head and shoulders, ``size x size`` float32 RGB."""
    from skimage import data
    from skimage.transform import resize

    img = data.astronaut()[0:300, 90:390]  # 300 x 300 crop around the face
    return resize(img, (size, size), anti_aliasing=True).astype(np.float32)


def _digit() -> tuple[np.ndarray, str]:
    _, _, test_images, test_labels, names, _ = load_images("sample")
    i = int(np.flatnonzero(test_labels == 9)[0])  # the first ankle boot of the test split
    return test_images[i], f"Fashion-MNIST sample #{i} ({names[test_labels[i]].lower()})"


def superpixels(out: Path) -> Path:
    digit, digit_name = _digit()
    photo = _photo(128)
    g_digit = superpixel_graph(digit, n_segments=75, return_seg=True, return_img=True)
    g_photo = superpixel_graph(photo, n_segments=120, return_seg=True, return_img=True)
    fig, axes = new_figure(1, 2, figsize=(10.0, 5.4), dpi=90)
    fig.set_layout_engine("compressed")  # constrained, with equal-aspect axes packed
    draw_graph(g_digit, ax=axes[0], boundary_width=1.2)
    axes[0].set_title(f"{digit_name}\n{g_digit.num_nodes} superpixels, kNN-8: {g_digit.num_edges} edges, "
                      "colour = mean intensity", fontsize=9)
    draw_graph(g_photo, ax=axes[1], edge_alpha=0.45, boundary_width=0.9,
               boundary_color=(1.0, 0.9, 0.0, 0.8))
    axes[1].set_title(f"skimage astronaut, 128x128\n{g_photo.num_nodes} superpixels, kNN-8: "
                      f"{g_photo.num_edges} edges, colour = mean colour", fontsize=9)
    return save_png(fig, out / "superpixels.png")


def _patch_mean(g, channels: int):
    """Per-patch mean intensity ``[P]`` or mean colour ``[P, 3]`` of a patch graph's x."""
    mean = g.x.view(g.num_nodes, -1, channels).mean(dim=1)
    return mean[:, 0] if channels == 1 else mean


def grid_patches(out: Path) -> Path:
    from skimage.transform import resize

    digit, digit_name = _digit()
    photo = _photo(128)
    small = resize(photo, (24, 24), anti_aliasing=True).astype(np.float32)
    digit_patches = patch_graph(digit, patch_size=4, return_img=True)
    photo_patches = patch_graph(photo, patch_size=16, edges="knn", k=4, return_img=True)
    panels = [  # (graph, title, node colours: None = draw_graph's default)
        (pixel_grid_graph(digit, connectivity=8, return_img=True), "28x28 image: pixel grid, 8 neighbours", None),
        (digit_patches, "4x4 patches, 8-neighbour patch grid", _patch_mean(digit_patches, 1)),
        (pixel_grid_graph(small, connectivity=8, return_img=True), "photo at 24x24: pixel grid", None),
        (photo_patches, "16x16 patches (ViT tokens),\nkNN-4 by patch similarity", _patch_mean(photo_patches, 3)),
    ]
    fig, axes = new_figure(1, 4, figsize=(14.0, 4.1), dpi=80)
    fig.set_layout_engine("compressed")  # constrained, with equal-aspect axes packed
    for ax, (g, title, colour) in zip(axes, panels):
        # patches are coloured by their mean (x holds every pixel of the patch)
        draw_graph(g, ax=ax, edge_alpha=0.6 if g.num_nodes > 100 else 0.45, node_color=colour)
        ax.set_title(f"{title}\n{g.num_nodes} nodes, {g.num_edges} edges", fontsize=9)
    return save_png(fig, out / "grid_patches.png")


@torch.no_grad()
def _mean_attention(model, images: torch.Tensor) -> torch.Tensor:
    """``[C, C]`` attention of a LabelAttentionHead, averaged over ``images``."""
    from pyg_graphcls.models.backbone import pool_features

    model.eval()
    scores = model.fc(pool_features(model.backbone(images), model.feat_dim))
    nodes = scores.unsqueeze(-1)
    if model.embed is not None:
        nodes = torch.cat([nodes, model.embed.unsqueeze(0).expand(scores.shape[0], -1, -1)], dim=-1)
    _, weights = model.attention(nodes, model.mask, return_attention_weights=True)
    return weights.mean(dim=(0, 1))


def label_graph(out: Path, canvases: int = 1200, epochs: int = 3) -> Path:
    from pyg_graphcls.datasets.canvas import MultiLabelCanvas
    from pyg_graphcls.graphs import cooccurrence_graph, label_mask
    from pyg_graphcls.models import create_model
    from pyg_graphcls.train import Trainer

    tri, trl, tei, tel, names, _ = load_images("sample")
    train = MultiLabelCanvas(tri, trl, canvases, seed=0)
    test = MultiLabelCanvas(tei, tel, 256, seed=1, num_classes=len(names))
    graph = cooccurrence_graph(train.targets, threshold=0.1, names=SHORT_NAMES)
    torch.manual_seed(0)
    model = create_model("head-label-attention", num_classes=len(names), in_channels=1,
                         label_graph=label_mask(graph, threshold=0.1).int().tolist())
    trainer = Trainer(model, task="multilabel", epochs=epochs, batch_size=64, lr=1e-3, progress=False,
                      eval_train_size=0, device="cpu", seed=0)
    trainer.fit(train)
    test_map = trainer.evaluate(test)["map"]
    weights = _mean_attention(model, torch.stack([test[i][0] for i in range(len(test))]))

    fig, axes = new_figure(1, 2, figsize=(11.5, 5.4), dpi=90)
    fig.set_layout_engine("compressed")  # constrained, with equal-aspect axes packed
    draw_label_graph(graph, names=SHORT_NAMES, threshold=0.1, ax=axes[0], seed=1)
    axes[0].set_title(f"label co-occurrence of {canvases} canvases: P(j | i) >= 0.1\n"
                      "(arrows where P(j | i) and P(i | j) differ)", fontsize=9)
    draw_attention(weights, names=SHORT_NAMES, ax=axes[1])
    axes[1].set_title(f"masked attention of head-label-attention after {epochs} epochs\n"
                      f"(mean over {len(test)} test canvases, test mAP {test_map:.2f}; "
                      "0 outside the mask)", fontsize=9)
    return save_png(fig, out / "label_graph.png")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT), help="folder for the PNGs (default: docs/images)")
    ap.add_argument("--only", default=",".join(FIGURES), help="comma-separated subset of " + ", ".join(FIGURES))
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in FIGURES]
    if bad:
        ap.error(f"unknown figure(s) {bad}; choose from {FIGURES}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    builders = {"superpixels": superpixels, "grid_patches": grid_patches, "label_graph": label_graph}
    too_big = []
    for name in only:
        t0 = time.perf_counter()
        path = builders[name](out)
        size = path.stat().st_size
        print(f"{path}: {size / 1000:.0f} KB in {time.perf_counter() - t0:.1f}s")
        if size > MAX_BYTES:
            too_big.append(path.name)
    if too_big:
        print(f"larger than {MAX_BYTES // 1000} KB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
