"""graphs.features: region feature columns against independent numpy computations."""
import numpy as np

from pyg_graphcls.graphs.features import GRADIENT_RIDGE, feature_names
from pyg_graphcls.graphs.superpixels import segment_features


def test_shape_features_against_numpy_fit():
    """moments/gradient against np.cov and a ridge least-squares plane fit per segment (independent of the sums)."""
    rng = np.random.default_rng(0)
    h, w = 7, 9
    img = rng.random((h, w, 2))
    seg = np.zeros((h, w), np.int64)
    seg[:, 4:] = 1
    seg[5:, :3] = 2
    seg[0, 0] = 3  # a single pixel: no spread, slope 0
    x, _ = segment_features(img, seg, ("moments", "gradient"))
    assert x.shape == (4, 3 + 4)
    rows, cols = np.divmod(np.arange(h * w), w)
    for s in range(4):
        m = seg.ravel() == s
        n = m.sum()
        p = np.stack([cols[m], rows[m]]).astype(float)
        cov = np.cov(p, bias=True) if n > 1 else np.zeros((2, 2))
        sx, sy = np.sqrt(np.diag(cov))
        rho = cov[0, 1] / (sx * sy) if sx * sy > 0 else 0.0
        assert np.allclose(x[s, :3], [sx / np.sqrt(n), sy / np.sqrt(n), rho], atol=1e-6)
        for c in range(2):
            v = img.reshape(-1, 2)[m, c]
            b = ((p - p.mean(1, keepdims=True)) * (v - v.mean())).mean(1)
            g = np.linalg.solve(cov + GRADIENT_RIDGE * np.eye(2), b) * np.sqrt(n)
            assert np.allclose(x[s, [3 + c, 5 + c]], g, atol=1e-6)
    assert np.allclose(x[3], 0)
    # hand-worked: values on a plane 0.04 x + 0.02 y over the whole 9 x 7 image; position variances
    # (9² - 1) / 12 and (7² - 1) / 12, no covariance, so each slope is shrunk by var / (var + ridge)
    plane = (0.04 * cols + 0.02 * rows).reshape(h, w, 1)
    xp, _ = segment_features(plane, np.zeros((h, w), np.int64), ("gradient",))
    vx, vy = 80 / 12, 48 / 12
    assert np.allclose(xp[0], [0.04 * vx / (vx + GRADIENT_RIDGE) * np.sqrt(63),
                               0.02 * vy / (vy + GRADIENT_RIDGE) * np.sqrt(63)], rtol=1e-5)


def test_occupancy_against_upsampled_mask():
    """occupancy == the mean of the region's mask in each of the 3x3 equal blocks of its bounding box,
    computed on the box upsampled 3x (where the cells are whole blocks of sub-pixels)."""
    rng = np.random.default_rng(3)
    seg = rng.integers(0, 5, (7, 9))
    x, _ = segment_features(np.zeros((7, 9, 1)), seg, ("occupancy",))
    assert feature_names(("occupancy",), 1) == [f"occ_{r}{c}" for r in range(3) for c in range(3)]
    for s in range(5):
        ys, xs = np.nonzero(seg == s)
        box = (seg[ys.min():ys.max() + 1, xs.min():xs.max() + 1] == s).astype(float)
        bh, bw = box.shape
        up = np.kron(box, np.ones((3, 3)))  # [3bh, 3bw]: cell (r, c) is the block [r bh:(r+1) bh, c bw:(c+1) bw]
        want = [up[r * bh:(r + 1) * bh, c * bw:(c + 1) * bw].mean() for r in range(3) for c in range(3)]
        assert np.allclose(x[s], want), s
    # hand-worked: an L of 3 pixels in a 2x2 box; the missing bottom-right pixel covers cell 22 wholly,
    # a quarter of the centre cell and half of cells 12 and 21
    x, _ = segment_features(np.zeros((2, 2, 1)), np.array([[0, 0], [0, 1]]), ("occupancy",))
    assert np.allclose(x[0], [1, 1, 1, 1, 0.75, 0.5, 1, 0.5, 0])
    assert np.allclose(x[1], 1)  # a single pixel fills its own box


