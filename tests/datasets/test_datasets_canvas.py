import hashlib
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


def _fingerprint(ds):
    h = hashlib.sha256()
    h.update(ds.targets.numpy().tobytes())
    for n in range(len(ds)):
        h.update(ds.object_sources[n].astype("<i8").tobytes())
        h.update(ds.object_positions[n].astype("<i8").tobytes())
        h.update(ds.render(n).astype("<f4").tobytes())
    return h.hexdigest()


def test_new_options_leave_defaults_unchanged():
    images, labels = _source()
    plain = MultiLabelCanvas(images, labels, num_samples=30, seed=4)
    explicit = MultiLabelCanvas(images, labels, num_samples=30, seed=4, placement="grid", occlusion=0.0,
                                pixel_noise=0.0)
    # the digest of what the code produced before placement/occlusion/pixel_noise existed
    assert _fingerprint(plain) == _fingerprint(explicit) == \
        "6743a20c10749a1afa877a49bd528fa0e214093040904eb8da597758fd8eb56d"
    assert repr(plain) == repr(explicit) and "placement" not in repr(plain)
    # the options draw from their own streams: same classes, sources and targets
    hard = MultiLabelCanvas(images, labels, num_samples=30, seed=4, placement="random", occlusion=0.5,
                            pixel_noise=0.2)
    assert torch.equal(hard.targets, plain.targets)
    for n in range(30):
        assert np.array_equal(hard.object_classes[n], plain.object_classes[n])
        assert np.array_equal(hard.object_sources[n], plain.object_sources[n])
    assert all((o == 0).all() for o in plain.object_occlusions)
    assert "placement='random'" in repr(hard) and "occlusion=0.5" in repr(hard)


def test_random_placement_within_bounds():
    images, labels = _source()
    ds = MultiLabelCanvas(images, labels, num_samples=300, seed=1, canvas_size=60, placement="random")
    pos = np.concatenate(ds.object_positions)
    assert pos.min() >= 0 and pos.max() <= 60 - 28
    # anywhere, not on the grid of 28x28 cells (which would put every offset in [0, 2])
    assert len(np.unique(pos[:, 0])) > 20 and len(np.unique(pos[:, 1])) > 20
    for i in (0, 7, 299):
        x, _ = ds[i]
        assert x.shape == (1, 60, 60) and 0 <= x.min() and x.max() <= 1
    # one object alone reproduces its source where it lies
    one = MultiLabelCanvas(images, labels, num_samples=5, objects=1, seed=2, placement="random")
    for n in range(5):
        (y, x), src = one.object_positions[n][0], one.object_sources[n][0]
        img = one[n][0][0]
        assert torch.allclose(img[y:y + 28, x:x + 28], torch.from_numpy(images[src] / 255.0).float())
        assert img.sum() == pytest.approx(float(images[src].sum() / 255.0), rel=1e-5)


def test_occlusion_zeroes_the_right_square():
    images, labels = _source()  # every source pixel is > 0, so zeros on the object are the cut-out
    ds = MultiLabelCanvas(images, labels, num_samples=6, objects=1, seed=3, occlusion=0.5)
    for n in range(6):
        (y, x), src = ds.object_positions[n][0], ds.object_sources[n][0]
        oy, ox, oh, ow = ds.object_occlusions[n][0]
        assert oh == ow == 14 and 0 <= oy <= 28 - 14 and 0 <= ox <= 28 - 14
        obj = ds[n][0][0, y:y + 28, x:x + 28]
        expect = torch.from_numpy(images[src] / 255.0).float()
        expect[oy:oy + oh, ox:ox + ow] = 0
        assert torch.allclose(obj, expect)
        assert (obj == 0).sum() == 14 * 14
    # the source images are not modified
    assert images.min() >= 1 and (ds.images > 0).all()


def test_pixel_noise_deterministic_and_clipped():
    images, labels = _source()
    a = MultiLabelCanvas(images, labels, num_samples=8, seed=5, pixel_noise=0.3)
    b = MultiLabelCanvas(images, labels, num_samples=8, seed=5, pixel_noise=0.3)
    clean = MultiLabelCanvas(images, labels, num_samples=8, seed=5)
    late = b[6][0]
    for i in range(8):
        xa = a[i][0]
        assert torch.equal(xa, b[i][0]) and torch.equal(xa, a[i][0])  # per (seed, index), any order
        assert 0 <= xa.min() and xa.max() <= 1
        assert (xa == 0).any() and (xa == 1).any()  # clipped at both ends
        assert not torch.equal(xa, clean[i][0])
    assert torch.equal(late, a[6][0])
    noise = [a[i][0] - clean[i][0] for i in range(2)]
    assert not torch.equal(noise[0], noise[1])  # a different draw per index
    c = MultiLabelCanvas(images, labels, num_samples=8, seed=6, pixel_noise=0.3)
    d = MultiLabelCanvas(images, labels, num_samples=8, seed=6)
    assert not torch.equal(c[0][0] - d[0][0], noise[0])  # and per seed
    # background (no object) pixels carry zero-mean noise, then clipped at 0
    n = min(range(8), key=lambda i: len(a.object_classes[i]))  # a canvas with empty cells
    bg = a[n][0][clean[n][0] == 0]
    assert bg.numel() >= 2 * 28 * 28
    assert 0.05 < bg.mean() < 0.2 and (bg == 0).float().mean() > 0.3


@pytest.mark.parametrize("kwargs,msg", [
    ({"placement": "spiral"}, "placement"),
    ({"placement": None}, "placement"),
    ({"occlusion": 1.0}, "occlusion"),
    ({"occlusion": -0.1}, "occlusion"),
    ({"occlusion": float("nan")}, "occlusion"),
    ({"occlusion": "half"}, "occlusion"),
    ({"pixel_noise": -0.5}, "pixel_noise"),
    ({"pixel_noise": float("inf")}, "pixel_noise"),
    ({"pixel_noise": float("nan")}, "pixel_noise"),
    ({"pixel_noise": [0.1]}, "pixel_noise"),
])
def test_bad_new_options(kwargs, msg):
    images, labels = _source()
    with pytest.raises(GraphclsError, match=msg):
        MultiLabelCanvas(images, labels, 5, **kwargs)
