"""references.superpixel_controls: the painted images its CNN controls train on; val_test_gap's held-out set."""
import numpy as np
import pytest
import torch

from references.superpixel_controls import paint
from pyg_graphcls.datasets import load_idx_dir, sample_dir
from pyg_graphcls.graphs.batched_slic import batched_slic


@pytest.fixture(scope="module")
def images():
    return load_idx_dir(sample_dir())[0][:5]


def test_exact_paint_equals_skimage_label2rgb_avg(images):
    from skimage.color import label2rgb
    lab, _ = batched_slic(torch.from_numpy(images), 75)
    got = paint(images, "exact", chunk=2)  # chunks of 2: the result must not depend on the chunking
    for i, img in enumerate(images):
        ref = label2rgb(lab[i].numpy(), image=img.astype(np.float64), kind="avg", bg_label=-1)
        ref = ref[..., 0] if ref.ndim == 3 else ref
        assert np.array_equal(got[i], np.clip(np.round(ref), 0, 255).astype(np.uint8)), i


def test_voronoi_paint_against_nearest_centroid_loop(images):
    lab, _ = batched_slic(torch.from_numpy(images[:2]), 75)
    got = paint(images[:2], "voronoi")
    for i in range(2):
        seg, img = lab[i].numpy(), images[i].astype(np.float64)
        ids = np.unique(seg)
        cen = np.array([[np.nonzero(seg == r)[1].mean(), np.nonzero(seg == r)[0].mean()] for r in ids])
        means = np.array([img[seg == r].mean() for r in ids])
        for y in range(0, 28, 3):
            for x in range(0, 28, 3):
                nearest = np.argmin(((cen - [x, y]) ** 2).sum(1))
                assert got[i, y, x] == np.uint8(np.clip(np.round(means[nearest]), 0, 255)), (i, y, x)
    assert not np.array_equal(got, paint(images[:2], "exact"))  # region shapes differ from the tessellation


def test_paint_rejects_bad_input(images):
    with pytest.raises(ValueError, match="mode"):
        paint(images, "blur")
    with pytest.raises(ValueError, match="grayscale"):
        paint(images[0], "exact")


def test_paint_agreement_regions_beat_the_tessellation(images):
    """From bbox + occupancy nearly every pixel goes back to its own region, more than by nearest centroid."""
    from references.superpixel_controls import paint_agreement
    share = paint_agreement(images)
    assert 0.9 < share["regions"] <= 1.0 and share["nearest"] < share["regions"]
    # the graphs' (scikit-image) regions are connected; the batched path's labels may be split in pieces
    assert share["graph pieces"] == share["graph regions"] > 0
    assert share["batched pieces"] >= share["batched labels"] > 0


def test_val_test_gap_heldout_is_the_unseen_training_images(tiny_idx, digits, tmp_path, monkeypatch):
    """references.val_test_gap --heldout: training-file images after the first train_size, in the
    recipe's form (pixels for cnn, grids for dirconv-grid, the cached graphs for a superpixel recipe)."""
    from pyg_graphcls.graphs import superpixel_graph
    from references.recipes import graph_kwargs, recipe_args
    from references.val_test_gap import heldout_set
    monkeypatch.setenv("PYG_GRAPHCLS_HOME", str(tmp_path / "home"))
    x, y = digits
    spec = ["--dataset", f"idx:{tiny_idx}"]
    held = heldout_set(recipe_args("cnn", spec), 20, 8)
    assert len(held) == 8
    img, lab = held[3]
    assert torch.equal(img[0], torch.from_numpy(x[23]).float() / 255.0) and int(lab) == int(y[23])
    grids = heldout_set(recipe_args("dirconv-grid", spec), 20, 8)
    assert len(grids) == 8 and int(grids[3].y) == int(y[23])
    assert torch.allclose(grids[3].x[:, 0], torch.from_numpy(x[23]).float().reshape(-1) / 255.0)
    r = recipe_args("dirconv", spec)
    graphs = heldout_set(r, 28, 10)                   # only 32 training images: 4 left
    assert len(graphs) == 4
    fresh = superpixel_graph(x[30], y=int(y[30]), **graph_kwargs(r))
    assert torch.equal(graphs[2].x, fresh.x) and int(graphs[2].y) == int(y[30])