def test_feature_names_and_slices_hand_worked():
    import pytest

    from pyg_graphcls.errors import GraphclsError
    from pyg_graphcls.graphs.features import NODE_FEATURES, feature_slices
    assert feature_names(("mean", "centroid"), 3) == ["mean_0", "mean_1", "mean_2", "centroid_x", "centroid_y"]
    assert feature_slices(("mean", "centroid"), 3) == {"mean": (0, 3), "centroid": (3, 5)}
    assert feature_slices(("bbox", "gradient", "area"), 2) == {"bbox": (0, 4), "gradient": (4, 8), "area": (8, 9)}
    assert feature_names(("gradient",), 2) == ["grad_x_0", "grad_x_1", "grad_y_0", "grad_y_1"]
    assert "quadrants" not in NODE_FEATURES
    with pytest.raises(GraphclsError, match="node features"):
        feature_slices(("quadrants",), 1)


def test_slices_pick_the_columns_of_every_feature():
    """Each feature alone == its slice of the graph with all features (for 1 and 3 channels)."""
    from pyg_graphcls.graphs.features import NODE_FEATURES, feature_slices
    rng = np.random.default_rng(2)
    seg = rng.integers(0, 6, (9, 11))
    for c in (1, 3):
        img = rng.random((9, 11, c))
        x_all, _ = segment_features(img, seg, NODE_FEATURES)
        slices = feature_slices(NODE_FEATURES, c)
        assert x_all.shape[1] == len(feature_names(NODE_FEATURES, c)) == max(b for _, b in slices.values())
        for f, (a, b) in slices.items():
            x_one, _ = segment_features(img, seg, (f,))
            assert np.array_equal(x_all[:, a:b], x_one), f


def test_compiled_shape_sums_give_the_bits_of_the_tensor_passes():
    """The compiled one-pass bbox/moments/gradient sums replace seven scatter/index_add passes: the same
    float64 sums in pixel order, so the same feature bits (uint8 and float32 images, gray and RGB)."""
    import pytest
    import torch

    from pyg_graphcls.graphs import _compiled
    from pyg_graphcls.graphs.features import region_features

    mod = _compiled.load()
    if mod is None:
        pytest.skip("no compiler: the compiled kernel is not built")

    class PassesOnly:  # the compiled module without its one-pass shape sums
        segment_sums = staticmethod(mod.segment_sums)

    rng = np.random.default_rng(0)
    feats = ["mean", "std", "centroid", "area", "bbox", "moments", "gradient"]
    for h, w, c in ((28, 28, 1), (23, 31, 3)):
        imgs = rng.integers(0, 256, (3, h, w, c), dtype=np.uint8)
        lab = torch.from_numpy(rng.integers(0, 12, (3, h * w))).long()
        lab[1] = torch.div(torch.arange(h * w), 50, rounding_mode="floor")   # big blocks; labels unused on image 2
        lab[2, :] = torch.arange(h * w) % 5
        counts = torch.tensor([12, int(lab[1].max()) + 1, 7])                  # image 2: labels 5, 6 empty
        for t in (torch.from_numpy(imgs), torch.from_numpy(imgs).float() / 255):
            for fs in (feats, ["bbox"], ["gradient"], ["moments", "mean"]):
                one = region_features(t, lab, counts, fs, mod)
                many = region_features(t, lab, counts, fs, PassesOnly())
                assert all(torch.equal(a, b) for a, b in zip(one, many)), (h, c, t.dtype, fs)
            one = region_features(t, lab, counts, feats, mod)   # and close to the tensor path's (float32 input)
            tensor = region_features(t.float() / 255 if t.dtype == torch.uint8 else t, lab, counts, feats)
            assert torch.allclose(one[0], tensor[0], atol=1e-5) and torch.allclose(one[1], tensor[1])
