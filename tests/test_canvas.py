import numpy as np
import pytest
import torch

from pyg_graphcls.errors import GraphclsError
from pyg_graphcls.datasets.canvas import MultiLabelCanvas, default_templates
from pyg_graphcls.graphs.labels import cooccurrence_graph


def _source(m=40, c=6, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, size=(m, 28, 28), dtype=np.uint8)
    labels = np.arange(m) % c
    return images, labels


def test_shapes_and_targets():
    images, labels = _source()
    ds = MultiLabelCanvas(images, labels, num_samples=20, seed=1)
    x, y = ds[3]
    assert x.shape == (1, 56, 56) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (6,) and y.dtype == torch.float32
    assert ds.targets.shape == (20, 6) and torch.equal(ds.targets[3], y)
    for n in range(20):
        cls = ds.object_classes[n]
        assert 2 <= len(cls) <= 4
        assert set(np.nonzero(ds.targets[n].numpy())[0]) == set(cls.tolist())
        assert (labels[ds.object_sources[n]] == cls).all()


def test_deterministic_and_order_independent():
    images, labels = _source()
    a = MultiLabelCanvas(images, labels, num_samples=10, seed=5)
    b = MultiLabelCanvas(torch.from_numpy(images), torch.from_numpy(labels), num_samples=10, seed=5)
    late = b[7]
    for i in range(10):
        xa, ya = a[i]
        xb, yb = b[i]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(late[0], a[7][0])
    c = MultiLabelCanvas(images, labels, num_samples=10, seed=6)
    assert not torch.equal(a.targets, c.targets) or not torch.equal(a[0][0], c[0][0])


def test_templates_without_noise_and_pixels():
    images, labels = _source()
    templates = [[0, 1], [2, 3, 4]]
    ds = MultiLabelCanvas(images, labels, num_samples=30, templates=templates, noise=0.0, seed=2)
    for y in ds.targets:
        present = set(torch.nonzero(y).flatten().tolist())
        assert any(present <= set(t) for t in templates)
    assert ds.targets[:, 5].sum() == 0
    # one object in a 2x2 grid of 28x28 cells: the canvas shows the source exactly
    one = MultiLabelCanvas(images, labels, num_samples=3, objects=1, seed=3)
    x, _ = one[0]
    (yy, xx), src = one.object_positions[0][0], one.object_sources[0][0]
    assert yy % 28 == 0 and xx % 28 == 0
    assert torch.allclose(x[0, yy:yy + 28, xx:xx + 28], torch.from_numpy(images[src] / 255.0).float())
    assert x.sum() == pytest.approx(float(images[src].sum() / 255.0), rel=1e-5)


def test_cooccurrence_from_targets():
    images, labels = _source()
    ds = MultiLabelCanvas(images, labels, num_samples=200, noise=0.0, seed=0)
    g = cooccurrence_graph(ds.targets, threshold=0.2)
    assert default_templates(6) == [[0, 1, 2], [2, 3, 4], [4, 5, 0]]
    assert bool(g.adj[0, 1]) and not bool(g.adj[1, 3])  # 1 and 3 never share a template


def test_bad_input():
    images, labels = _source()
    with pytest.raises(GraphclsError, match="images"):
        MultiLabelCanvas(images[0], labels, 5)
    with pytest.raises(GraphclsError, match="labels"):
        MultiLabelCanvas(images, labels[:3], 5)
    with pytest.raises(GraphclsError, match="canvas_size"):
        MultiLabelCanvas(images, labels, 5, canvas_size=20)
    with pytest.raises(GraphclsError, match="template"):
        MultiLabelCanvas(images, labels, 5, templates=[[0, 9]])
    with pytest.raises(GraphclsError, match="objects"):
        MultiLabelCanvas(images, labels, 5, objects=(3, 2))
    with pytest.raises(GraphclsError, match="no source image"):
        MultiLabelCanvas(images, labels, 5, num_classes=8)
    with pytest.raises(IndexError):
        MultiLabelCanvas(images, labels, 5)[5]
